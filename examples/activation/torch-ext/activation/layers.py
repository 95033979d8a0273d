"""Kernel layers: drop-in `forward` methods for common activation modules.

They follow the kernel layer rules: no constructor, no class attributes other
than `has_backward`/`can_torch_compile`, only `forward`. State that a forward
needs from the adopting module is declared as an annotation (FatreluAndMul's
`threshold`).
"""

import torch
import torch.nn as nn

from ._ops import ops


def _gated_out(x: torch.Tensor) -> torch.Tensor:
    d = x.shape[-1] // 2
    return torch.empty(x.shape[:-1] + (d,), dtype=x.dtype, device=x.device)


class SiluAndMul(nn.Module):
    """silu(x[..., :d]) * x[..., d:]"""

    has_backward: bool = False
    can_torch_compile: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        out = _gated_out(x)
        ops.silu_and_mul(out, x)
        return out


class GeluAndMul(nn.Module):
    """gelu(x[..., :d]) * x[..., d:] with the exact (erf) GELU."""

    has_backward: bool = False
    can_torch_compile: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        out = _gated_out(x)
        ops.gelu_and_mul(out, x)
        return out


class GeluTanhAndMul(nn.Module):
    """gelu(x[..., :d], approximate="tanh") * x[..., d:]"""

    has_backward: bool = False
    can_torch_compile: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        out = _gated_out(x)
        ops.gelu_tanh_and_mul(out, x)
        return out


class FatreluAndMul(nn.Module):
    """fatrelu(x[..., :d]) * x[..., d:], fatrelu(v) = v if v > threshold else 0.

    Uses the adopting module's `threshold` attribute.
    """

    threshold: float
    has_backward: bool = False
    can_torch_compile: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        out = _gated_out(x)
        ops.fatrelu_and_mul(out, x, self.threshold)
        return out


class FastGELU(nn.Module):
    """Tanh-approximated GELU (`gelu_fast`)."""

    has_backward: bool = False
    can_torch_compile: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        out = torch.empty_like(x)
        ops.gelu_fast(out, x)
        return out


class NewGELU(nn.Module):
    """Tanh-approximated GELU as in GPT-2 (`gelu_new`)."""

    has_backward: bool = False
    can_torch_compile: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        out = torch.empty_like(x)
        ops.gelu_new(out, x)
        return out


class QuickGELU(nn.Module):
    """x * sigmoid(1.702 x) (`gelu_quick`)."""

    has_backward: bool = False
    can_torch_compile: bool = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        out = torch.empty_like(x)
        ops.gelu_quick(out, x)
        return out


__all__ = [
    "FastGELU",
    "FatreluAndMul",
    "GeluAndMul",
    "GeluTanhAndMul",
    "NewGELU",
    "QuickGELU",
    "SiluAndMul",
]
