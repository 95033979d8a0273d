import torch
import torch.nn as nn

from ._ops import ops


class ReLU(nn.Module):
    """Drop-in `forward` for `torch.nn.ReLU` (without `inplace`).

    Kernel layers are stateless: no constructor, no class attributes other
    than the two flags below, and `forward` only.
    """

    # No backward pass is implemented; kernelize() falls back to the original
    # layer when training.
    has_backward: bool = False
    # The op mutates a preallocated output, which torch.compile handles.
    can_torch_compile: bool = True

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        input = input.contiguous()
        out = torch.empty_like(input)
        ops.relu(out, input)
        return out
