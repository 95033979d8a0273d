"""Time an example's kernel against its PyTorch eager reference.

Runs the `Benchmark` classes of EXAMPLE_DIR/benchmarks/benchmark.py (the
format of `kernels benchmark`) on one backend: the variant of that backend is
loaded with `kernels.get_local_kernel(DIR, backend=...)`, each workload's
`benchmark_<name>` (the kernel) and `verify_<name>` (the eager reference,
which writes into a preallocated tensor like the kernel does) are checked
against each other once and then timed with `torch.utils.benchmark`
(blocked_autorange), alternating kernel and reference for --rounds rounds.
The figures are medians over all timed blocks, with a pinned thread count and
the machine load (os.getloadavg) before and after.

Usage: python ci/examples_bench.py EXAMPLE_DIR [--backend cpu] [--threads N]
       [--rounds 5] [--min-run-time 0.2] [--max-slowdown 1.25] [--slack-us 0]
       [--gate-min-ms 0] [--only SUBSTRING]

Exits 1 if a workload's output does not match its reference, or, with
--max-slowdown F, if a kernel median exceeds F x reference median + --slack-us
(for the workloads whose fastest reference block takes at least --gate-min-ms).
"""

import argparse
import importlib.util
import os
import random
import statistics
import sys
from pathlib import Path

import torch
import torch.utils.benchmark as tbench
from kernels import get_local_kernel
from kernels.benchmark import Benchmark

DEVICE = {"cpu": "cpu", "cuda": "cuda", "rocm": "cuda", "xpu": "xpu", "metal": "mps"}


def benchmark_classes(script):
    spec = importlib.util.spec_from_file_location("example_benchmark", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Benchmark)
        and obj.__module__ == module.__name__
        and any(n.startswith("benchmark_") for n in dir(obj))
    ]


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()
    elif device == "xpu":
        torch.xpu.synchronize()
    elif device == "mps":
        torch.mps.synchronize()


def load():
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def interleaved(fns, threads, rounds, min_run_time):
    """Per-call times (s) of every block of each function, the functions
    alternating (order reversed every other round, so drift hits both)."""
    timers = [tbench.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads) for fn in fns]
    times = [[] for _ in fns]
    for r in range(rounds):
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            times[i].extend(timers[i].blocked_autorange(min_run_time=min_run_time).times)
    return times


def quartiles(xs):
    q = statistics.quantiles(xs, n=4) if len(xs) > 1 else [xs[0]] * 3
    return q[0], q[1], q[2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("example", type=Path)
    parser.add_argument("--backend", default="cpu", choices=sorted(DEVICE))
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    parser.add_argument("--rounds", type=int, default=5, help="kernel/reference alternations per workload")
    parser.add_argument("--min-run-time", type=float, default=0.2, help="seconds per blocked_autorange")
    parser.add_argument("--max-slowdown", type=float, default=None)
    parser.add_argument(
        "--slack-us", type=float, default=0.0, help="absolute allowance added to the limit (fixed per-call overhead)"
    )
    parser.add_argument(
        "--gate-min-ms",
        type=float,
        default=0.0,
        help="apply --max-slowdown only where the fastest eager block is at least this long",
    )
    parser.add_argument("--only", default=None, help="run the workloads whose label contains this")
    args = parser.parse_args()

    device = DEVICE[args.backend]
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    kernel = get_local_kernel(args.example.resolve(), backend=args.backend)
    load_before = load()
    rows, problems, ungated = [], [], []
    classes = sorted(benchmark_classes(args.example / "benchmarks" / "benchmark.py"), key=lambda c: c.__name__)
    for cls in classes:
        for method in sorted(n for n in dir(cls) if n.startswith("benchmark_")):
            workload = method[len("benchmark_") :]
            label = f"{cls.__name__}.{workload}"
            if args.only and args.only not in label:
                continue
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
            if verify is None:
                (k_times,) = interleaved([run], threads, args.rounds, args.min_run_time)
                rows.append((label, quartiles(k_times), None))
                continue
            expected = verify()
            sync(device)
            if expected.data_ptr() == bench.out.data_ptr():
                problems.append(f"{label}: the reference writes into the kernel's output")
            elif not torch.allclose(bench.out.float(), expected.float(), atol=1e-2, rtol=1e-2):
                problems.append(f"{label}: output does not match the reference")
            k_times, e_times = interleaved([run, verify], threads, args.rounds, args.min_run_time)
            k, e = quartiles(k_times), quartiles(e_times)
            rows.append((label, k, e))
            limit = e[1] * (args.max_slowdown or 0) + args.slack_us * 1e-6
            # Size by the fastest reference block: on a busy machine the median
            # of a short workload can be a scheduler slice.
            gated = args.max_slowdown and min(e_times) * 1e3 >= args.gate_min_ms
            if not gated:
                ungated.append(label)
            elif k[1] > limit:
                problems.append(
                    f"{label}: kernel median {k[1] * 1e3:.4f} ms > {args.max_slowdown} x eager "
                    f"{e[1] * 1e3:.4f} ms + {args.slack_us} us"
                )

    print(
        f"{args.example.resolve().name} on {args.backend}: torch {torch.__version__}, {threads} threads "
        f"(of {os.cpu_count()} CPUs), CPU capability {torch.backends.cpu.get_cpu_capability()}; "
        f"load average (1/5/15 min) before {load_before}, after {load()}"
    )
    print(f"medians over {args.rounds} interleaved rounds of blocked_autorange({args.min_run_time} s); IQR in brackets")
    print(f"  {'workload':34s} {'kernel ms':>20s} {'eager ms':>20s} {'eager/kernel':>12s}")

    def fmt(q):
        return f"{q[1] * 1e3:9.4f} [{(q[2] - q[0]) * 1e3:7.4f}]"

    for label, k, e in rows:
        eager = fmt(e) if e else f"{'-':>20s}"
        speedup = f"{e[1] / k[1]:11.2f}x" if e else ""
        print(f"  {label:34s} {fmt(k)} {eager} {speedup:>12s}")
    if args.max_slowdown and ungated:
        print(f"  not gated (eager under {args.gate_min_ms} ms): {', '.join(ungated)}")
    for p in problems:
        print(f"error: {p}", file=sys.stderr)
    if not rows:
        print("error: no benchmark workloads found", file=sys.stderr)
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
