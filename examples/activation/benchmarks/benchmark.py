"""Benchmarks for `kernels benchmark` (pip install 'kernels[benchmark]').

    kernels benchmark ./examples/activation   # a local build in ./build

Each workload times the kernel (`benchmark_*`) and its PyTorch eager
equivalent (`verify_*`, whose result the kernel output is checked against).
"""

import torch
import torch.nn.functional as F

from kernels.benchmark import Benchmark

# (tokens, hidden): the gated input is [tokens, 2 * hidden].
SHAPES = {"small": (128, 2048), "large": (4096, 4096)}


class _Gated(Benchmark):
    seed: int = 0
    dtype = torch.bfloat16

    def _setup(self, size: str) -> None:
        tokens, hidden = SHAPES[size]
        self.x = torch.randn(tokens, 2 * hidden, device=self.device, dtype=self.dtype)
        self.out = torch.empty(tokens, hidden, device=self.device, dtype=self.dtype)

    def setup_small(self):
        self._setup("small")

    def setup_large(self):
        self._setup("large")


class SiluAndMulBenchmark(_Gated):
    def benchmark_small(self):
        self.kernel.silu_and_mul(self.out, self.x)

    def verify_small(self) -> torch.Tensor:
        d = self.x.shape[-1] // 2
        return F.silu(self.x[..., :d]) * self.x[..., d:]

    def benchmark_large(self):
        self.kernel.silu_and_mul(self.out, self.x)

    def verify_large(self) -> torch.Tensor:
        d = self.x.shape[-1] // 2
        return F.silu(self.x[..., :d]) * self.x[..., d:]


class GeluAndMulBenchmark(_Gated):
    def benchmark_small(self):
        self.kernel.gelu_and_mul(self.out, self.x)

    def verify_small(self) -> torch.Tensor:
        d = self.x.shape[-1] // 2
        return F.gelu(self.x[..., :d]) * self.x[..., d:]

    def benchmark_large(self):
        self.kernel.gelu_and_mul(self.out, self.x)

    def verify_large(self) -> torch.Tensor:
        d = self.x.shape[-1] // 2
        return F.gelu(self.x[..., :d]) * self.x[..., d:]


class GeluTanhAndMulBenchmark(_Gated):
    def benchmark_large(self):
        self.kernel.gelu_tanh_and_mul(self.out, self.x)

    def verify_large(self) -> torch.Tensor:
        d = self.x.shape[-1] // 2
        return F.gelu(self.x[..., :d], approximate="tanh") * self.x[..., d:]


class FatreluAndMulBenchmark(_Gated):
    def benchmark_large(self):
        self.kernel.fatrelu_and_mul(self.out, self.x, 0.1)

    def verify_large(self) -> torch.Tensor:
        d = self.x.shape[-1] // 2
        return F.threshold(self.x[..., :d], 0.1, 0.0) * self.x[..., d:]


class _Plain(Benchmark):
    seed: int = 0
    dtype = torch.bfloat16

    def setup_large(self):
        self.x = torch.randn(4096, 4096, device=self.device, dtype=self.dtype)
        self.out = torch.empty_like(self.x)


class GeluFastBenchmark(_Plain):
    def benchmark_large(self):
        self.kernel.gelu_fast(self.out, self.x)

    def verify_large(self) -> torch.Tensor:
        return F.gelu(self.x, approximate="tanh")


class GeluNewBenchmark(_Plain):
    def benchmark_large(self):
        self.kernel.gelu_new(self.out, self.x)

    def verify_large(self) -> torch.Tensor:
        return F.gelu(self.x, approximate="tanh")


class GeluQuickBenchmark(_Plain):
    def benchmark_large(self):
        self.kernel.gelu_quick(self.out, self.x)

    def verify_large(self) -> torch.Tensor:
        return self.x * torch.sigmoid(1.702 * self.x)
