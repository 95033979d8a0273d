#pragma once

#include <cstdint>

namespace saxpy_kernel {

// y = a * x + y for `n` floats on `stream` (cudaStream_t, or hipStream_t
// after hipify). Returns 0 on success, else the runtime's error code.
int launch(float a, float const *x, float *y, int64_t n, void *stream);

char const *error_string(int err);

} // namespace saxpy_kernel
