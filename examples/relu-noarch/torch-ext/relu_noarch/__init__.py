"""ReLU as a pure-Python kernel: Triton on GPUs, Torch on the CPU.

The op is registered in this build's own namespace (add_op_namespace_prefix),
so torch.compile treats it as one opaque op and several versions of this
kernel can be loaded side by side.
"""

from typing import Optional

import torch

from . import layers
from ._ops import add_op_namespace_prefix, ops

try:
    from ._triton import relu_triton
except ImportError:  # no Triton in this environment: Torch fallback only
    relu_triton = None


def _check(out: torch.Tensor, x: torch.Tensor) -> None:
    torch._check(out.shape == x.shape, lambda: f"relu: out and input must have the same shape, got {tuple(out.shape)} and {tuple(x.shape)}")
    torch._check(out.dtype == x.dtype, lambda: f"relu: out and input must have the same dtype, got {out.dtype} and {x.dtype}")
    torch._check(out.device == x.device, lambda: f"relu: out and input must be on the same device, got {out.device} and {x.device}")
    torch._check(out.is_contiguous() and x.is_contiguous(), lambda: "relu: out and input must be contiguous")


@torch.library.custom_op(add_op_namespace_prefix("relu"), mutates_args=("out",))
def _relu(out: torch.Tensor, x: torch.Tensor) -> None:
    _check(out, x)
    if x.device.type == "cpu" or relu_triton is None:
        out.copy_(torch.relu(x))
    else:
        relu_triton(out, x)


@_relu.register_fake
def _(out: torch.Tensor, x: torch.Tensor) -> None:
    _check(out, x)


def relu(x: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Return max(x, 0); write into `out` when given (same shape, dtype,
    device, contiguous). NaN and -0.0 are kept, as in `torch.relu`."""
    x = x.contiguous()
    if out is None:
        out = torch.empty_like(x)
    ops.relu(out, x)
    return out


__all__ = ["relu", "layers"]
