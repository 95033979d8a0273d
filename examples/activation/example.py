"""Load the activation kernel built in ./build and use it in an MLP.

    kernel-builder build .      # or: nix run .#build-and-copy
    python example.py
"""

from pathlib import Path

import torch
import torch.nn.functional as F
from kernels import get_local_kernel

activation = get_local_kernel(Path(__file__).resolve().parent)
device = "cuda" if torch.cuda.is_available() else "cpu"

# Functions write into a preallocated output.
x = torch.randn(4, 2 * 512, device=device, dtype=torch.bfloat16)
out = torch.empty(4, 512, device=device, dtype=torch.bfloat16)
activation.silu_and_mul(out, x)
torch.testing.assert_close(out, F.silu(x[:, :512]) * x[:, 512:], rtol=1.6e-2, atol=1.6e-2)


# Layers replace the forward of a model's own activation module.
class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.up = torch.nn.Linear(256, 2 * 1024)
        self.act = activation.layers.SiluAndMul()
        self.down = torch.nn.Linear(1024, 256)

    def forward(self, x):
        return self.down(self.act(self.up(x)))


model = MLP().to(device)
compiled = torch.compile(model, fullgraph=True)
with torch.no_grad():
    y = compiled(torch.randn(8, 256, device=device))
print(f"MLP output on {device}: {tuple(y.shape)}")
