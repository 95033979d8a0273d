#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>

#include "torch_binding.h"

// CUDA activations. Elements are computed in float and rounded once to the
// output type. Loads and stores are 16 bytes wide (4 floats or 8 halves)
// whenever the pointers and the row length allow it, with a scalar path for
// the rest, so any shape and offset works.

namespace {

struct Silu {
  __device__ float operator()(float x, float) const {
    return x / (1.0f + expf(-x));
  }
};

struct Gelu {
  __device__ float operator()(float x, float) const {
    return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
  }
};

// 0.5 x (1 + tanh(y)) == x * sigmoid(2 y), y = sqrt(2 / pi) (x + 0.044715 x^3).
struct GeluTanh {
  __device__ float operator()(float x, float) const {
    float const y = 0.79788456080286536f * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * y));
  }
};

struct QuickGelu {
  __device__ float operator()(float x, float) const {
    return x / (1.0f + expf(-1.702f * x));
  }
};

struct FatRelu {
  __device__ float operator()(float x, float threshold) const {
    return x > threshold ? x : 0.0f;
  }
};

// 16 bytes of elements, loaded and stored as one vector.
template <typename scalar_t> struct alignas(16) Pack {
  static constexpr int size = 16 / sizeof(scalar_t);
  scalar_t v[size];
};

template <typename scalar_t>
__device__ inline bool aligned16(scalar_t const *p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

// out[row, :] = act(in[row, :d]) * in[row, d:2d]. Grid: x = rows,
// y = column chunks (grid-strided).
template <typename scalar_t, typename Act>
__global__ void gated_kernel(scalar_t *__restrict__ out,
                             scalar_t const *__restrict__ input, int64_t d,
                             float threshold) {
  Act const act;
  int64_t const row = blockIdx.x;
  scalar_t const *x = input + row * 2 * d;
  scalar_t const *y = x + d;
  scalar_t *o = out + row * d;

  constexpr int P = Pack<scalar_t>::size;
  int64_t const step = static_cast<int64_t>(gridDim.y) * blockDim.x;
  int64_t const first = static_cast<int64_t>(blockIdx.y) * blockDim.x + threadIdx.x;
  if (d % P == 0 && aligned16(x) && aligned16(o)) {
    // y = x + d is then aligned as well.
    auto const *xv = reinterpret_cast<Pack<scalar_t> const *>(x);
    auto const *yv = reinterpret_cast<Pack<scalar_t> const *>(y);
    auto *ov = reinterpret_cast<Pack<scalar_t> *>(o);
    for (int64_t i = first; i < d / P; i += step) {
      Pack<scalar_t> const a = xv[i];
      Pack<scalar_t> const b = yv[i];
      Pack<scalar_t> r;
#pragma unroll
      for (int j = 0; j < P; ++j) {
        r.v[j] = static_cast<scalar_t>(act(static_cast<float>(a.v[j]), threshold) *
                                       static_cast<float>(b.v[j]));
      }
      ov[i] = r;
    }
  } else {
    for (int64_t i = first; i < d; i += step) {
      o[i] = static_cast<scalar_t>(act(static_cast<float>(x[i]), threshold) *
                                   static_cast<float>(y[i]));
    }
  }
}

// out[i] = act(in[i]) over n elements, grid-strided. `out` may alias `input`
// (in-place use), so the pointers are not restrict.
template <typename scalar_t, typename Act>
__global__ void plain_kernel(scalar_t *out, scalar_t const *input, int64_t n) {
  Act const act;
  constexpr int P = Pack<scalar_t>::size;
  int64_t const step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t const first = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  int64_t vector_end = 0;
  if (aligned16(input) && aligned16(out)) {
    vector_end = n / P * P;
    auto const *xv = reinterpret_cast<Pack<scalar_t> const *>(input);
    auto *ov = reinterpret_cast<Pack<scalar_t> *>(out);
    for (int64_t i = first; i < n / P; i += step) {
      Pack<scalar_t> const a = xv[i];
      Pack<scalar_t> r;
#pragma unroll
      for (int j = 0; j < P; ++j) {
        r.v[j] = static_cast<scalar_t>(act(static_cast<float>(a.v[j]), 0.0f));
      }
      ov[i] = r;
    }
  }
  for (int64_t i = vector_end + first; i < n; i += step) {
    out[i] = static_cast<scalar_t>(act(static_cast<float>(input[i]), 0.0f));
  }
}

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
  TORCH_CHECK(input.device().is_cuda(), name, ": input must be a CUDA tensor");
  TORCH_CHECK(out.device() == input.device(), name,
              ": out and input must be on the same device, got ", out.device(),
              " and ", input.device());
  TORCH_CHECK(out.scalar_type() == input.scalar_type(), name,
              ": out and input must have the same dtype, got ",
              out.scalar_type(), " and ", input.scalar_type());
  TORCH_CHECK(input.is_contiguous() && out.is_contiguous(), name,
              ": out and input must be contiguous");
}

constexpr int kThreads = 256;

template <typename Act>
void gated(char const *name, at::Tensor &out, at::Tensor const &input,
           float threshold) {
  check_common(name, out, input);
  TORCH_CHECK(input.dim() >= 1 && input.size(-1) % 2 == 0, name,
              ": the last dimension of input must be even, got shape ",
              input.sizes());
  int64_t const d = input.size(-1) / 2;
  auto expected = input.sizes().vec();
  expected.back() = d;
  TORCH_CHECK(out.sizes() == at::IntArrayRef(expected), name,
              ": out must have shape ", at::IntArrayRef(expected), ", got ",
              out.sizes());
  if (out.numel() == 0) {
    return;
  }
  int64_t const rows = out.numel() / d;
  TORCH_CHECK(rows <= INT32_MAX, name, ": too many rows (", rows, ")");

  c10::cuda::CUDAGuard const device_guard(input.device());
  cudaStream_t const stream = c10::cuda::getCurrentCUDAStream();
  dispatch_dtype(input.scalar_type(), name, [&](auto tag) {
    using scalar_t = decltype(tag);
    constexpr int P = Pack<scalar_t>::size;
    int64_t const chunks = (d + kThreads * P - 1) / (kThreads * P);
    dim3 const grid(static_cast<unsigned>(rows),
                    static_cast<unsigned>(std::min<int64_t>(chunks, 65535)));
    gated_kernel<scalar_t, Act><<<grid, kThreads, 0, stream>>>(
        static_cast<scalar_t *>(out.data_ptr()),
        static_cast<scalar_t const *>(input.const_data_ptr()), d, threshold);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

template <typename Act>
void plain(char const *name, at::Tensor &out, at::Tensor const &input) {
  check_common(name, out, input);
  TORCH_CHECK(out.sizes() == input.sizes(), name,
              ": out and input must have the same shape, got ", out.sizes(),
              " and ", input.sizes());
  int64_t const n = input.numel();
  if (n == 0) {
    return;
  }

  c10::cuda::CUDAGuard const device_guard(input.device());
  cudaStream_t const stream = c10::cuda::getCurrentCUDAStream();
  dispatch_dtype(input.scalar_type(), name, [&](auto tag) {
    using scalar_t = decltype(tag);
    constexpr int P = Pack<scalar_t>::size;
    int64_t const blocks = std::min<int64_t>(
        (n + kThreads * P - 1) / (kThreads * P), 65535);
    plain_kernel<scalar_t, Act><<<static_cast<unsigned>(blocks), kThreads, 0,
                                  stream>>>(
        static_cast<scalar_t *>(out.data_ptr()),
        static_cast<scalar_t const *>(input.const_data_ptr()), n);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

} // namespace

void silu_and_mul(at::Tensor &out, at::Tensor const &input) {
  gated<Silu>("silu_and_mul", out, input, 0.0f);
}

void gelu_and_mul(at::Tensor &out, at::Tensor const &input) {
  gated<Gelu>("gelu_and_mul", out, input, 0.0f);
}

void gelu_tanh_and_mul(at::Tensor &out, at::Tensor const &input) {
  gated<GeluTanh>("gelu_tanh_and_mul", out, input, 0.0f);
}

void fatrelu_and_mul(at::Tensor &out, at::Tensor const &input,
                     double threshold) {
  gated<FatRelu>("fatrelu_and_mul", out, input, static_cast<float>(threshold));
}

void gelu_fast(at::Tensor &out, at::Tensor const &input) {
  plain<GeluTanh>("gelu_fast", out, input);
}

void gelu_new(at::Tensor &out, at::Tensor const &input) {
  plain<GeluTanh>("gelu_new", out, input);
}

void gelu_quick(at::Tensor &out, at::Tensor const &input) {
  plain<QuickGelu>("gelu_quick", out, input);
}
