"""Benchmarks for `kernels benchmark` (pip install 'kernels[benchmark]').

    kernels benchmark ./examples/relu        # a local build in ./build
    kernels benchmark <org>/relu@v1          # a published build

Each workload has `setup_<name>`, `benchmark_<name>` (timed) and
`verify_<name>` (the PyTorch reference the output is compared with, also
timed for the speedup column). Like the kernel, the reference writes into a
preallocated tensor: `torch.clamp_min(x, 0, out=...)`, which is what
`torch.relu` computes, without timing a fresh allocation.
"""

import torch

from kernels.benchmark import Benchmark


class ReluBenchmark(Benchmark):
    seed: int = 0

    def _inputs(self, rows: int, cols: int, dtype: torch.dtype) -> None:
        self.x = torch.randn(rows, cols, device=self.device, dtype=dtype)
        self.out = torch.empty_like(self.x)
        self.ref = torch.empty_like(self.x)

    def setup_small(self):
        self._inputs(64, 1024, torch.float32)

    def benchmark_small(self):
        self.kernel.relu(self.x, out=self.out)

    def verify_small(self) -> torch.Tensor:
        return torch.clamp_min(self.x, 0, out=self.ref)

    def setup_large(self):
        self._inputs(4096, 4096, torch.float32)

    def benchmark_large(self):
        self.kernel.relu(self.x, out=self.out)

    def verify_large(self) -> torch.Tensor:
        return torch.clamp_min(self.x, 0, out=self.ref)

    def setup_large_bf16(self):
        self._inputs(4096, 4096, torch.bfloat16)

    def benchmark_large_bf16(self):
        self.kernel.relu(self.x, out=self.out)

    def verify_large_bf16(self) -> torch.Tensor:
        return torch.clamp_min(self.x, 0, out=self.ref)
