#!/usr/bin/env bash
# Issue [6] heavy checks (no GPU needed): `init --backends cpu` in a temporary
# directory -> check-config -> `build --local` of the torch 2.15 CPU variant ->
# the real `kernels` loader, the scaffold's own pytest suite, example.py and
# its benchmark class (builder/cli/tests/it/authoring_e2e.rs, ignored in the
# fast suite); then docs/cli.md must match the clap definitions.
# Idempotent; the torch environment comes from ci/env.sh (shared by ci/*.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. ci/env.sh

echo "-- init -> check-config -> build --local -> kernels loader (KB_PYTHON=$KB_PYTHON)"
cargo test --locked -q -p kernel-builder --test it -- --ignored authoring_e2e --nocapture

echo "-- docs/cli.md is current"
cargo run --locked -q -p kernel-builder --example gen-cli-docs -- --check
echo "authoring checks passed"
