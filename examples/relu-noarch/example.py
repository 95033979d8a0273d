"""Load the relu-noarch kernel built in ./build and use it.

    kernel-builder build .      # or: nix run .#build-and-copy
    python example.py
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from kernels import get_local_kernel

relu = get_local_kernel(Path(__file__).resolve().parent)

if torch.cuda.is_available():
    device = "cuda"
elif hasattr(torch, "xpu") and torch.xpu.is_available():
    device = "xpu"
elif torch.backends.mps.is_available():
    device = "mps"
else:
    device = "cpu"

x = torch.randn(4, 8, device=device)
y = relu.relu(x)
torch.testing.assert_close(y, F.relu(x))
print(f"relu-noarch on {device}:\n{y}")

# The layer is a drop-in forward for torch.nn.ReLU.
layer = relu.layers.ReLU()
torch.testing.assert_close(layer(x), y)
