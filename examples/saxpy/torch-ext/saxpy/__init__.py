import torch

from ._ops import ops


def saxpy(a: float, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """y = a * x + y in place (float32, contiguous, same GPU); returns y."""
    ops.saxpy(y, x, a)
    return y


__all__ = ["saxpy"]
