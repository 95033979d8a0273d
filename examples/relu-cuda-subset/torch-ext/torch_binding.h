#pragma once

#include <ATen/core/Tensor.h>

// Writes max(input, 0) into `out`. Both tensors must be contiguous and have
// the same shape, dtype and device. Every backend implements this symbol; a
// build compiles exactly one of the implementations.
void relu(at::Tensor &out, at::Tensor const &input);
