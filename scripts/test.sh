#!/usr/bin/env bash
# The project's test command (README, `.ci/run`). Fast Rust checks first, then
# the heavy end-to-end checks in ci/*.sh (real torch, compilers, Nix).
#   scripts/test.sh           everything
#   KB_FAST=1 scripts/test.sh only fmt, clippy and cargo test
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked --all-targets 2>&1 | tee /tmp/kb-cargo-test.log
grep -q "test result: ok" /tmp/kb-cargo-test.log

[ -n "${KB_FAST:-}" ] && exit 0

echo "== benchmark: list-variants"
scripts/bench-list-variants.sh

# Heavy checks, each installs what it needs (see ci/).
for script in ci/setup.sh ci/local-build.sh ci/examples.sh ci/compliance.sh ci/authoring.sh ci/checks.sh ci/nix.sh; do
  if [ -f "$script" ]; then
    echo "== $script"
    bash "$script"
  fi
done
echo "all checks passed"
