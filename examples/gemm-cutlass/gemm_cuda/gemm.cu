// The GEMM itself: CUTLASS's device-wide GEMM (SIMT float), no Torch headers.
#include <cutlass/cutlass.h>
#include <cutlass/gemm/device/gemm.h>

#include <cuda_runtime.h>

#include "gemm_kernel.h"

namespace gemm_cutlass {

char const *sgemm(int64_t m, int64_t n, int64_t k, float alpha, float const *a,
                  float const *b, float beta, float const *c, float *d,
                  void *stream) {
  using RowMajor = cutlass::layout::RowMajor;
  using Gemm = cutlass::gemm::device::Gemm<float, RowMajor, float, RowMajor,
                                           float, RowMajor>;
  Gemm gemm;
  typename Gemm::Arguments args(
      {static_cast<int>(m), static_cast<int>(n), static_cast<int>(k)},
      {a, k}, {b, n}, {c, n}, {d, n}, {alpha, beta});
  cutlass::Status status = gemm.can_implement(args);
  if (status == cutlass::Status::kSuccess) {
    status = gemm(args, nullptr, static_cast<cudaStream_t>(stream));
  }
  if (status != cutlass::Status::kSuccess) {
    return cutlassGetStatusString(status);
  }
  cudaError_t const err = cudaGetLastError();
  return err == cudaSuccess ? "" : cudaGetErrorString(err);
}

} // namespace gemm_cutlass
