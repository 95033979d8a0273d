#!/usr/bin/env bash
# Build speed of `kernel-builder build --local` (checks included) against
# torch.utils.cpp_extension (setup.py, ninja) on the same sources and flags:
# clean CPU and CUDA builds, one-file change, no-op rebuild, a commit without
# source change, two variants in one call. Interleaved runs, medians, ratios;
# a report, not a pass/fail test. See scripts/bench-build.py --help.
#
# Usage: scripts/bench-build.sh [--reps N] [--no-cuda] [--scenarios a,b] [--kernel DIR]
#                               [--work-dir DIR] [--json FILE]
# CUDA scenarios run when `kernel-builder toolchain --cuda 13.2` provides nvcc.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# shellcheck source=/dev/null
. ci/env.sh
exec python3 scripts/bench-build.py --kernel-builder "$kb" "$@"
