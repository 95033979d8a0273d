#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "torch_binding.h"

// CPU activations. The hot loops are plain C++ over float arrays that the
// compiler auto-vectorizes (the kernel builds with -O3): no libm calls,
// branch-free selects, exp() by range reduction + polynomial. float16 and
// bfloat16 are converted to float in small blocks, computed, and rounded back
// once, so the result is the correctly rounded float computation.
//
// On x86-64 (GCC, or Clang >= 14, on Linux) the float loops are also compiled
// for x86-64-v3 (AVX2/FMA) and x86-64-v4 (AVX-512) and picked at load time
// (`target_clones`), so the kernel uses wide vectors without requiring them.

#if defined(__x86_64__) && defined(__linux__) &&                               \
    (defined(__clang__) ? __clang_major__ >= 14 : defined(__GNUC__))
#define ACT_MULTIVERSION                                                       \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define ACT_MULTIVERSION
#endif

#if defined(__GNUC__)
#define ACT_INLINE inline __attribute__((always_inline))
#else
#define ACT_INLINE inline
#endif

namespace {

enum class Act { Silu, Gelu, GeluTanh, QuickGelu, FatRelu };

ACT_INLINE int32_t bits_of(float x) {
  int32_t i;
  std::memcpy(&i, &x, sizeof i);
  return i;
}

ACT_INLINE float float_of(int32_t i) {
  float x;
  std::memcpy(&x, &i, sizeof x);
  return x;
}

// exp(x) with ~1 ulp error on [-87, 88]; inputs are clamped to that range
// (callers only need exp to saturate, see sigmoid_of_neg).
ACT_INLINE float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  // n = round(x / ln 2) via the 1.5 * 2^23 trick (no rounding instruction
  // needed), r = x - n ln 2 in two steps for accuracy, |r| <= ln(2) / 2.
  constexpr float shifter = 12582912.0f;
  float const t = x * 1.44269504088896341f + shifter;
  int32_t const n = bits_of(t) - bits_of(shifter);
  float const nf = t - shifter;
  float const r = (x - nf * 0.693145751953125f) - nf * 1.42860682030941723e-6f;
  // Taylor polynomial of degree 7: relative error below 6e-9 on |r| <= 0.347.
  float p = 1.98412698e-4f;
  p = p * r + 1.38888889e-3f;
  p = p * r + 8.33333333e-3f;
  p = p * r + 4.16666667e-2f;
  p = p * r + 1.66666667e-1f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // Scale by 2^n through the exponent field; n is in [-126, 127].
  return p * float_of((n + 127) << 23);
}

// 1 / (1 + exp(-z)).
ACT_INLINE float sigmoid(float z) { return 1.0f / (1.0f + exp_approx(-z)); }

// erf(x), Abramowitz & Stegun 7.1.26: absolute error below 1.5e-7.
ACT_INLINE float erf_approx(float x) {
  float const a = x < 0.0f ? -x : x;
  float const t = 1.0f / (1.0f + 0.3275911f * a);
  float p = 1.061405429f;
  p = p * t - 1.453152027f;
  p = p * t + 1.421413741f;
  p = p * t - 0.284496736f;
  p = p * t + 0.254829592f;
  float const e = 1.0f - p * t * exp_approx(-a * a);
  return x < 0.0f ? -e : e;
}

template <Act act> ACT_INLINE float activate(float x, float threshold) {
  if constexpr (act == Act::Silu) {
    return x * sigmoid(x);
  } else if constexpr (act == Act::Gelu) {
    return 0.5f * x * (1.0f + erf_approx(x * 0.70710678118654752f));
  } else if constexpr (act == Act::GeluTanh) {
    // 0.5 (1 + tanh(y)) == sigmoid(2 y): no cancellation for negative x.
    float const y = 0.79788456080286536f * (x + 0.044715f * x * x * x);
    return x * sigmoid(2.0f * y);
  } else if constexpr (act == Act::QuickGelu) {
    return x * sigmoid(1.702f * x);
  } else {
    return x > threshold ? x : 0.0f;
  }
}

template <Act act>
ACT_INLINE void plain_loop(float *out, float const *x, int64_t n,
                           float threshold) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = activate<act>(x[i], threshold);
  }
}

template <Act act>
ACT_INLINE void gated_loop(float *out, float const *x, float const *y,
                           int64_t n, float threshold) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = activate<act>(x[i], threshold) * y[i];
  }
}

// out[i] = act(x[i]).
ACT_MULTIVERSION void activate_f32(Act act, float *out, float const *x,
                                   int64_t n, float threshold) {
  switch (act) {
  case Act::Silu:
    return plain_loop<Act::Silu>(out, x, n, threshold);
  case Act::Gelu:
    return plain_loop<Act::Gelu>(out, x, n, threshold);
  case Act::GeluTanh:
    return plain_loop<Act::GeluTanh>(out, x, n, threshold);
  case Act::QuickGelu:
    return plain_loop<Act::QuickGelu>(out, x, n, threshold);
  case Act::FatRelu:
    return plain_loop<Act::FatRelu>(out, x, n, threshold);
  }
}

// out[i] = act(x[i]) * y[i].
ACT_MULTIVERSION void activate_and_mul_f32(Act act, float *out, float const *x,
                                           float const *y, int64_t n,
                                           float threshold) {
  switch (act) {
  case Act::Silu:
    return gated_loop<Act::Silu>(out, x, y, n, threshold);
  case Act::Gelu:
    return gated_loop<Act::Gelu>(out, x, y, n, threshold);
  case Act::GeluTanh:
    return gated_loop<Act::GeluTanh>(out, x, y, n, threshold);
  case Act::QuickGelu:
    return gated_loop<Act::QuickGelu>(out, x, y, n, threshold);
  case Act::FatRelu:
    return gated_loop<Act::FatRelu>(out, x, y, n, threshold);
  }
}

// 16-bit <-> float conversion loops (bit manipulation that vectorizes).
ACT_MULTIVERSION void to_float(float *out, c10::Half const *in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = c10::detail::fp16_ieee_to_fp32_value(in[i].x);
  }
}

ACT_MULTIVERSION void to_float(float *out, c10::BFloat16 const *in,
                               int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    out[i] = float_of(static_cast<int32_t>(in[i].x) << 16);
  }
}

ACT_MULTIVERSION void from_float(c10::Half *out, float const *in, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    out[i].x = c10::detail::fp16_ieee_from_fp32_value(in[i]);
  }
}

ACT_MULTIVERSION void from_float(c10::BFloat16 *out, float const *in,
                                 int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    out[i].x = c10::detail::round_to_nearest_even(in[i]);
  }
}

// Elements per float block when converting 16-bit data: stays in L1.
constexpr int64_t kBlock = 1024;

template <typename scalar_t>
void activate_range(Act act, scalar_t *out, scalar_t const *x, int64_t n,
                    float threshold) {
  if constexpr (std::is_same_v<scalar_t, float>) {
    activate_f32(act, out, x, n, threshold);
  } else {
    float xf[kBlock];
    for (int64_t i = 0; i < n; i += kBlock) {
      int64_t const m = std::min(kBlock, n - i);
      to_float(xf, x + i, m);
      activate_f32(act, xf, xf, m, threshold);
      from_float(out + i, xf, m);
    }
  }
}

template <typename scalar_t>
void activate_and_mul_range(Act act, scalar_t *out, scalar_t const *x,
                            scalar_t const *y, int64_t n, float threshold) {
  if constexpr (std::is_same_v<scalar_t, float>) {
    activate_and_mul_f32(act, out, x, y, n, threshold);
  } else {
    float xf[kBlock];
    float yf[kBlock];
    for (int64_t i = 0; i < n; i += kBlock) {
      int64_t const m = std::min(kBlock, n - i);
      to_float(xf, x + i, m);
      to_float(yf, y + i, m);
      activate_and_mul_f32(act, xf, xf, yf, m, threshold);
      from_float(out + i, xf, m);
    }
  }
}

// Work per task for at::parallel_for, in elements.
constexpr int64_t kGrain = 16384;

template <typename F> void dispatch_dtype(at::ScalarType t, char const *name, F f) {
  switch (t) {
  case at::kFloat:
    return f(float{});
  case at::kHalf:
    return f(c10::Half{});
  case at::kBFloat16:
    return f(c10::BFloat16{});
  default:
    TORCH_CHECK(false, name, ": unsupported dtype ", t,
                " (supported: float32, float16, bfloat16)");
  }
}

void check_common(char const *name, at::Tensor const &out,
                  at::Tensor const &input) {
  TORCH_CHECK(input.device().is_cpu(), name, ": input must be a CPU tensor");
  TORCH_CHECK(out.device() == input.device(), name,
              ": out and input must be on the same device, got ", out.device(),
              " and ", input.device());
  TORCH_CHECK(out.scalar_type() == input.scalar_type(), name,
              ": out and input must have the same dtype, got ",
              out.scalar_type(), " and ", input.scalar_type());
  TORCH_CHECK(input.is_contiguous() && out.is_contiguous(), name,
              ": out and input must be contiguous");
}

std::vector<int64_t> gated_shape(at::Tensor const &input, int64_t d) {
  auto shape = input.sizes().vec();
  shape.back() = d;
  return shape;
}

void gated(char const *name, Act act, at::Tensor &out, at::Tensor const &input,
           float threshold) {
  check_common(name, out, input);
  TORCH_CHECK(input.dim() >= 1 && input.size(-1) % 2 == 0, name,
              ": the last dimension of input must be even, got shape ",
              input.sizes());
  int64_t const d = input.size(-1) / 2;
  // out.shape == input.shape[:-1] + (d,), checked without building a shape.
  bool const shape_ok =
      out.dim() == input.dim() && out.size(-1) == d &&
      out.sizes().slice(0, out.dim() - 1) ==
          input.sizes().slice(0, input.dim() - 1);
  // (The message arguments are evaluated only when the check fails.)
  TORCH_CHECK(shape_ok, name, ": out must have shape ",
              at::IntArrayRef(gated_shape(input, d)), ", got ", out.sizes());
  if (out.numel() == 0) {
    return;
  }
  int64_t const rows = out.numel() / d;
  dispatch_dtype(input.scalar_type(), name, [&](auto tag) {
    using scalar_t = decltype(tag);
    scalar_t *o = static_cast<scalar_t *>(out.data_ptr());
    scalar_t const *in = static_cast<scalar_t const *>(input.const_data_ptr());
    at::parallel_for(0, rows, std::max<int64_t>(1, kGrain / d),
                     [&](int64_t begin, int64_t end) {
                       for (int64_t r = begin; r < end; ++r) {
                         scalar_t const *x = in + r * 2 * d;
                         activate_and_mul_range(act, o + r * d, x, x + d, d,
                                                threshold);
                       }
                     });
  });
}

void plain(char const *name, Act act, at::Tensor &out,
           at::Tensor const &input) {
  check_common(name, out, input);
  TORCH_CHECK(out.sizes() == input.sizes(), name,
              ": out and input must have the same shape, got ", out.sizes(),
              " and ", input.sizes());
  int64_t const n = input.numel();
  dispatch_dtype(input.scalar_type(), name, [&](auto tag) {
    using scalar_t = decltype(tag);
    scalar_t *o = static_cast<scalar_t *>(out.data_ptr());
    scalar_t const *in = static_cast<scalar_t const *>(input.const_data_ptr());
    at::parallel_for(0, n, kGrain, [&](int64_t begin, int64_t end) {
      activate_range(act, o + begin, in + begin, end - begin, 0.0f);
    });
  });
}

} // namespace

void silu_and_mul(at::Tensor &out, at::Tensor const &input) {
  gated("silu_and_mul", Act::Silu, out, input, 0.0f);
}

void gelu_and_mul(at::Tensor &out, at::Tensor const &input) {
  gated("gelu_and_mul", Act::Gelu, out, input, 0.0f);
}

void gelu_tanh_and_mul(at::Tensor &out, at::Tensor const &input) {
  gated("gelu_tanh_and_mul", Act::GeluTanh, out, input, 0.0f);
}

void fatrelu_and_mul(at::Tensor &out, at::Tensor const &input,
                     double threshold) {
  gated("fatrelu_and_mul", Act::FatRelu, out, input,
        static_cast<float>(threshold));
}

void gelu_fast(at::Tensor &out, at::Tensor const &input) {
  plain("gelu_fast", Act::GeluTanh, out, input);
}

void gelu_new(at::Tensor &out, at::Tensor const &input) {
  plain("gelu_new", Act::GeluTanh, out, input);
}

void gelu_quick(at::Tensor &out, at::Tensor const &input) {
  plain("gelu_quick", Act::QuickGelu, out, input);
}
