#!/usr/bin/env python3
"""Build speed of `kernel-builder build --local` against torch.utils.cpp_extension.

Both tools build the same sources of one kernel (default: examples/relu) in
private copies under a work directory, with the same compile flags: the C++
standard, architectures and per-kernel flags come from `kernel-builder plan
--json`; -O3, -DNDEBUG, -fno-gnu-unique and -fopenmp (when torch uses OpenMP)
are what kernel-builder's generated CMake adds. The peer is a setup.py with
BuildExtension (ninja) run as `python setup.py build_ext`, one Python start;
kernel-builder's time includes its checks (ABI, layout, loader). After the
runs, the compile commands of both ninja files are compared (-std, -O, -g,
-fopenmp, -gencode) and any difference is printed.

Scenarios (kernel-builder and peer alternate which goes first, per repetition):
  clean-cpu      clean build of the CPU variant (build/ and .kernel-builder/
                 removed; caches under ~/.cache stay warm)
  one-file       touch one kernel source, rebuild the CPU variant
  noop           rebuild the CPU variant with nothing changed (% of clean)
  commit         kernel-builder only: an empty commit (new ops name, no source
                 change), rebuild the CPU variant; reports the objects that were
                 recompiled and whether CMake re-ran
  clean-cuda     clean build of the CUDA variant (all its capabilities)
  two-variants   kernel-builder only: CPU + CUDA in one clean `build` call; wall
                 time against the CPU time of all child processes / cores

Before the timed runs, each side does one untimed clean CPU build (page cache,
first-use probes), and kernel-builder one CUDA build when CUDA is measured (its
precompiled headers are cached across builds). The warm-up also starts
kernel-builder's loader server, so the timed builds' loader checks skip the
torch import; the report says how the last check ran, and
KERNEL_BUILDER_NO_LOADER_SERVER=1 measures without the server. Timings are medians over --reps; the load average (1 min)
before and after each run is printed with them. The
report is information, not a pass/fail test: the exit status is non-zero only
when a build fails.
"""

import argparse
import json
import os
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIOS = ["clean-cpu", "one-file", "noop", "commit", "clean-cuda", "two-variants"]
CUDA_SCENARIOS = {"clean-cuda", "two-variants"}
TIMEOUT = 3600  # seconds per build
CXX_SUFFIXES = (".cpp", ".cc", ".cxx", ".c")
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost", "-c", "commit.gpgsign=false"]


class BenchError(Exception):
    pass


def loadavg():
    return os.getloadavg()[0]


def timed(cmd, cwd, env, log):
    """Run `cmd`; wall seconds, CPU seconds of all its descendants, load before/after."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load0 = loadavg()
    start = time.perf_counter()
    with open(log, "ab") as f:
        f.write(f"\n$ {shlex.join(map(str, cmd))}\n".encode())
        f.flush()
        try:
            rc = subprocess.run(
                cmd, check=False, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT, timeout=TIMEOUT
            ).returncode
        except subprocess.TimeoutExpired:
            raise BenchError(f"timed out after {TIMEOUT} s: {shlex.join(map(str, cmd))} (log: {log})")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if rc != 0:
        raise BenchError(f"failed ({rc}): {shlex.join(map(str, cmd))}; log: {log}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu, "load": [load0, loadavg()]}


def copy_kernel(src, dest):
    shutil.copytree(
        src,
        dest,
        symlinks=True,
        ignore=shutil.ignore_patterns("build", ".kernel-builder", "__pycache__", "*.pyc", ".git"),
    )


def gencodes(capabilities):
    flags = []
    for cap in capabilities:
        sm = cap.replace("+PTX", "").replace(".", "")
        flags.append(f"-gencode=arch=compute_{sm},code=sm_{sm}")
        if cap.endswith("+PTX"):
            flags.append(f"-gencode=arch=compute_{sm},code=compute_{sm}")
    return flags


def torch_uses_openmp(python):
    code = (
        "import torch.utils.cpp_extension as e, pathlib\n"
        "for d in e.include_paths():\n"
        "    c = pathlib.Path(d, 'ATen', 'Config.h')\n"
        "    if c.exists():\n"
        "        print(int('#define AT_PARALLEL_OPENMP 1' in c.read_text())); break\n"
    )
    return (
        subprocess.run([python, "-c", code], capture_output=True, text=True, check=True, timeout=300).stdout.strip()
        == "1"
    )


REGISTRATION_H = """\
// Written by scripts/bench-build.py for the torch.utils.cpp_extension build:
// the macros the kernel's binding uses, as kernel-builder's generated header
// defines them (TORCH_EXTENSION_NAME comes from BuildExtension).
#pragma once
#include <Python.h>
#define BENCH_CONCAT_(A, B) A##B
#define BENCH_CONCAT(A, B) BENCH_CONCAT_(A, B)
#define BENCH_STR_(A) #A
#define BENCH_STR(A) BENCH_STR_(A)
#define TORCH_LIBRARY_EXPAND(NAME, MODULE) TORCH_LIBRARY(NAME, MODULE)
#define TORCH_LIBRARY_IMPL_EXPAND(NAME, DEVICE, MODULE) TORCH_LIBRARY_IMPL(NAME, DEVICE, MODULE)
#define REGISTER_EXTENSION(NAME)                                               \\
  PyMODINIT_FUNC BENCH_CONCAT(PyInit_, NAME)() {                               \\
    static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, BENCH_STR(NAME), \\
                                        nullptr, 0, nullptr};                  \\
    return PyModule_Create(&module);                                           \\
  }
"""

SETUP_PY = """\
# Written by scripts/bench-build.py: the torch.utils.cpp_extension build of the
# {variant} sources, with kernel-builder's compile flags.
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, {ext_class}

setup(
    name="{name}",
    ext_modules=[
        {ext_class}(
            name="{name}",
            sources={sources!r},
            include_dirs={include_dirs!r},
            extra_compile_args={extra!r},
            py_limited_api=True,
        )
    ],
    cmdclass={{"build_ext": BuildExtension.with_options(use_ninja=True)}},
)
"""


class Peer:
    """The kernel's sources built by a generated setup.py per variant."""

    def __init__(self, root, python, env, log):
        self.root, self.python, self.env, self.log = root, python, env, log
        (root / "_bench").mkdir()
        (root / "_bench" / "registration.h").write_text(REGISTRATION_H)

    def write_setup(self, key, variant, backend, cxx, nvcc):
        root = self.root
        sources = [s for s in variant["src"] if s.endswith(CXX_SUFFIXES)]
        includes = {str(root), str(root / "torch-ext"), str(root / "_bench")}
        includes |= {str(root / Path(s).parent) for s in variant["src"]}
        includes |= {str(root / i) for i in variant.get("include", [])}
        cxx = list(cxx) + list(variant.get("cxx-flags", []))
        nvcc = list(nvcc)
        for k in variant["kernels"]:
            if k["backend"] != backend:
                continue
            sources += [s for s in k["src"] if s.endswith(CXX_SUFFIXES + (".cu",))]
            includes |= {str(root / i) for i in k.get("include", [])}
            cxx += k.get("cxx-flags", [])
            nvcc += k.get("cuda-flags", []) + gencodes(k.get("cuda-capabilities", []))
        extra = {"cxx": cxx}
        if nvcc:
            extra["nvcc"] = nvcc
        name = f"_bench_peer_{key}"
        text = SETUP_PY.format(
            variant=variant["name"],
            name=name,
            sources=sources,
            include_dirs=sorted(includes),
            extra=extra,
            ext_class="CUDAExtension" if backend == "cuda" else "CppExtension",
        )
        (root / f"setup_{key}.py").write_text(text)

    def clean(self, key):
        for d in (f"tmp-{key}", f"out-{key}"):
            shutil.rmtree(self.root / d, ignore_errors=True)

    def build(self, key):
        cmd = [self.python, f"setup_{key}.py", "-q", "build_ext", "-t", f"tmp-{key}", "-b", f"out-{key}"]
        return timed(cmd, self.root, self.env, self.log)

    def ninja_dir(self, key):
        return self.root / f"tmp-{key}"


class KernelBuilder:
    def __init__(self, root, kb, log):
        self.root, self.kb, self.log = root, kb, log
        subprocess.run(GIT + ["init", "-q"], cwd=root, check=True, timeout=60)
        subprocess.run(GIT + ["add", "-A"], cwd=root, check=True, timeout=60)
        subprocess.run(GIT + ["commit", "-q", "-m", "bench"], cwd=root, check=True, timeout=60)

    def clean(self):
        for d in ("build", ".kernel-builder"):
            shutil.rmtree(self.root / d, ignore_errors=True)

    def build(self, variants):
        cmd = [self.kb, "build", "--local"]
        for v in variants:
            cmd += ["--variant", v]
        return timed(cmd + [str(self.root)], self.root, None, self.log)

    def commit_empty(self):
        subprocess.run(
            GIT + ["commit", "-q", "--allow-empty", "-m", "no source change"], cwd=self.root, check=True, timeout=60
        )

    def state(self):
        """mtimes of object files and CMake outputs under .kernel-builder/."""
        work = self.root / ".kernel-builder"
        files = {}
        for p in work.rglob("*") if work.is_dir() else []:
            if p.is_file() and not p.is_symlink() and (p.suffix == ".o" or p.name in ("CMakeCache.txt", "build.ninja")):
                files[p] = p.stat().st_mtime_ns
        return files

    def loader_line(self, variant):
        """How the last build's loader check ran (its `loader check:` log line)."""
        log = self.root / ".kernel-builder" / variant / "build.log"
        try:
            text = log.read_text(errors="replace")
        except OSError:
            return None
        lines = [x for x in text.splitlines() if x.startswith("loader check: ")]
        return lines[-1].removeprefix("loader check: ") if lines else None

    def ninja_dirs(self, variant):
        base = self.root / ".kernel-builder" / variant
        return sorted(p.parent for p in base.rglob("build.ninja")) if base.is_dir() else []


def changed(before, after):
    return sorted({p for p, m in after.items() if before.get(p) != m}, key=str)


# ---- compile flag comparison -------------------------------------------------


# What torch.utils.cpp_extension adds to every nvcc command.
CPP_EXTENSION_CUDA_NO = (
    "__CUDA_NO_HALF_OPERATORS__",
    "__CUDA_NO_HALF_CONVERSIONS__",
    "__CUDA_NO_BFLOAT16_CONVERSIONS__",
    "__CUDA_NO_HALF2_OPERATORS__",
)


def compile_flags(ninja, build_dir):
    """{source basename: {key flag: value}} from `ninja -t commands`."""
    try:
        out = subprocess.run(
            [ninja, "-C", str(build_dir), "-t", "commands"], capture_output=True, text=True, check=True, timeout=120
        ).stdout
    except (subprocess.SubprocessError, OSError):
        return {}
    result = {}
    for line in out.splitlines():
        try:
            tokens = shlex.split(line)
        except ValueError:
            continue
        if "-c" not in tokens:
            continue
        src, skip = None, False
        for t in tokens[1:]:
            if skip:
                skip = False
            elif t in ("-o", "-MF", "-MT", "-MQ", "--dependency-output", "-ccbin"):
                skip = True
            elif t.endswith(CXX_SUFFIXES + (".cu",)):
                src = t
                break
        if src is None:
            continue
        # cuda_no: -D__CUDA_NO_HALF_OPERATORS__ and the like still in effect
        # (a later -U cancels a -D).
        flags = {"std": None, "O": None, "g": "off", "openmp": False, "gencode": [], "cuda_no": []}
        for t in tokens:
            t = t.removeprefix("-Xcompiler=")
            if t.startswith("-std="):
                flags["std"] = t
            elif t.startswith("-O"):
                flags["O"] = t
            elif t == "-g0":
                flags["g"] = "off"
            elif t.startswith("-g") and t[2:].isdigit() or t == "-g":
                flags["g"] = t
            elif t == "-fopenmp":
                flags["openmp"] = True
            elif t.startswith("-gencode"):
                flags["gencode"].append(t.replace("-gencode=", "").replace("-gencode ", ""))
            elif t.startswith("-D__CUDA_NO_"):
                flags["cuda_no"].append(t[2:])
            elif t.startswith("-U__CUDA_NO_"):
                flags["cuda_no"] = [m for m in flags["cuda_no"] if m != t[2:]]
        flags["gencode"] = sorted(flags["gencode"])
        flags["cuda_no"] = sorted(set(flags["cuda_no"]))
        result[Path(src).name] = flags
    return result


def describe_flags(f):
    parts = [f["std"] or "-std=?", f["O"] or "-O?", "-g" if f["g"] != "off" else "no -g"]
    if f["openmp"]:
        parts.append("-fopenmp")
    if f["gencode"]:
        parts.append(f"{len(f['gencode'])} gencodes")
    if f["cuda_no"]:
        parts.append(f"{len(f['cuda_no'])} -D__CUDA_NO_*")
    return " ".join(parts)


# ---- report ------------------------------------------------------------------


def med(runs, key="wall"):
    return statistics.median(r[key] for r in runs)


def spread(runs):
    walls = [r["wall"] for r in runs]
    return f"{statistics.median(walls):.2f} s" + (f" [{min(walls):.1f}-{max(walls):.1f}]" if len(walls) > 1 else "")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("--kernel-builder", required=True, help="kernel-builder binary")
    parser.add_argument("--kernel", type=Path, default=Path(__file__).resolve().parents[1] / "examples" / "relu")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each scenario (median)")
    parser.add_argument("--no-cuda", action="store_true", help="skip the CUDA scenarios")
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated subset of {','.join(SCENARIOS)}"
    )
    parser.add_argument("--torch", default="2.15")
    parser.add_argument("--cuda", default="13.2")
    parser.add_argument("--cpu-variant", default="torch215-cxx11-cpu-x86_64-linux")
    parser.add_argument("--cuda-variant", default="torch215-cxx11-cu132-x86_64-linux")
    parser.add_argument(
        "--touch", default=None, help="source touched by one-file (default: the first CPU kernel source)"
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="default: a new temporary directory, removed after")
    parser.add_argument("--json", type=Path, default=None, help="also write all samples here")
    args = parser.parse_args()

    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    kb = str(Path(args.kernel_builder).resolve())
    kernel = args.kernel.resolve()
    cores = len(os.sched_getaffinity(0))

    toolchain_cmd = [kb, "toolchain", "--torch", args.torch, "--json"]
    notes = []
    cuda = None
    if args.no_cuda:
        notes.append("CUDA scenarios skipped (--no-cuda)")
    elif CUDA_SCENARIOS & set(scenarios):
        p = subprocess.run(
            toolchain_cmd + ["--cuda", args.cuda], check=False, capture_output=True, text=True, timeout=1800
        )
        cuda = json.loads(p.stdout).get("cuda") if p.returncode == 0 else None
        if not cuda:
            notes.append(f"CUDA scenarios skipped: no CUDA {args.cuda} toolchain ({p.stderr.strip()[-300:]})")
    if cuda is None:
        scenarios = [s for s in scenarios if s not in CUDA_SCENARIOS]
    tc = json.loads(subprocess.run(toolchain_cmd, capture_output=True, text=True, check=True, timeout=1800).stdout)
    python, ninja = tc["torch"]["python"], tc["torch"]["ninja"]

    plan = json.loads(
        subprocess.run(
            [kb, "plan", "--json", str(kernel)], capture_output=True, text=True, check=True, timeout=120
        ).stdout
    )
    variants = {v["name"]: v for v in plan["variants"]}
    for name in [args.cpu_variant] + ([args.cuda_variant] if cuda else []):
        if name not in variants:
            raise BenchError(f"{kernel}: the plan has no variant {name}")
    cpu_v = variants[args.cpu_variant]
    std = f"-std=c++{cpu_v['torch']['cxx-standard']}"
    # -g0 and -fno-wrapv undo the -g and -fwrapv that setup.py takes from Python's CFLAGS.
    cxx = ["-O3", "-DNDEBUG", std, "-g0", "-fno-wrapv", "-fno-gnu-unique"]
    if torch_uses_openmp(python):
        cxx.append("-fopenmp")
    cpu_kernel_srcs = [
        s for k in cpu_v["kernels"] if k["backend"] == "cpu" for s in k["src"] if s.endswith(CXX_SUFFIXES)
    ]
    touch = args.touch or (cpu_kernel_srcs[0] if cpu_kernel_srcs else None)
    if "one-file" in scenarios and not touch:
        raise BenchError("one-file: no CPU kernel source to touch; pass --touch")

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="kb-bench-build-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    kb_root, peer_root = work / "kb" / kernel.name, work / "peer" / kernel.name
    for d in (kb_root, peer_root):
        if d.exists():
            shutil.rmtree(d)
        copy_kernel(kernel, d)
    kbt = KernelBuilder(kb_root, kb, log)
    env = dict(os.environ)
    env["PATH"] = f"{Path(python).parent}{os.pathsep}{env.get('PATH', '')}"  # the env's ninja, as pip would
    peer = Peer(peer_root, python, env, log)
    peer.write_setup("cpu", cpu_v, "cpu", cxx + ["-DCPU_KERNEL"], [])
    if cuda:
        # CUDA_HOME as cpp_extension expects it (bin/nvcc, include, lib64/libcudart.so),
        # pointing at kernel-builder's CUDA toolkit.
        home = work / "cuda-home"
        (home / "lib64").mkdir(parents=True, exist_ok=True)
        for link, target in (
            (home / "bin", Path(cuda["nvcc"]).parent),
            (home / "include", Path(cuda["include_dirs"][0])),
            (home / "lib64" / "libcudart.so", Path(cuda["cudart"])),
        ):
            if not link.exists():
                link.symlink_to(target)
        env["CUDA_HOME"] = str(home)
        env.pop("TORCH_CUDA_ARCH_LIST", None)
        cuda_v = dict(variants[args.cuda_variant])
        cuda_v["include"] = list(cuda_v.get("include", [])) + [str(Path(d)) for d in cuda["include_dirs"][1:]]
        nvcc = [
            "-O3",
            std,
            "--expt-relaxed-constexpr",
            "--expt-extended-lambda",
            "-Xcompiler=-fno-gnu-unique",
            "-DCUDA_KERNEL",
            # cpp_extension defines these itself; kernel-builder (like the
            # reference) does not, so half/bfloat16 operators work in both.
            *(f"-U{m}" for m in CPP_EXTENSION_CUDA_NO),
        ]
        peer.write_setup("cuda", cuda_v, "cuda", cxx + ["-DCUDA_KERNEL"], nvcc)

    samples = {s: {"kb": [], "peer": []} for s in scenarios}
    recompiled, cmake_reran = [], []
    load_start = os.getloadavg()
    started = time.perf_counter()

    def both(scenario, rep, kb_fn, peer_fn):
        order = [("kb", kb_fn), ("peer", peer_fn)]
        for who, fn in order if rep % 2 == 0 else order[::-1]:
            samples[scenario][who].append(fn())

    def progress(msg):
        print(f"[{time.perf_counter() - started:6.0f} s, load {loadavg():.2f}] {msg}", file=sys.stderr, flush=True)

    def kb_clean(variants):
        kbt.clean()
        return kbt.build(variants)

    def peer_clean(key):
        peer.clean(key)
        return peer.build(key)

    def touched(root, fn):
        os.utime(root / touch)
        return fn()

    cpu_name = args.cpu_variant
    flags = {}  # (backend, source) -> (kernel-builder flags, peer flags), from the first clean builds

    def record_flags(key, vname):
        if any(k == key for k, _ in flags):
            return
        kb_flags = {}
        for d in kbt.ninja_dirs(vname):
            kb_flags.update(compile_flags(ninja, d))
        peer_flags = compile_flags(ninja, peer.ninja_dir(key))
        for src in sorted(set(kb_flags) | set(peer_flags)):
            flags[(key, src)] = (kb_flags.get(src), peer_flags.get(src))
        if not kb_flags or not peer_flags:
            flags[(key, "?")] = (None, None)

    # Untimed: one clean build of each side first, so that the first timed
    # build does not pay alone for a cold page cache or first-use probes.
    # kernel-builder also builds the CUDA variant once when CUDA is measured:
    # its precompiled headers are a cache kept across builds, like the
    # toolchain (the peer has nothing to keep).
    cuda_measured = cuda and {"clean-cuda", "two-variants"} & set(scenarios)
    progress("warm-up: one untimed clean CPU build each" + (", and CUDA for kernel-builder" if cuda_measured else ""))
    kb_clean([cpu_name] + ([args.cuda_variant] if cuda_measured else []))
    peer_clean("cpu")
    for rep in range(args.reps):
        if {"clean-cpu", "one-file", "noop", "commit"} & set(scenarios):
            progress(f"rep {rep + 1}/{args.reps}: clean CPU builds")
            if "clean-cpu" in scenarios:
                both("clean-cpu", rep, lambda: kb_clean([cpu_name]), lambda: peer_clean("cpu"))
            else:  # the state the other CPU scenarios start from
                kb_clean([cpu_name])
                peer_clean("cpu")
            record_flags("cpu", cpu_name)
        if "one-file" in scenarios:
            progress(f"rep {rep + 1}/{args.reps}: one-file change ({touch})")
            both(
                "one-file",
                rep,
                lambda: touched(kb_root, lambda: kbt.build([cpu_name])),
                lambda: touched(peer_root, lambda: peer.build("cpu")),
            )
        if "noop" in scenarios:
            progress(f"rep {rep + 1}/{args.reps}: no-op rebuilds")
            both("noop", rep, lambda: kbt.build([cpu_name]), lambda: peer.build("cpu"))
        if "commit" in scenarios:
            progress(f"rep {rep + 1}/{args.reps}: commit without source change")
            before = kbt.state()
            kbt.commit_empty()
            samples["commit"]["kb"].append(kbt.build([cpu_name]))
            after = kbt.state()
            new_objects = [p for p in changed(before, after) if p.suffix == ".o"]
            all_objects = {p.name for p in after if p.suffix == ".o"}
            recompiled.append((sorted({p.name for p in new_objects}), len(all_objects)))
            cmake_reran.append(any(p.suffix != ".o" for p in changed(before, after)))
        if "clean-cuda" in scenarios:
            progress(f"rep {rep + 1}/{args.reps}: clean CUDA builds")
            both("clean-cuda", rep, lambda: kb_clean([args.cuda_variant]), lambda: peer_clean("cuda"))
            record_flags("cuda", args.cuda_variant)
        if "two-variants" in scenarios:
            progress(f"rep {rep + 1}/{args.reps}: two variants in one call")
            samples["two-variants"]["kb"].append(kb_clean([cpu_name, args.cuda_variant]))
    load_end = os.getloadavg()

    flag_lines, mismatches = [], []
    for (key, src), (a, b) in sorted(flags.items()):
        if src == "?":
            flag_lines.append(f"  {key}: could not read the compile commands of both builds")
        elif a is None or b is None:
            mismatches.append(f"{key} {src}: compiled by {'kernel-builder' if a else 'cpp_extension'} only")
        else:
            flag_lines.append(
                f"    {key:4s} {src:22s} kernel-builder: {describe_flags(a):36s} cpp_extension: {describe_flags(b)}"
            )
            if a != b:
                mismatches.append(f"{key} {src}: " + ", ".join(f"{k} {a[k]} vs {b[k]}" for k in a if a[k] != b[k]))

    def tool_version(cmd):
        try:
            return (
                subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=60)
                .stdout.strip()
                .splitlines()[0]
            )
        except (OSError, subprocess.SubprocessError, IndexError):
            return "?"

    out = []
    out.append(
        f"build speed: {kernel.name}, kernel-builder build --local (checks included) vs torch.utils.cpp_extension "
        f"(setup.py build_ext, ninja)"
    )
    out.append(
        f"  {tool_version([kb, '--version'])}; torch {args.torch} ({python}); "
        f"{tool_version(['c++', '--version'])}" + (f"; nvcc {cuda['version']}" if cuda else "")
    )
    out.append(
        f"  {cores} cores; load average (1/5/15 min) at start {'/'.join(f'{x:.2f}' for x in load_start)}, "
        f"at end {'/'.join(f'{x:.2f}' for x in load_end)}; {args.reps} repetition(s), interleaved; "
        f"{time.perf_counter() - started:.0f} s in all"
    )
    for n in notes:
        out.append(f"  note: {n}")

    def loads(runs):
        xs = [x for r in runs for x in r["load"]]
        return f"{min(xs):.1f}-{max(xs):.1f}"

    out.append(f"  {'scenario':30s} {'kernel-builder':>22s} {'cpp_extension':>22s} {'ratio':>7s}  load")
    rows = [
        ("clean-cpu", "clean CPU build"),
        ("clean-cuda", "clean CUDA build"),
        ("one-file", "one-file change (CPU)"),
        ("noop", "no-op rebuild (CPU)"),
    ]
    for key, label in rows:
        if key not in samples:
            continue
        k, p = samples[key]["kb"], samples[key]["peer"]
        if key == "clean-cuda":
            caps = next(
                (kk["cuda-capabilities"] for kk in variants[args.cuda_variant]["kernels"] if kk["backend"] == "cuda"),
                [],
            )
            label = f"clean CUDA build ({len(caps)} archs)"
        out.append(f"  {label:30s} {spread(k):>22s} {spread(p):>22s} {med(k) / med(p):7.2f}  {loads(k + p)}")
        if key.startswith("clean"):
            # The floor the cores allow: kernel-builder's CPU time (compilers,
            # CMake, the loader check's Python) spread over every core.
            kc, pc = med(k, "cpu"), med(p, "cpu")
            out.append(
                f"      CPU time {kc:.1f} s vs {pc:.1f} s; all {cores} cores busy all the time would take "
                f"kernel-builder {kc / cores:.1f} s, a ratio of {kc / cores / med(p):.2f}"
            )
        if key == "noop" and "clean-cpu" in samples:
            out.append(
                f"  {'  as % of clean':30s} {100 * med(k) / med(samples['clean-cpu']['kb']):20.1f} % "
                f"{100 * med(p) / med(samples['clean-cpu']['peer']):20.1f} %"
            )
    if "commit" in samples:
        k = samples["commit"]["kb"]
        vs_clean = (
            f" ({med(k) / med(samples['clean-cpu']['kb']):.2f} x its clean build)" if "clean-cpu" in samples else ""
        )
        out.append(f"  {'commit, no source change':30s} {spread(k):>22s} {'-':>22s} {'-':>7s}  {loads(k)}")
        names, total = recompiled[-1]
        out.append(
            f"      recompiled {len(names)} of {total} objects: {', '.join(names) or 'none'}; "
            f"CMake re-ran: {'yes' if cmake_reran[-1] else 'no'}{vs_clean}"
        )
    if "two-variants" in samples:
        k = samples["two-variants"]["kb"]
        wall, cpu = med(k), med(k, "cpu")
        out.append(f"  {'two variants in one call':30s} {spread(k):>22s} {'-':>22s} {'-':>7s}  {loads(k)}")
        line = (
            f"      CPU time of all processes {cpu:.1f} s / {cores} cores = {cpu / cores:.1f} s; "
            f"wall / (CPU / cores) = {wall / (cpu / cores):.2f}"
        )
        if "clean-cpu" in samples and "clean-cuda" in samples:
            line += f"; the two clean builds one by one: {med(samples['clean-cpu']['kb']) + med(samples['clean-cuda']['kb']):.1f} s"
        out.append(line)
    how = kbt.loader_line(args.cuda_variant if "clean-cuda" in samples else cpu_name)
    if how:
        out.append(f"  kernel-builder's last loader check ran in {how}")
        if "server" in how:
            out.append("  (KERNEL_BUILDER_NO_LOADER_SERVER=1 measures each check in an interpreter of its own)")
    out.append("  compile flags as built (from both ninja files):")
    out.extend(flag_lines)
    for m in mismatches:
        out.append(f"  warning: flags differ: {m}")
    out.append(
        f"  logs: {log}"
        if args.work_dir
        else "  (the logs were in a temporary directory, removed; --work-dir keeps them)"
    )
    print("\n".join(out))

    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "samples": samples,
                    "recompiled": recompiled,
                    "cmake_reran": cmake_reran,
                    "cores": cores,
                    "load_start": load_start,
                    "load_end": load_end,
                    "notes": notes,
                    "flag_mismatches": mismatches,
                },
                indent=2,
            )
            + "\n"
        )
    if not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
