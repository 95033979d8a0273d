from typing import Optional

import torch

from ._ops import ops


def gemm_bias(
    a: torch.Tensor,
    b: torch.Tensor,
    bias: torch.Tensor,
    alpha: float = 1.0,
    out: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Return alpha * (a @ b) + bias for float32 CUDA matrices (cuBLAS)."""
    a, b, bias = a.contiguous(), b.contiguous(), bias.contiguous()
    if out is None:
        out = torch.empty(a.shape[0], b.shape[1], device=a.device, dtype=a.dtype)
    ops.gemm_bias(out, a, b, bias, alpha)
    return out


__all__ = ["gemm_bias"]
