#!/usr/bin/env bash
# Checks for the example kernels (examples/), run by scripts/test.sh in CI.
#
#  1. every example passes `kernel-builder check-config`;
#  2. compile checks (ci/examples_compile.py): every CUDA source with nvcc 13.2
#     from the PyPI wheels for all effective capabilities of the plan, every
#     HIP source with Debian's hipcc for gfx90a + gfx1030, every CPU source and
#     the bindings of each backend against the Torch 2.15 headers;
#  3. once `kernel-builder build` is implemented: build the CPU variants, load
#     them with kernels.get_local_kernel and run their `kernels_ci` tests;
#     build the CUDA 13.2 variants of gemm-cublas, gemm-cutlass, saxpy and
#     relu-stable-abi (import/registration check, no GPU) and the tvm-ffi
#     example (CPU tests);
#  4. the relu and activation CPU benchmarks against PyTorch eager writing into
#     a preallocated output (medians; at most 1.25x eager on one thread for
#     workloads of 0.1 ms and more, 1.5x on all cores for 1 ms and more).
#
# Idempotent; installs what it needs. Environment:
#   KB_VENV          Python env with torch 2.15, kernels, pytest
#                    (default: the environment ci/env.sh provisions)
#   KB_CUDA_PREFIX   where the CUDA 13.2 compiler wheels go
#                    (default ~/.cache/kernel-builder/cuda-13.2)
#   KB_JOBS          parallel compile jobs (default 2)
#   KB_EXAMPLES_SKIP_BUILD  space-separated examples to leave out of step 3
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# The shared Torch 2.15 environment of the local build (ci/env.sh), unless
# KB_VENV is given.
if [ -z "${KB_VENV:-}" ] && [ -f ci/env.sh ]; then
  # shellcheck source=/dev/null
  . ci/env.sh
fi
KB_CUDA_PREFIX=${KB_CUDA_PREFIX:-$HOME/.cache/kernel-builder/cuda-13.2}
KB_JOBS=${KB_JOBS:-2}
py=$KB_VENV/bin/python
examples=(relu activation relu-noarch relu-stable-abi relu-cuda-subset gemm-cublas gemm-cutlass saxpy relu-tvm-ffi)
# Compiled by ci/examples_compile.py (the others are covered by step 3b).
compile_examples=(relu activation relu-noarch relu-stable-abi relu-cuda-subset)
cpu_examples=(relu activation relu-noarch relu-stable-abi)

step() { printf '\n== examples: %s\n' "$*"; }

step "toolchains"
if ! "$py" -c 'import torch, kernels, pytest; assert torch.__version__.startswith("2.15.")' 2>/dev/null; then
  echo "installing torch 2.15, kernels, pytest into $KB_VENV"
  [ -x "$py" ] || python3 -m venv "$KB_VENV"
  "$py" -m pip install -q "torch==2.15.*" kernels pytest
fi
"$py" -c 'import torch, kernels; print(f"python env: {torch.__version__=} {kernels.__version__=}")'

# The CUDA compiler wheels go into their own prefix, not into the Torch env:
# Torch pins its own (newer) nvidia-cuda-cccl, and every CUDA component must
# come from the same minor release (nvvm/crt from 13.5 break ptxas 13.2).
nvcc=$KB_CUDA_PREFIX/nvidia/cu13/bin/nvcc
if ! "$nvcc" --version 2>/dev/null | grep -q "release 13.2"; then
  echo "installing the CUDA 13.2 compiler wheels into $KB_CUDA_PREFIX"
  "$py" -m pip install -q --target "$KB_CUDA_PREFIX" --upgrade \
    "nvidia-cuda-nvcc==13.2.*" "nvidia-cuda-cccl==13.2.*" "nvidia-cuda-runtime==13.2.*" \
    "nvidia-nvvm==13.2.*" "nvidia-cuda-crt==13.2.*"
fi
"$nvcc" --version | tail -1

if ! command -v hipcc >/dev/null 2>&1 || ! dpkg -s hipcc libamdhip64-dev rocm-device-libs >/dev/null 2>&1; then
  echo "installing Debian's hipcc"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hipcc libamdhip64-dev rocm-device-libs >/dev/null
fi
hipcc --version 2>/dev/null | head -1 || true

if [ -z "${kb:-}" ]; then
  cargo build --locked -q -p kernel-builder
  kb=$root/target/debug/kernel-builder
fi

step "check-config"
for ex in "${examples[@]}"; do
  "$kb" check-config "examples/$ex"
done

step "compile checks (CUDA 13.2 nvcc, hipcc, g++; $KB_JOBS jobs)"
start=$(date +%s)
"$py" ci/examples_compile.py --kernel-builder "$kb" --nvcc "$nvcc" --jobs "$KB_JOBS" \
  $(printf 'examples/%s ' "${compile_examples[@]}")
# saxpy's ROCm kernel is its CUDA source hipified (the generated hipify.py).
"$py" ci/examples_compile.py --kernel-builder "$kb" --nvcc "$nvcc" --jobs "$KB_JOBS" --backend rocm examples/saxpy
echo "compile checks took $(($(date +%s) - start))s"

step "build CPU variants with kernel-builder build, load them, run kernels_ci tests"
variant_for() {
  case $1 in
    relu-noarch) echo "--variant torch-cpu --variant torch-cuda" ;;
    relu-stable-abi) echo "--variant torch-stable-abi211-cpu-x86_64-linux" ;;
    *) echo "--variant torch215-cxx11-cpu-x86_64-linux" ;;
  esac
}
probe=$("$kb" build --local --variant torch215-cxx11-cpu-x86_64-linux examples/relu 2>&1) && probe_rc=0 || probe_rc=$?
if [ "$probe_rc" -ne 0 ] && grep -q "not yet implemented" <<<"$probe"; then
  echo "skipped: $probe"
else
  if [ "$probe_rc" -ne 0 ]; then
    echo "$probe"
    echo "error: kernel-builder build failed for examples/relu" >&2
    exit 1
  fi
  for ex in "${cpu_examples[@]}"; do
    if [[ " ${KB_EXAMPLES_SKIP_BUILD:-} " == *" $ex "* ]]; then
      echo "skipped $ex (KB_EXAMPLES_SKIP_BUILD)"
      continue
    fi
    echo "-- $ex"
    start=$(date +%s)
    # shellcheck disable=SC2046
    "$kb" build --local $(variant_for "$ex") "examples/$ex"
    echo "build took $(($(date +%s) - start))s"
    # Explicit backend: a missing or unloadable CPU build fails the tests.
    (cd "examples/$ex" && KERNEL_TEST_BACKENDS=cpu "$py" -m pytest -q -m kernels_ci tests)
  done

  step "build CUDA 13.2 variants of the CUDA examples (get_kernel import/registration check)"
  # No GPU here: the build's get_kernel check imports each variant and its
  # op registration; the kernels_ci tests of these run where a GPU is.
  for ex in gemm-cublas gemm-cutlass saxpy relu-stable-abi; do
    if [[ " ${KB_EXAMPLES_SKIP_BUILD:-} " == *" $ex "* ]]; then
      echo "skipped $ex (KB_EXAMPLES_SKIP_BUILD)"
      continue
    fi
    case $ex in
      relu-stable-abi) variant=torch-stable-abi211-cu132-x86_64-linux ;;
      *) variant=torch215-cxx11-cu132-x86_64-linux ;;
    esac
    start=$(date +%s)
    "$kb" build --local --variant "$variant" "examples/$ex"
    "$py" - "examples/$ex/build/$variant" <<'PY'
import json, sys
m = json.load(open(sys.argv[1] + "/metadata.json"))
check = m["build-info"].get("get-kernel-check")
assert check is None, f"get_kernel check did not run: {check}"
print(f"{sys.argv[1]}: loaded by kernels.get_local_kernel, archs {m['backend']['archs']}")
PY
    echo "$ex: build took $(($(date +%s) - start))s"
  done

  step "tvm-ffi: relu-tvm-ffi CPU + CUDA 13.2 builds, CPU tests"
  start=$(date +%s)
  "$kb" build --local --variant tvm-ffi01-cpu-x86_64-linux --variant tvm-ffi01-cu132-x86_64-linux examples/relu-tvm-ffi
  (cd examples/relu-tvm-ffi && KERNEL_TEST_BACKENDS=cpu "$py" -m pytest -q -m kernels_ci tests)
  echo "relu-tvm-ffi: took $(($(date +%s) - start))s"

  step "CPU benchmarks (kernel vs PyTorch eager writing into out=, medians)"
  start=$(date +%s)
  for ex in relu activation; do
    # One thread: the kernel's own speed (vector code, memory traffic); no
    # thread waits on another, so a busy machine moves both sides alike.
    # Workloads under 0.1 ms are reported, not gated: there the time is the
    # call (torch.ops dispatch and the Python wrapper, a few us the eager
    # reference, a native function, does not pay), not the kernel.
    "$py" ci/examples_bench.py "examples/$ex" --backend cpu --threads 1 --rounds 3 --max-slowdown 1.25 --gate-min-ms 0.1
    # All cores: the parallel split. Workloads under 1 ms are reported, not
    # gated: there one descheduled thread (a scheduler slice) is the time.
    "$py" ci/examples_bench.py "examples/$ex" --backend cpu --rounds 3 --max-slowdown 1.5 --gate-min-ms 1
  done
  echo "benchmarks took $(($(date +%s) - start))s"
fi
echo "examples: all checks passed"
