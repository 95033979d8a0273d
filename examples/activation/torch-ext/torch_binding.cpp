#include <torch/library.h>

#include "registration.h"
#include "torch_binding.h"

TORCH_LIBRARY_EXPAND(TORCH_EXTENSION_NAME, ops) {
  ops.def("silu_and_mul(Tensor! out, Tensor input) -> ()");
  ops.def("gelu_and_mul(Tensor! out, Tensor input) -> ()");
  ops.def("gelu_tanh_and_mul(Tensor! out, Tensor input) -> ()");
  ops.def("fatrelu_and_mul(Tensor! out, Tensor input, float threshold=0.0) -> ()");
  ops.def("gelu_fast(Tensor! out, Tensor input) -> ()");
  ops.def("gelu_new(Tensor! out, Tensor input) -> ()");
  ops.def("gelu_quick(Tensor! out, Tensor input) -> ()");

#if defined(CPU_KERNEL)
  constexpr auto device = c10::kCPU;
#elif defined(CUDA_KERNEL)
  constexpr auto device = c10::kCUDA;
#endif
  ops.impl("silu_and_mul", device, &silu_and_mul);
  ops.impl("gelu_and_mul", device, &gelu_and_mul);
  ops.impl("gelu_tanh_and_mul", device, &gelu_tanh_and_mul);
  ops.impl("fatrelu_and_mul", device, &fatrelu_and_mul);
  ops.impl("gelu_fast", device, &gelu_fast);
  ops.impl("gelu_new", device, &gelu_new);
  ops.impl("gelu_quick", device, &gelu_quick);
}

REGISTER_EXTENSION(TORCH_EXTENSION_NAME)
