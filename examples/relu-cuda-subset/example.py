"""Load the relu-cuda-subset kernel built in ./build and use it.

    kernel-builder build .      # or: nix run .#build-and-copy
    python example.py
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from kernels import get_local_kernel

relu = get_local_kernel(Path(__file__).resolve().parent)

# CUDA only, and only on the GPUs listed in build.toml (capability 8.0, 9.0, 12.0).
device = "cuda"

x = torch.randn(4, 8, device=device)
y = relu.relu(x)
torch.testing.assert_close(y, F.relu(x))
print(f"relu-cuda-subset on {device}:\n{y}")

# The layer is a drop-in forward for torch.nn.ReLU.
layer = relu.layers.ReLU()
torch.testing.assert_close(layer(x), y)
