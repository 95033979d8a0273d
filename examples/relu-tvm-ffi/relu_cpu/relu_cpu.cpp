#include <tvm/ffi/tvm_ffi.h>

#include "checks.h"

void relu_cpu(tvm::ffi::TensorView out, tvm::ffi::TensorView input) {
  relu_tvm_ffi::check_args(out, input, kDLCPU);
  float const *x = relu_tvm_ffi::first<float const>(input);
  float *y = relu_tvm_ffi::first<float>(out);
  int64_t const n = input.numel();
  for (int64_t i = 0; i < n; ++i) {
    // `x < 0 ? 0 : x` keeps NaN and -0.0, like torch.relu.
    y[i] = x[i] < 0.0f ? 0.0f : x[i];
  }
}
