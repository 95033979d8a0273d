#include <ATen/core/Tensor.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include "relu_kernel.h"
#include "torch_binding.h"

// Torch glue for the HIP kernel in relu_kernel.hip. Only device-independent
// Torch headers are used: the current stream comes from the generic
// device-guard interface (ROCm builds of Torch report AMD GPUs as `cuda`
// devices, and the stream's native handle is a hipStream_t).

namespace {

relu_rocm::DType to_kernel_dtype(at::ScalarType t) {
  switch (t) {
  case at::kFloat:
    return relu_rocm::DType::Float32;
  case at::kHalf:
    return relu_rocm::DType::Float16;
  case at::kBFloat16:
    return relu_rocm::DType::BFloat16;
  default:
    TORCH_CHECK(false, "relu: unsupported dtype ", t,
                " (supported: float32, float16, bfloat16)");
  }
}

} // namespace

void relu(at::Tensor &out, at::Tensor const &input) {
  TORCH_CHECK(input.device().is_cuda(),
              "relu: input must be a GPU tensor (`cuda` device on ROCm)");
  TORCH_CHECK(out.device() == input.device(),
              "relu: out and input must be on the same device, got ",
              out.device(), " and ", input.device());
  TORCH_CHECK(out.scalar_type() == input.scalar_type(),
              "relu: out and input must have the same dtype, got ",
              out.scalar_type(), " and ", input.scalar_type());
  TORCH_CHECK(out.sizes() == input.sizes(),
              "relu: out and input must have the same shape, got ",
              out.sizes(), " and ", input.sizes());
  TORCH_CHECK(input.is_contiguous() && out.is_contiguous(),
              "relu: out and input must be contiguous");

  relu_rocm::DType const dtype = to_kernel_dtype(input.scalar_type());
  c10::DeviceGuard const device_guard(input.device());
  c10::Stream const stream =
      c10::impl::getDeviceGuardImpl(input.device().type())
          ->getStream(input.device());

  int const err =
      relu_rocm::launch_relu(dtype, out.data_ptr(), input.const_data_ptr(),
                             input.numel(), stream.native_handle());
  TORCH_CHECK(err == 0, "relu: HIP kernel launch failed: ",
              relu_rocm::error_string(err));
}
