#include <tvm/ffi/extra/c_env_api.h>
#include <tvm/ffi/tvm_ffi.h>

#include <cuda_runtime.h>

#include <algorithm>

#include "checks.h"

namespace {

__global__ void relu_kernel(float *y, float const *x, int64_t n) {
  int64_t const stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < n; i += stride) {
    y[i] = x[i] < 0.0f ? 0.0f : x[i];
  }
}

} // namespace

void relu_cuda(tvm::ffi::TensorView out, tvm::ffi::TensorView input) {
  relu_tvm_ffi::check_args(out, input, kDLCUDA);
  int64_t const n = input.numel();
  if (n == 0) {
    return;
  }
  TVM_FFI_CHECK(cudaSetDevice(input.device().device_id) == cudaSuccess,
                RuntimeError)
      << "relu: cannot select the device";
  // The stream the caller's framework set for this device (Torch's current
  // stream when called with Torch tensors), else the default stream.
  auto const stream = static_cast<cudaStream_t>(
      TVMFFIEnvGetStream(kDLCUDA, input.device().device_id));
  constexpr int threads = 256;
  int64_t const blocks = std::min<int64_t>((n + threads - 1) / threads, 65535);
  relu_kernel<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      relu_tvm_ffi::first<float>(out), relu_tvm_ffi::first<float const>(input),
      n);
  cudaError_t const err = cudaGetLastError();
  TVM_FFI_CHECK(err == cudaSuccess, RuntimeError)
      << "relu: kernel launch failed: " << cudaGetErrorString(err);
}
