#pragma once

#include <cstdint>

namespace gemm_cutlass {

// D = alpha * A B + beta * C, float32, row-major, on `stream` (a
// cudaStream_t). Returns an empty string on success, else the error.
char const *sgemm(int64_t m, int64_t n, int64_t k, float alpha, float const *a,
                  float const *b, float beta, float const *c, float *d,
                  void *stream);

} // namespace gemm_cutlass
