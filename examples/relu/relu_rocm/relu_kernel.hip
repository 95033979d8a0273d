#include <hip/hip_bfloat16.h>
#include <hip/hip_fp16.h>
#include <hip/hip_runtime.h>

#include <algorithm>

#include "relu_kernel.h"

// HIP device code without Torch headers. Torch's headers need rocThrust when
// compiled by hipcc; keeping them out of this file keeps the kernel
// independent of the Torch/ROCm header set (and lets it compile anywhere
// hipcc is installed).

namespace relu_rocm {
namespace {

__device__ inline float to_float(float x) { return x; }
__device__ inline float to_float(__half x) { return __half2float(x); }
__device__ inline float to_float(hip_bfloat16 x) {
  return static_cast<float>(x);
}

// `x < 0 ? 0 : x` keeps NaN and -0.0 like torch.relu. `T{}` is +0.0 for the
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
hipError_t launch(void *out, void const *input, int64_t n,
                  hipStream_t stream) {
  constexpr int threads = 256;
  int64_t const blocks =
      std::min<int64_t>((n + threads * 4 - 1) / (threads * 4), 65535);
  relu_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      static_cast<T *>(out), static_cast<T const *>(input), n);
  return hipGetLastError();
}

} // namespace

int launch_relu(DType dtype, void *out, void const *input, int64_t n,
                void *stream) {
  if (n == 0) {
    return hipSuccess;
  }
  hipStream_t const s = static_cast<hipStream_t>(stream);
  switch (dtype) {
  case DType::Float32:
    return launch<float>(out, input, n, s);
  case DType::Float16:
    return launch<__half>(out, input, n, s);
  case DType::BFloat16:
    return launch<hip_bfloat16>(out, input, n, s);
  }
  return hipErrorInvalidValue;
}

char const *error_string(int error) {
  return hipGetErrorString(static_cast<hipError_t>(error));
}

} // namespace relu_rocm
