#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <string>

#include "gemm_kernel.h"
#include "torch_binding.h"

void gemm(at::Tensor &out, at::Tensor const &a, at::Tensor const &b,
          double alpha) {
  TORCH_CHECK(a.is_cuda() && b.is_cuda() && out.is_cuda(),
              "gemm: tensors must be CUDA tensors");
  TORCH_CHECK(a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat &&
                  out.scalar_type() == at::kFloat,
              "gemm: float32 only");
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && out.dim() == 2,
              "gemm: a, b and out must be matrices");
  int64_t const m = a.size(0), k = a.size(1), n = b.size(1);
  TORCH_CHECK(b.size(0) == k && out.size(0) == m && out.size(1) == n,
              "gemm: shapes ", a.sizes(), " @ ", b.sizes(), " -> ", out.sizes());
  TORCH_CHECK(a.is_contiguous() && b.is_contiguous() && out.is_contiguous(),
              "gemm: tensors must be contiguous");
  if (m == 0 || n == 0) {
    return;
  }
  c10::cuda::CUDAGuard const guard(a.device());
  cudaStream_t const stream = c10::cuda::getCurrentCUDAStream(a.get_device());
  std::string const err = gemm_cutlass::sgemm(
      m, n, k, static_cast<float>(alpha), a.const_data_ptr<float>(),
      b.const_data_ptr<float>(), 0.0f, out.data_ptr<float>(),
      out.data_ptr<float>(), stream);
  TORCH_CHECK(err.empty(), "gemm: CUTLASS failed: ", err);
}
