// GEMM through Torch's cuBLAS handle, then a small CUDA kernel that adds the
// bias, both on Torch's current stream.
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/Exceptions.h>
#include <c10/cuda/CUDAGuard.h>

#include <cublas_v2.h>

#include "torch_binding.h"

namespace {

__global__ void add_bias_kernel(float *out, float const *bias, int64_t rows,
                                int64_t cols) {
  int64_t const n = rows * cols;
  int64_t const stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       i < n; i += stride) {
    out[i] += bias[i % cols];
  }
}

} // namespace

void gemm_bias(at::Tensor &out, at::Tensor const &a, at::Tensor const &b,
               at::Tensor const &bias, double alpha) {
  TORCH_CHECK(a.is_cuda() && b.is_cuda() && bias.is_cuda() && out.is_cuda(),
              "gemm_bias: all tensors must be CUDA tensors");
  TORCH_CHECK(a.scalar_type() == at::kFloat && b.scalar_type() == at::kFloat &&
                  bias.scalar_type() == at::kFloat &&
                  out.scalar_type() == at::kFloat,
              "gemm_bias: float32 only");
  TORCH_CHECK(a.dim() == 2 && b.dim() == 2 && bias.dim() == 1 && out.dim() == 2,
              "gemm_bias: a, b, out must be matrices and bias a vector");
  int64_t const m = a.size(0), k = a.size(1), n = b.size(1);
  TORCH_CHECK(b.size(0) == k, "gemm_bias: a is ", a.sizes(), ", b is ",
              b.sizes());
  TORCH_CHECK(bias.size(0) == n && out.size(0) == m && out.size(1) == n,
              "gemm_bias: bias must have ", n, " elements and out be ", m, "x",
              n);
  TORCH_CHECK(a.is_contiguous() && b.is_contiguous() && bias.is_contiguous() &&
                  out.is_contiguous(),
              "gemm_bias: tensors must be contiguous");
  if (m == 0 || n == 0) {
    return;
  }

  c10::cuda::CUDAGuard const guard(a.device());
  cudaStream_t const stream = at::cuda::getCurrentCUDAStream();
  cublasHandle_t const handle = at::cuda::getCurrentCUDABlasHandle();
  TORCH_CUDABLAS_CHECK(cublasSetStream(handle, stream));

  // Row-major C = A B is column-major C^T = B^T A^T: swap the operands.
  float const alpha_f = static_cast<float>(alpha);
  float const beta_f = 0.0f;
  TORCH_CUDABLAS_CHECK(cublasSgemm(
      handle, CUBLAS_OP_N, CUBLAS_OP_N, static_cast<int>(n),
      static_cast<int>(m), static_cast<int>(k), &alpha_f, b.data_ptr<float>(),
      static_cast<int>(n), a.data_ptr<float>(), static_cast<int>(k), &beta_f,
      out.data_ptr<float>(), static_cast<int>(n)));

  int const threads = 256;
  int64_t const blocks =
      std::min<int64_t>((m * n + threads - 1) / threads, 65535);
  add_bias_kernel<<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
      out.data_ptr<float>(), bias.data_ptr<float>(), m, n);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}
