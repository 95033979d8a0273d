// Torch glue shared by the CUDA and ROCm builds: device-independent Torch
// headers only (ROCm builds of Torch report AMD GPUs as `cuda` devices; the
// stream's native handle is a cudaStream_t or hipStream_t).
#include <ATen/core/Tensor.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include "saxpy_kernel.cuh"
#include "torch_binding.h"

void saxpy(at::Tensor &y, at::Tensor const &x, double a) {
  TORCH_CHECK(x.device().is_cuda() && y.device() == x.device(),
              "saxpy: x and y must be on the same GPU");
  TORCH_CHECK(x.scalar_type() == at::kFloat && y.scalar_type() == at::kFloat,
              "saxpy: float32 only");
  TORCH_CHECK(x.sizes() == y.sizes(), "saxpy: shapes differ: ", x.sizes(),
              " and ", y.sizes());
  TORCH_CHECK(x.is_contiguous() && y.is_contiguous(),
              "saxpy: tensors must be contiguous");
  if (x.numel() == 0) {
    return;
  }
  c10::DeviceGuard const guard(x.device());
  c10::Stream const stream =
      c10::impl::getDeviceGuardImpl(x.device().type())->getStream(x.device());
  int const err = saxpy_kernel::launch(
      static_cast<float>(a), x.const_data_ptr<float>(), y.data_ptr<float>(),
      x.numel(), stream.native_handle());
  TORCH_CHECK(err == 0, "saxpy: launch failed: ",
              saxpy_kernel::error_string(err));
}
