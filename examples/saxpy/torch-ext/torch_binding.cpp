#include <torch/library.h>

#include "registration.h"
#include "torch_binding.h"

TORCH_LIBRARY_EXPAND(TORCH_EXTENSION_NAME, ops) {
  ops.def("saxpy(Tensor! y, Tensor x, float a) -> ()");
  // ROCm builds of Torch dispatch AMD GPUs as CUDA.
  ops.impl("saxpy", c10::kCUDA, &saxpy);
}

REGISTER_EXTENSION(TORCH_EXTENSION_NAME)
