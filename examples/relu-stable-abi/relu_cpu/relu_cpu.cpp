#include <torch/csrc/stable/ops.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/ScalarType.h>
#include <torch/headeronly/util/BFloat16.h>
#include <torch/headeronly/util/Half.h>

#include "checks.h"
#include "torch_binding.h"

namespace {

using torch::headeronly::ScalarType;

// `x < 0 ? 0 : x` keeps NaN and -0.0 like torch.relu.
template <typename T>
void relu_typed(torch::stable::Tensor &out, torch::stable::Tensor const &input) {
  T *o = static_cast<T *>(out.mutable_data_ptr());
  T const *x = static_cast<T const *>(input.const_data_ptr());
  torch::stable::parallel_for(
      0, input.numel(), 32768, [o, x](int64_t begin, int64_t end) {
        T const zero(0);
        for (int64_t i = begin; i < end; ++i) {
          o[i] = x[i] < zero ? zero : x[i];
        }
      });
}

} // namespace

void relu(torch::stable::Tensor &out, torch::stable::Tensor const &input) {
  STD_TORCH_CHECK(input.is_cpu(), "relu: input must be a CPU tensor");
  check_relu_args(out, input);
  switch (input.scalar_type()) {
  case ScalarType::Float:
    return relu_typed<float>(out, input);
  case ScalarType::Half:
    return relu_typed<torch::headeronly::Half>(out, input);
  case ScalarType::BFloat16:
    return relu_typed<torch::headeronly::BFloat16>(out, input);
  default:
    STD_TORCH_CHECK(false,
                    "relu: unsupported dtype (float32, float16, bfloat16)");
  }
}
