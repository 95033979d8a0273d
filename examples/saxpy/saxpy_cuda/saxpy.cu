// Device code only (no Torch headers): hipify turns the CUDA runtime calls
// and the launch into their HIP forms for the ROCm build.
#include <cuda_runtime.h>

#include <algorithm>

#include "saxpy_kernel.cuh"

namespace {

__global__ void saxpy_kernel_impl(float a, float const *x, float *y, int64_t n) {
  int64_t const stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < n; i += stride) {
    y[i] = a * x[i] + y[i];
  }
}

} // namespace

namespace saxpy_kernel {

int launch(float a, float const *x, float *y, int64_t n, void *stream) {
  constexpr int threads = 256;
  int64_t const blocks = std::min<int64_t>((n + threads - 1) / threads, 65535);
  saxpy_kernel_impl<<<static_cast<unsigned>(blocks), threads, 0,
                      static_cast<cudaStream_t>(stream)>>>(a, x, y, n);
  return static_cast<int>(cudaGetLastError());
}

char const *error_string(int err) {
  return cudaGetErrorString(static_cast<cudaError_t>(err));
}

} // namespace saxpy_kernel
