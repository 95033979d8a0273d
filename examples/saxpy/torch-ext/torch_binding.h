#pragma once

#include <ATen/core/Tensor.h>

// y = a * x + y (float32, in place).
void saxpy(at::Tensor &y, at::Tensor const &x, double a);
