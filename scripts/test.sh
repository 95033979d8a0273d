#!/usr/bin/env bash
# The project's test command (README, `.ci/run`). Fast Rust checks first, then
# the heavy checks in ci/*.sh (real torch, compilers, Nix), each of which
# installs what it needs and runs its `#[ignore = "needs ..."]` tests
# explicitly with `cargo test -- --ignored`.
#   scripts/test.sh           everything
#   KB_FAST=1 scripts/test.sh only fmt, clippy and the fast cargo test suite
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# Builds leave a loader server per torch environment (idle for 10 minutes);
# removing their sockets ends them within seconds once the tests are done.
trap 'rm -f "${KERNEL_BUILDER_CACHE:-$HOME/.cache/kernel-builder}"/loader/*.sock' EXIT

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --locked --workspace --all-targets -- -D warnings
echo "== cargo test (fast suite; heavy tests are ignored here and run below)"
cargo test --locked --workspace --all-targets 2>&1 | tee /tmp/kb-cargo-test.log
grep -q "test result: ok" /tmp/kb-cargo-test.log
echo "== module dependency cycles"
scripts/check-module-cycles.py

[ -n "${KB_FAST:-}" ] && exit 0

echo "== benchmark: list-variants"
scripts/bench-list-variants.sh

# Heavy checks, each installs what it needs (see ci/).
for script in ci/setup.sh ci/python.sh ci/local-build.sh ci/examples.sh ci/compliance.sh ci/authoring.sh ci/checks.sh ci/nix.sh; do
  if [ -f "$script" ]; then
    echo "== $script"
    bash "$script"
  fi
done
# A report (timings never fail it; a failing build does): kernel-builder
# against torch.utils.cpp_extension on examples/relu, one repetition (about
# 4 min on a quiet 2-core machine). By hand: scripts/bench-build.sh --reps 5.
echo "== benchmark: build speed against torch.utils.cpp_extension (report)"
scripts/bench-build.sh --reps 1
echo "all checks passed"
