#!/usr/bin/env bash
# The local backend end to end, no GPU needed (builder/cli/tests/it/local_build.rs):
# builds of examples/relu in a temporary directory that the real `kernels`
# loader accepts, reported Hub-compliant (ci/compliance.sh proves it), failed
# and killed builds keep the previous variant, rebuild timings. The torch
# environment and the CUDA wheels come from ci/env.sh / `kernel-builder
# toolchain`.
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/env.sh
"$kb" toolchain --torch 2.15 --cuda 13.2 -q >/dev/null
cargo test --locked -q -p kernel-builder --test it -- --ignored local_build --nocapture --test-threads 1
