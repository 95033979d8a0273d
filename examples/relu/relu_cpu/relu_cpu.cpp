#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include "torch_binding.h"

namespace {

// `x < 0 ? 0 : x` (rather than `x > 0 ? x : 0`) matches torch.relu exactly:
// NaN stays NaN and -0.0 stays -0.0.
template <typename scalar_t>
// `out` may alias `input` (in-place use), so the pointers are not restrict.
void relu_contiguous(scalar_t *out, scalar_t const *input, int64_t begin,
                     int64_t end) {
  scalar_t const zero(0);
  for (int64_t i = begin; i < end; ++i) {
    scalar_t const x = input[i];
    out[i] = x < zero ? zero : x;
  }
}

} // namespace

void relu(at::Tensor &out, at::Tensor const &input) {
  TORCH_CHECK(input.device().is_cpu(), "relu: input must be a CPU tensor");
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
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::kHalf, at::kBFloat16, input.scalar_type(), "relu_cpu", [&] {
        scalar_t *out_ptr = out.data_ptr<scalar_t>();
        scalar_t const *in_ptr = input.const_data_ptr<scalar_t>();
        // One task per 32k elements: small tensors stay on one thread.
        at::parallel_for(0, n, 32768, [&](int64_t begin, int64_t end) {
          relu_contiguous(out_ptr, in_ptr, begin, end);
        });
      });
}
