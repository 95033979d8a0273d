#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>

#include "torch_binding.h"

namespace {

// Sign test in the element's own precision; 16-bit types compare as float
// (their operators are ambiguous when CUDA's half operators are enabled).
template <typename T> __device__ inline bool is_negative(T x) {
  return x < T(0);
}
__device__ inline bool is_negative(c10::Half x) {
  return static_cast<float>(x) < 0.0f;
}
__device__ inline bool is_negative(c10::BFloat16 x) {
  return static_cast<float>(x) < 0.0f;
}

// Grid-stride loop: any grid size covers any number of elements. Adjacent
// threads touch adjacent elements, so loads and stores are coalesced.
// `x < 0 ? 0 : x` keeps NaN and -0.0 like torch.relu.
template <typename scalar_t>
__global__ void relu_kernel(scalar_t *out, scalar_t const *input, int64_t n) {
  int64_t const stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < n; i += stride) {
    scalar_t const x = input[i];
    out[i] = is_negative(x) ? scalar_t(0.0f) : x;
  }
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

  int64_t const n = input.numel();
  if (n == 0) {
    return;
  }

  // Launch on the tensor's device and on Torch's current stream, so the
  // kernel is ordered with the surrounding Torch operations.
  c10::cuda::CUDAGuard const device_guard(input.device());
  cudaStream_t const stream = c10::cuda::getCurrentCUDAStream();

  constexpr int threads = 256;
  // Four elements per thread before striding; cap the grid, the loop covers
  // the rest.
  int64_t const blocks =
      std::min<int64_t>((n + threads * 4 - 1) / (threads * 4), 65535);

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, input.scalar_type(), "relu_cuda", [&] {
        relu_kernel<scalar_t><<<static_cast<unsigned>(blocks), threads, 0,
                                stream>>>(out.data_ptr<scalar_t>(),
                                          input.const_data_ptr<scalar_t>(), n);
      });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}
