from typing import Optional

import torch

from ._ops import ops


def gemm(a: torch.Tensor, b: torch.Tensor, alpha: float = 1.0, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Return alpha * (a @ b) for float32 CUDA matrices (CUTLASS)."""
    a, b = a.contiguous(), b.contiguous()
    if out is None:
        out = torch.empty(a.shape[0], b.shape[1], device=a.device, dtype=a.dtype)
    ops.gemm(out, a, b, alpha)
    return out


__all__ = ["gemm"]
