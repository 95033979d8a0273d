#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <cstdint>

#include "torch_binding.h"

// The loops are plain C++ that the compiler vectorizes (-O3, the Release
// default). On x86-64 Linux they are also compiled for x86-64-v3 (AVX2) and
// x86-64-v4 (AVX-512) and picked when the module loads (`target_clones`), so
// the kernel uses the vectors of the machine without requiring them; that
// matters while the data is in cache. (ATen's at::vec::Vectorized is not a
// way to get there: in a TU built for baseline x86-64 it is the generic
// array implementation, which compiles to scalar code, and its AVX2/AVX-512
// forms require the whole TU to be built for that ISA.)
#if defined(__x86_64__) && defined(__linux__) &&                               \
    (defined(__clang__) ? __clang_major__ >= 14 : defined(__GNUC__))
#define RELU_MULTIVERSION                                                      \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RELU_MULTIVERSION
#endif

namespace {

// `x < 0 ? 0 : x` (rather than `x > 0 ? x : 0`) matches torch.relu exactly:
// NaN stays NaN and -0.0 stays -0.0. `out` may alias `input` (in-place use),
// so the pointers are not restrict.
template <typename T>
inline void relu_loop(T *out, T const *input, int64_t n) {
  T const zero(0);
  for (int64_t i = 0; i < n; ++i) {
    T const x = input[i];
    out[i] = x < zero ? zero : x;
  }
}

RELU_MULTIVERSION void relu_f32(float *out, float const *input, int64_t n) {
  relu_loop(out, input, n);
}

RELU_MULTIVERSION void relu_f64(double *out, double const *input, int64_t n) {
  relu_loop(out, input, n);
}

// float16/bfloat16: decide on the bits (sign set, magnitude non-zero and not
// NaN) so the loop vectorizes instead of converting every element to float.
// `max_magnitude` is the magnitude of infinity: 0x7c00 (fp16), 0x7f80 (bf16).
RELU_MULTIVERSION void relu_16bit(uint16_t *out, uint16_t const *input,
                                  int64_t n, uint16_t max_magnitude) {
  for (int64_t i = 0; i < n; ++i) {
    uint16_t const bits = input[i];
    uint16_t const magnitude = bits & 0x7fff;
    bool const negative =
        (bits & 0x8000) && magnitude != 0 && magnitude <= max_magnitude;
    out[i] = negative ? 0 : bits;
  }
}

// Elements per task: the grain of torch's own element-wise ops
// (at::internal::GRAIN_SIZE in ATen/TensorIterator.h, a heavy header), so the
// kernel splits work like torch.clamp_min does; smaller tensors run on the
// calling thread.
constexpr int64_t kGrain = 32768;

template <typename T, typename F>
void parallel_apply(at::Tensor &out, at::Tensor const &input, F loop) {
  T *o = static_cast<T *>(out.data_ptr());
  T const *in = static_cast<T const *>(input.const_data_ptr());
  at::parallel_for(0, input.numel(), kGrain, [&](int64_t begin, int64_t end) {
    loop(o + begin, in + begin, end - begin);
  });
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

  switch (input.scalar_type()) {
  case at::kFloat:
    return parallel_apply<float>(out, input, relu_f32);
  case at::kDouble:
    return parallel_apply<double>(out, input, relu_f64);
  case at::kHalf:
  case at::kBFloat16: {
    uint16_t const max_magnitude =
        input.scalar_type() == at::kHalf ? 0x7c00 : 0x7f80;
    return parallel_apply<uint16_t>(
        out, input, [max_magnitude](uint16_t *o, uint16_t const *in, int64_t n) {
          relu_16bit(o, in, n, max_magnitude);
        });
  }
  default:
    TORCH_CHECK(false, "relu: unsupported dtype ", input.scalar_type(),
                " (supported: float32, float64, float16, bfloat16)");
  }
}
