#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <cstdint>

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

// float16/bfloat16: decide on the bits (sign set, magnitude non-zero and not
// NaN) so the loop vectorizes instead of converting every element to float.
// `max_magnitude` is the magnitude of infinity: 0x7c00 (fp16), 0x7f80 (bf16).
void relu_16bit(uint16_t *out, uint16_t const *input, int64_t begin,
                int64_t end, uint16_t max_magnitude) {
  for (int64_t i = begin; i < end; ++i) {
    uint16_t const bits = input[i];
    uint16_t const magnitude = bits & 0x7fff;
    bool const negative =
        (bits & 0x8000) && magnitude != 0 && magnitude <= max_magnitude;
    out[i] = negative ? 0 : bits;
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
  if (input.scalar_type() == at::kHalf || input.scalar_type() == at::kBFloat16) {
    uint16_t const max_magnitude =
        input.scalar_type() == at::kHalf ? 0x7c00 : 0x7f80;
    auto *out_ptr = static_cast<uint16_t *>(out.data_ptr());
    auto const *in_ptr = static_cast<uint16_t const *>(input.const_data_ptr());
    at::parallel_for(0, n, 32768, [&](int64_t begin, int64_t end) {
      relu_16bit(out_ptr, in_ptr, begin, end, max_magnitude);
    });
    return;
  }
  AT_DISPATCH_FLOATING_TYPES(
      input.scalar_type(), "relu_cpu", [&] {
        scalar_t *out_ptr = out.data_ptr<scalar_t>();
        scalar_t const *in_ptr = input.const_data_ptr<scalar_t>();
        // One task per 32k elements: small tensors stay on one thread.
        at::parallel_for(0, n, 32768, [&](int64_t begin, int64_t end) {
          relu_contiguous(out_ptr, in_ptr, begin, end);
        });
      });
}
