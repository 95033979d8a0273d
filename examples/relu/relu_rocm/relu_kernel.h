#pragma once

// Interface between the HIP kernels (relu_kernel.hip, compiled by hipcc) and
// the Torch glue (relu_rocm.cpp, compiled by the C++ compiler). It uses plain
// C++ types only, so neither side needs the other's headers.

#include <cstdint>

namespace relu_rocm {

enum class DType { Float32, Float16, BFloat16 };

// Enqueues relu on `stream` (a hipStream_t). Returns a hipError_t value:
// 0 (hipSuccess) on success.
int launch_relu(DType dtype, void *out, void const *input, int64_t n,
                void *stream);

// The message for an error returned by launch_relu.
char const *error_string(int error);

} // namespace relu_rocm
