"""The Triton kernel. Imported only where Triton is available (the CUDA, ROCm
and XPU builds of Torch ship it; CPU-only installs usually do not)."""

import torch
import triton
import triton.language as tl

BLOCK_SIZE = 1024


@triton.jit
def _relu_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask)
    # `x < 0 ? 0 : x` keeps NaN and -0.0 like torch.relu. The comparison is
    # done in float32, which every backend supports for every input dtype.
    negative = x.to(tl.float32) < 0.0
    tl.store(out_ptr + offsets, tl.where(negative, tl.zeros_like(x), x), mask=mask)


def relu_triton(out: torch.Tensor, x: torch.Tensor) -> None:
    n = x.numel()
    if n == 0:
        return
    grid = (triton.cdiv(n, BLOCK_SIZE),)
    with torch.device(x.device):
        _relu_kernel[grid](x, out, n, BLOCK=BLOCK_SIZE)
