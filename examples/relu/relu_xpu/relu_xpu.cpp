#include <ATen/Dispatch.h>
#include <ATen/core/Tensor.h>
#include <c10/core/DeviceGuard.h>
#include <c10/xpu/XPUStream.h>

#include <sycl/sycl.hpp>

#include "torch_binding.h"

// SYCL 2020 kernel, submitted to Torch's current XPU queue so it is ordered
// with the surrounding Torch operations. Compiled by the oneAPI DPC++
// compiler (icpx -fsycl); not compiled on machines without oneAPI.

namespace {

template <typename scalar_t> class ReluKernel;

template <typename scalar_t>
void relu_xpu_impl(sycl::queue &queue, scalar_t *out, scalar_t const *input,
                   int64_t n) {
  queue.parallel_for<ReluKernel<scalar_t>>(
      sycl::range<1>(static_cast<size_t>(n)), [=](sycl::id<1> idx) {
        size_t const i = idx[0];
        scalar_t const zero(0);
        scalar_t const x = input[i];
        // `x < 0 ? 0 : x` keeps NaN and -0.0 like torch.relu.
        out[i] = x < zero ? zero : x;
      });
}

} // namespace

void relu(at::Tensor &out, at::Tensor const &input) {
  TORCH_CHECK(input.device().is_xpu(), "relu: input must be an XPU tensor");
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

  int64_t const n = input.numel();
  if (n == 0) {
    return;
  }

  c10::DeviceGuard const device_guard(input.device());
  sycl::queue &queue = c10::xpu::getCurrentXPUStream().queue();

  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, input.scalar_type(), "relu_xpu", [&] {
        relu_xpu_impl<scalar_t>(queue, out.data_ptr<scalar_t>(),
                                input.const_data_ptr<scalar_t>(), n);
      });
}
