#pragma once

#include <torch/csrc/stable/tensor.h>

// Writes max(input, 0) into `out` (same shape, dtype, device; contiguous).
void relu(torch::stable::Tensor &out, torch::stable::Tensor const &input);
