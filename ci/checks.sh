#!/usr/bin/env bash
# Heavy checks of the verifier (issue [3]): check-abi, check-builds, hash and
# verify against real inputs. Idempotent; installs what it needs:
# - Debian: gcc/g++/binutils, clang + lld + llvm (Mach-O and PE test modules),
#   zlib and OpenSSL headers (link tests), hyperfine (benchmark).
# - A Python venv with torch 2.15.0, kernels and auditwheel at $KB_VENV
#   (default: the shared environment ci/env.sh provisions), reused when complete.
# Then runs the ignored checks_* tests (the real loader, a compiled Torch
# extension, a stripped copy of libtorch_cpu.so, Mach-O and PE modules built
# with clang), a type-check of the fuzz target (fuzz/ is not a workspace
# member) and the check-abi benchmark (KB_BENCH=0 skips it; a missed goal
# is reported, not fatal: timings on shared CI machines vary).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for p in build-essential python3-venv clang-15 lld-15 llvm-15 zlib1g-dev libssl-dev hyperfine; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "ci/checks.sh: missing Debian packages (${need[*]}); install them as root" >&2
  fi
fi

# The torch environment: reuse the shared one when ci/env.sh provides it.
# One torch environment for all of CI (never a second multi-GB install).
if [ -z "${KB_VENV:-}" ]; then
  # shellcheck disable=SC1091
  source ci/env.sh
fi
export KB_VENV
py="$KB_VENV/bin/python"
if [ ! -x "$py" ]; then
  python3 -m venv "$KB_VENV"
fi
if ! "$py" - <<'PY' 2>/dev/null
import auditwheel, kernels, torch
assert torch.__version__.startswith("2.15.0"), torch.__version__
PY
then
  "$py" -m pip install --quiet --disable-pip-version-check "torch==2.15.0" "kernels==0.17.2" auditwheel
fi
"$py" -c "import torch, kernels; print(f'ci/checks.sh: torch {torch.__version__}, kernels {kernels.__version__} in $KB_VENV')"

echo "== checks: check-abi, check-builds, hash, verify (the ignored tests)"
cargo test --locked -p kernel-builder --test it -- --ignored checks_

echo "== checks: the fuzz target still compiles against the oracle (fuzz/, not a workspace member)"
CARGO_TARGET_DIR=target/fuzz-check cargo check --locked -q --manifest-path fuzz/Cargo.toml --bins

if [ "${KB_BENCH:-1}" != 0 ]; then
  echo "== checks: benchmark check-abi vs auditwheel vs cat"
  AUDITWHEEL_PYTHON="$py" scripts/bench-check-abi.sh \
    || echo "ci/checks.sh: WARNING: the check-abi benchmark missed its goal (see above)" >&2
fi
echo "ci/checks.sh: all checks passed"
