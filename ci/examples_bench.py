"""Run an example's `benchmarks/benchmark.py` on one backend and compare
each workload with its PyTorch eager reference.

`kernels benchmark DIR` picks the backend Torch was built for (CUDA for the
default PyPI wheel, even without a GPU) and times the reference once; this
runner loads the variant of the requested backend with
`kernels.get_local_kernel(DIR, backend=...)` and times kernel and reference
alike (warmup, then the mean of N calls), using the same Benchmark classes.

Usage: python ci/examples_bench.py EXAMPLE_DIR [--backend cpu] [--iterations 20]
       [--max-slowdown 1.25]
Exits 1 if a workload's output does not match its reference, or if the kernel
is more than --max-slowdown times slower than eager on any workload.
"""

import argparse
import importlib.util
import random
import sys
import time
from pathlib import Path

import torch
from kernels import get_local_kernel
from kernels.benchmark import Benchmark

DEVICE = {"cpu": "cpu", "cuda": "cuda", "rocm": "cuda", "xpu": "xpu", "metal": "mps"}


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "xpu":
        torch.xpu.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def mean_ms(fn, device, warmup, iterations):
    for _ in range(warmup):
        fn()
    sync(device)
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    sync(device)
    return (time.perf_counter() - start) / iterations * 1e3


def benchmark_classes(script):
    spec = importlib.util.spec_from_file_location("example_benchmark", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, Benchmark) and obj.__module__ == module.__name__
        and any(n.startswith("benchmark_") for n in dir(obj))
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("example", type=Path)
    parser.add_argument("--backend", default="cpu")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--max-slowdown", type=float, default=None)
    args = parser.parse_args()

    device = DEVICE[args.backend]
    kernel = get_local_kernel(args.example.resolve(), backend=args.backend)
    rows, problems = [], []
    for cls in sorted(benchmark_classes(args.example / "benchmarks" / "benchmark.py"), key=lambda c: c.__name__):
        for method in sorted(n for n in dir(cls) if n.startswith("benchmark_")):
            workload = method[len("benchmark_"):]
            bench = cls()
            bench.kernel = kernel
            bench.device = device
            if bench.seed is not None:
                torch.manual_seed(bench.seed)
                random.seed(bench.seed)
            getattr(bench, f"setup_{workload}", bench.setup)()
            run = getattr(bench, method)
            verify = getattr(bench, f"verify_{workload}", None)
            run()
            sync(device)
            label = f"{cls.__name__}.{workload}"
            kernel_ms = mean_ms(run, device, args.warmup, args.iterations)
            eager_ms = None
            if verify is not None:
                expected = verify()
                if not torch.allclose(bench.out.float(), expected.float(), atol=1e-2, rtol=1e-2):
                    problems.append(f"{label}: output does not match the reference")
                eager_ms = mean_ms(verify, device, args.warmup, args.iterations)
                if args.max_slowdown and kernel_ms > eager_ms * args.max_slowdown:
                    problems.append(f"{label}: kernel {kernel_ms:.3f} ms is more than {args.max_slowdown}x eager {eager_ms:.3f} ms")
            rows.append((label, kernel_ms, eager_ms))

    print(f"{args.example.resolve().name} on {args.backend} ({torch.get_num_threads()} threads, torch {torch.__version__}), mean of {args.iterations} calls:")
    print(f"  {'workload':40s} {'kernel ms':>10s} {'eager ms':>10s} {'speedup':>8s}")
    for label, k, e in rows:
        speedup = f"{e / k:7.2f}x" if e else ""
        eager = f"{e:10.3f}" if e else f"{'-':>10s}"
        print(f"  {label:40s} {k:10.3f} {eager} {speedup:>8s}")
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if not rows:
        print("error: no benchmark workloads found", file=sys.stderr)
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
