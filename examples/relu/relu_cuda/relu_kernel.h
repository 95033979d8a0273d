#pragma once

// Interface between the CUDA kernel (relu_kernel.cu, compiled by nvcc) and
// the Torch glue (relu_cuda.cpp, compiled by the C++ compiler). Plain C++
// types only: the device code needs no Torch header, which keeps nvcc's work
// per architecture small.

#include <cstdint>

namespace relu_cuda {

enum class DType { Float32, Float16, BFloat16 };

// Enqueues relu on `stream` (a cudaStream_t). Returns a cudaError_t value:
// 0 (cudaSuccess) on success.
int launch_relu(DType dtype, void *out, void const *input, int64_t n,
                void *stream);

// The message for an error returned by launch_relu.
char const *error_string(int error);

} // namespace relu_cuda
