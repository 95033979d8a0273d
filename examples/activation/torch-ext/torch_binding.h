#pragma once

#include <ATen/core/Tensor.h>

// Gated activations: input [..., 2 * d] -> out [..., d],
// out = act(input[..., :d]) * input[..., d:].
void silu_and_mul(at::Tensor &out, at::Tensor const &input);
void gelu_and_mul(at::Tensor &out, at::Tensor const &input);
void gelu_tanh_and_mul(at::Tensor &out, at::Tensor const &input);
// act(x) = x if x > threshold else 0.
void fatrelu_and_mul(at::Tensor &out, at::Tensor const &input,
                     double threshold);

// Element-wise activations: out = act(input), same shape.
void gelu_fast(at::Tensor &out, at::Tensor const &input);
void gelu_new(at::Tensor &out, at::Tensor const &input);
void gelu_quick(at::Tensor &out, at::Tensor const &input);
