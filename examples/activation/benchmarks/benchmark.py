"""Benchmarks for `kernels benchmark` (pip install 'kernels[benchmark]').

    kernels benchmark ./examples/activation   # a local build in ./build

Each workload times the kernel (`benchmark_*`) and its PyTorch eager
equivalent (`verify_*`, whose result the kernel output is checked against).
Like the kernels, the eager references write into preallocated tensors
(`out=`), so neither side times an allocation.
"""

import torch

from kernels.benchmark import Benchmark

aten = torch.ops.aten

# (tokens, hidden): the gated input is [tokens, 2 * hidden].
SHAPES = {"small": (128, 2048), "large": (4096, 4096)}


class _Gated(Benchmark):
    seed: int = 0
    dtype = torch.bfloat16

    def _setup(self, size: str) -> None:
        tokens, hidden = SHAPES[size]
        self.x = torch.randn(tokens, 2 * hidden, device=self.device, dtype=self.dtype)
        self.out = torch.empty(tokens, hidden, device=self.device, dtype=self.dtype)
        # Eager: act(x1) into `tmp`, then tmp * x2 into `ref`.
        self.tmp = torch.empty_like(self.out)
        self.ref = torch.empty_like(self.out)

    def _halves(self):
        d = self.x.shape[-1] // 2
        return self.x[..., :d], self.x[..., d:]

    def setup_small(self):
        self._setup("small")

    def setup_large(self):
        self._setup("large")


class SiluAndMulBenchmark(_Gated):
    def benchmark_small(self):
        self.kernel.silu_and_mul(self.out, self.x)

    def verify_small(self) -> torch.Tensor:
        x1, x2 = self._halves()
        aten.silu.out(x1, out=self.tmp)
        return torch.mul(self.tmp, x2, out=self.ref)

    benchmark_large = benchmark_small
    verify_large = verify_small


class GeluAndMulBenchmark(_Gated):
    def benchmark_small(self):
        self.kernel.gelu_and_mul(self.out, self.x)

    def verify_small(self) -> torch.Tensor:
        x1, x2 = self._halves()
        aten.gelu.out(x1, out=self.tmp)
        return torch.mul(self.tmp, x2, out=self.ref)

    benchmark_large = benchmark_small
    verify_large = verify_small


class GeluTanhAndMulBenchmark(_Gated):
    def benchmark_large(self):
        self.kernel.gelu_tanh_and_mul(self.out, self.x)

    def verify_large(self) -> torch.Tensor:
        x1, x2 = self._halves()
        aten.gelu.out(x1, approximate="tanh", out=self.tmp)
        return torch.mul(self.tmp, x2, out=self.ref)


class FatreluAndMulBenchmark(_Gated):
    def benchmark_large(self):
        self.kernel.fatrelu_and_mul(self.out, self.x, 0.1)

    def verify_large(self) -> torch.Tensor:
        x1, x2 = self._halves()
        torch.threshold(x1, 0.1, 0.0, out=self.tmp)
        return torch.mul(self.tmp, x2, out=self.ref)


class _Plain(Benchmark):
    seed: int = 0
    dtype = torch.bfloat16

    def setup_large(self):
        self.x = torch.randn(4096, 4096, device=self.device, dtype=self.dtype)
        self.out = torch.empty_like(self.x)
        self.tmp = torch.empty_like(self.x)
        self.ref = torch.empty_like(self.x)


class GeluFastBenchmark(_Plain):
    def benchmark_large(self):
        self.kernel.gelu_fast(self.out, self.x)

    def verify_large(self) -> torch.Tensor:
        return aten.gelu.out(self.x, approximate="tanh", out=self.ref)


class GeluNewBenchmark(_Plain):
    def benchmark_large(self):
        self.kernel.gelu_new(self.out, self.x)

    def verify_large(self) -> torch.Tensor:
        return aten.gelu.out(self.x, approximate="tanh", out=self.ref)


class GeluQuickBenchmark(_Plain):
    def benchmark_large(self):
        self.kernel.gelu_quick(self.out, self.x)

    def verify_large(self) -> torch.Tensor:
        # x * sigmoid(1.702 x)
        torch.mul(self.x, 1.702, out=self.tmp)
        torch.sigmoid(self.tmp, out=self.tmp)
        return torch.mul(self.x, self.tmp, out=self.ref)
