#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>

#include "torch_binding.h"

// ReLU with 16-byte loads and stores. Built only for the capabilities in
// build.toml; the code itself is generic CUDA.

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "relu-cuda-subset is built for sm_80 and newer only (see build.toml)"
#endif

namespace {

template <typename T> struct alignas(16) Pack {
  static constexpr int size = 16 / sizeof(T);
  T v[size];
};

// Sign test in the element's own precision; 16-bit types compare as float
// (their operators are ambiguous when CUDA's half operators are enabled).
__device__ inline bool is_negative(float x) { return x < 0.0f; }
__device__ inline bool is_negative(c10::Half x) {
  return static_cast<float>(x) < 0.0f;
}
__device__ inline bool is_negative(c10::BFloat16 x) {
  return static_cast<float>(x) < 0.0f;
}

// Keeps NaN and -0.0 like torch.relu.
template <typename T> __device__ inline T relu1(T x) {
  return is_negative(x) ? T(0.0f) : x;
}

template <typename T>
__global__ void relu_kernel(T *out, T const *input, int64_t n) {
  constexpr int P = Pack<T>::size;
  int64_t const step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t const first =
      static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t vector_end = 0;
  if (reinterpret_cast<uintptr_t>(input) % 16 == 0 &&
      reinterpret_cast<uintptr_t>(out) % 16 == 0) {
    vector_end = n / P * P;
    auto const *in_v = reinterpret_cast<Pack<T> const *>(input);
    auto *out_v = reinterpret_cast<Pack<T> *>(out);
    for (int64_t i = first; i < n / P; i += step) {
      Pack<T> p = in_v[i];
#pragma unroll
      for (int j = 0; j < P; ++j) {
        p.v[j] = relu1(p.v[j]);
      }
      out_v[i] = p;
    }
  }
  for (int64_t i = vector_end + first; i < n; i += step) {
    out[i] = relu1(input[i]);
  }
}

template <typename T>
void launch(at::Tensor &out, at::Tensor const &input, cudaStream_t stream) {
  int64_t const n = input.numel();
  constexpr int threads = 256;
  constexpr int P = Pack<T>::size;
  int64_t const blocks =
      std::min<int64_t>((n + threads * P - 1) / (threads * P), 65535);
  relu_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      static_cast<T *>(out.data_ptr()),
      static_cast<T const *>(input.const_data_ptr()), n);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

} // namespace

void relu(at::Tensor &out, at::Tensor const &input) {
  TORCH_CHECK(input.device().is_cuda(), "relu: input must be a CUDA tensor");
  TORCH_CHECK(out.device() == input.device(),
              "relu: out and input must be on the same device, got ",
              out.device(), " and ", input.device());
  TORCH_CHECK(out.scalar_type() == input.scalar_type(),
              "relu: out and input must have the same dtype, got ",
              out.scalar_type(), " and ", input.scalar_type());
  TORCH_CHECK(out.sizes() == input.sizes(),
              "relu: out and input must have the same shape, got ",
              out.sizes(), " and ", input.sizes());
  TORCH_CHECK(input.is_contiguous() && out.is_contiguous(),
              "relu: out and input must be contiguous");
  if (input.numel() == 0) {
    return;
  }

  c10::cuda::CUDAGuard const device_guard(input.device());
  cudaStream_t const stream = c10::cuda::getCurrentCUDAStream();
  switch (input.scalar_type()) {
  case at::kFloat:
    return launch<float>(out, input, stream);
  case at::kHalf:
    return launch<c10::Half>(out, input, stream);
  case at::kBFloat16:
    return launch<c10::BFloat16>(out, input, stream);
  default:
    TORCH_CHECK(false, "relu: unsupported dtype ", input.scalar_type(),
                " (supported: float32, float16, bfloat16)");
  }
}
