#include <ATen/core/Tensor.h>
#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>

#include "relu_kernel.h"
#include "torch_binding.h"

// Torch glue for the CUDA kernel in relu_kernel.cu, compiled by the host C++
// compiler. Only device-independent Torch headers: the current stream comes
// from the generic device-guard interface, its native handle is the
// cudaStream_t.

namespace {

relu_cuda::DType to_kernel_dtype(at::ScalarType t) {
  switch (t) {
  case at::kFloat:
    return relu_cuda::DType::Float32;
  case at::kHalf:
    return relu_cuda::DType::Float16;
  case at::kBFloat16:
    return relu_cuda::DType::BFloat16;
  default:
    TORCH_CHECK(false, "relu: unsupported dtype ", t,
                " (supported: float32, float16, bfloat16)");
  }
}

} // namespace

void relu(at::Tensor &out, at::Tensor const &input) {
  TORCH_CHECK(input.device().is_cuda(), "relu: input must be a CUDA tensor");
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

  // Launch on the tensor's device and on Torch's current stream, so the
  // kernel is ordered with the surrounding Torch operations.
  relu_cuda::DType const dtype = to_kernel_dtype(input.scalar_type());
  c10::DeviceGuard const device_guard(input.device());
  c10::Stream const stream =
      c10::impl::getDeviceGuardImpl(input.device().type())
          ->getStream(input.device());

  int const err =
      relu_cuda::launch_relu(dtype, out.data_ptr(), input.const_data_ptr(),
                             input.numel(), stream.native_handle());
  TORCH_CHECK(err == 0, "relu: CUDA kernel launch failed: ",
              relu_cuda::error_string(err));
}
