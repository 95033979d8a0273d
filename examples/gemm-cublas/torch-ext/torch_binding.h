#pragma once

#include <ATen/core/Tensor.h>

// out = alpha * (a @ b) + bias (broadcast over rows), float32, row-major.
void gemm_bias(at::Tensor &out, at::Tensor const &a, at::Tensor const &b,
               at::Tensor const &bias, double alpha);
