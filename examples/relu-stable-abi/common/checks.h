#pragma once

#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/util/Exception.h>

// Argument checks shared by the CPU and CUDA implementations. Stable-ABI code
// reports errors with STD_TORCH_CHECK (a std::runtime_error, which Torch
// turns into a RuntimeError in Python).
inline void check_relu_args(torch::stable::Tensor const &out,
                            torch::stable::Tensor const &input) {
  STD_TORCH_CHECK(out.get_device_index() == input.get_device_index() &&
                      out.is_cpu() == input.is_cpu(),
                  "relu: out and input must be on the same device");
  STD_TORCH_CHECK(out.scalar_type() == input.scalar_type(),
                  "relu: out and input must have the same dtype");
  STD_TORCH_CHECK(out.sizes().equals(input.sizes()),
                  "relu: out and input must have the same shape");
  STD_TORCH_CHECK(out.is_contiguous() && input.is_contiguous(),
                  "relu: out and input must be contiguous");
}
