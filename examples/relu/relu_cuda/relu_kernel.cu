#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>

#include "relu_kernel.h"

// CUDA device code without Torch headers: nvcc parses them once per
// architecture, so an ATen include here costs seconds per GPU target.

namespace relu_cuda {
namespace {

__device__ inline float to_float(float x) { return x; }
__device__ inline float to_float(__half x) { return __half2float(x); }
__device__ inline float to_float(__nv_bfloat16 x) {
  return __bfloat162float(x);
}

// Grid-stride loop: any grid size covers any number of elements. Adjacent
// threads touch adjacent elements, so loads and stores are coalesced.
// `x < 0 ? 0 : x` keeps NaN and -0.0 like torch.relu; `T{}` is +0.0 for the
// three element types.
template <typename T>
__global__ void relu_kernel(T *out, T const *input, int64_t n) {
  int64_t const stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < n; i += stride) {
    T const x = input[i];
    out[i] = to_float(x) < 0.0f ? T{} : x;
  }
}

template <typename T>
cudaError_t launch(void *out, void const *input, int64_t n,
                   cudaStream_t stream) {
  constexpr int threads = 256;
  // Four elements per thread before striding; cap the grid, the loop covers
  // the rest.
  int64_t const blocks =
      std::min<int64_t>((n + threads * 4 - 1) / (threads * 4), 65535);
  relu_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      static_cast<T *>(out), static_cast<T const *>(input), n);
  return cudaGetLastError();
}

} // namespace

int launch_relu(DType dtype, void *out, void const *input, int64_t n,
                void *stream) {
  if (n == 0) {
    return cudaSuccess;
  }
  cudaStream_t const s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
  case DType::Float32:
    return launch<float>(out, input, n, s);
  case DType::Float16:
    return launch<__half>(out, input, n, s);
  case DType::BFloat16:
    return launch<__nv_bfloat16>(out, input, n, s);
  }
  return cudaErrorInvalidValue;
}

char const *error_string(int error) {
  return cudaGetErrorString(static_cast<cudaError_t>(error));
}

} // namespace relu_cuda
