#include <torch/library.h>

#include "registration.h"
#include "torch_binding.h"

TORCH_LIBRARY_EXPAND(TORCH_EXTENSION_NAME, ops) {
  ops.def("gemm_bias(Tensor! out, Tensor a, Tensor b, Tensor bias, float alpha) -> ()");
  ops.impl("gemm_bias", c10::kCUDA, &gemm_bias);
}

REGISTER_EXTENSION(TORCH_EXTENSION_NAME)
