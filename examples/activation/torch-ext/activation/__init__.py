"""Gated and plain activation functions.

The functions write into a preallocated `out` tensor (the convention of the
kernels these are modelled on) and return it. Gated functions take an input
of shape [..., 2 * d] and produce [..., d]: act(input[..., :d]) * input[..., d:].
"""

import torch

from . import layers
from ._ops import add_op_namespace_prefix, ops


def silu_and_mul(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    ops.silu_and_mul(out, x)
    return out


def gelu_and_mul(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    ops.gelu_and_mul(out, x)
    return out


def gelu_tanh_and_mul(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    ops.gelu_tanh_and_mul(out, x)
    return out


def fatrelu_and_mul(out: torch.Tensor, x: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    ops.fatrelu_and_mul(out, x, threshold)
    return out


def gelu_fast(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    ops.gelu_fast(out, x)
    return out


def gelu_new(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    ops.gelu_new(out, x)
    return out


def gelu_quick(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    ops.gelu_quick(out, x)
    return out


# Fake (meta) implementations let torch.compile trace the ops without running
# them. They must be registered in this build's own op namespace, hence
# add_op_namespace_prefix. The ops only write into `out`, so there is nothing
# to compute.
def _register_fakes() -> None:
    def fake(out: torch.Tensor, x: torch.Tensor) -> None:
        return None

    def fake_threshold(out: torch.Tensor, x: torch.Tensor, threshold: float = 0.0) -> None:
        return None

    for name in ("silu_and_mul", "gelu_and_mul", "gelu_tanh_and_mul", "gelu_fast", "gelu_new", "gelu_quick"):
        torch.library.register_fake(add_op_namespace_prefix(name))(fake)
    torch.library.register_fake(add_op_namespace_prefix("fatrelu_and_mul"))(fake_threshold)


_register_fakes()

__all__ = [
    "fatrelu_and_mul",
    "gelu_and_mul",
    "gelu_fast",
    "gelu_new",
    "gelu_quick",
    "gelu_tanh_and_mul",
    "layers",
    "silu_and_mul",
]
