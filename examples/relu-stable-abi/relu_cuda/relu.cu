// The current-stream function of the stable C shim is declared only when
// USE_CUDA is defined.
#ifndef USE_CUDA
#define USE_CUDA
#endif

#include <torch/csrc/inductor/aoti_torch/c/shim.h>
#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>
#include <torch/headeronly/util/BFloat16.h>
#include <torch/headeronly/util/Half.h>

#include <cuda_runtime.h>

#include <algorithm>

#include "checks.h"
#include "torch_binding.h"

namespace {

using torch::headeronly::ScalarType;

// 16-bit types compare as float (their operators are ambiguous when CUDA's
// half operators are enabled).
__device__ inline bool is_negative(float x) { return x < 0.0f; }
__device__ inline bool is_negative(torch::headeronly::Half x) {
  return static_cast<float>(x) < 0.0f;
}
__device__ inline bool is_negative(torch::headeronly::BFloat16 x) {
  return static_cast<float>(x) < 0.0f;
}

// Grid-stride loop; `x < 0 ? 0 : x` keeps NaN and -0.0 like torch.relu.
template <typename T>
__global__ void relu_kernel(T *out, T const *input, int64_t n) {
  int64_t const stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < n; i += stride) {
    T const x = input[i];
    out[i] = is_negative(x) ? T(0.0f) : x;
  }
}

template <typename T>
void launch(torch::stable::Tensor &out, torch::stable::Tensor const &input,
            cudaStream_t stream) {
  int64_t const n = input.numel();
  constexpr int threads = 256;
  int64_t const blocks =
      std::min<int64_t>((n + threads * 4 - 1) / (threads * 4), 65535);
  relu_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      static_cast<T *>(out.mutable_data_ptr()),
      static_cast<T const *>(input.const_data_ptr()), n);
  cudaError_t const err = cudaGetLastError();
  STD_TORCH_CHECK(err == cudaSuccess, "relu: kernel launch failed: ",
                  cudaGetErrorString(err));
}

} // namespace

void relu(torch::stable::Tensor &out, torch::stable::Tensor const &input) {
  STD_TORCH_CHECK(input.is_cuda(), "relu: input must be a CUDA tensor");
  check_relu_args(out, input);
  if (input.numel() == 0) {
    return;
  }

  torch::stable::accelerator::DeviceGuard const guard(
      input.get_device_index());
  void *stream_ptr = nullptr;
  STD_TORCH_CHECK(aoti_torch_get_current_cuda_stream(input.get_device_index(),
                                                     &stream_ptr) ==
                      AOTI_TORCH_SUCCESS,
                  "relu: cannot get the current CUDA stream");
  cudaStream_t const stream = static_cast<cudaStream_t>(stream_ptr);

  switch (input.scalar_type()) {
  case ScalarType::Float:
    return launch<float>(out, input, stream);
  case ScalarType::Half:
    return launch<torch::headeronly::Half>(out, input, stream);
  case ScalarType::BFloat16:
    return launch<torch::headeronly::BFloat16>(out, input, stream);
  default:
    STD_TORCH_CHECK(false,
                    "relu: unsupported dtype (float32, float16, bfloat16)");
  }
}
