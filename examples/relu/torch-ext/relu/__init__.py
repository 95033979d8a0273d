from typing import Optional

import torch

from . import layers
from ._ops import ops


def relu(x: torch.Tensor, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Return max(x, 0), computed by this kernel.

    `out`, when given, must have the shape, dtype and device of `x` and be
    contiguous; the result is written into it and it is returned. NaN and -0.0
    are kept, as in `torch.relu`.
    """
    x = x.contiguous()
    if out is None:
        out = torch.empty_like(x)
    ops.relu(out, x)
    return out


__all__ = ["relu", "layers"]
