#pragma once

#include <ATen/core/Tensor.h>

// out = alpha * (a @ b), float32, row-major (CUTLASS).
void gemm(at::Tensor &out, at::Tensor const &a, at::Tensor const &b,
          double alpha);
