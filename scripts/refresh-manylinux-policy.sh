#!/usr/bin/env bash
# Refresh data/manylinux-policy.json from the auditwheel package on PyPI.
#
# auditwheel ships the manylinux policy tables (per-arch symbol versions,
# library whitelists and blacklisted symbols) as
# auditwheel/policy/manylinux-policy.json inside its wheel. We vendor that file
# byte for byte; kernel-builder embeds it (builder/checks/src/abi.rs).
#
# Usage: scripts/refresh-manylinux-policy.sh [AUDITWHEEL_VERSION]
# Default version: the one currently vendored (see VERSION below). Pass a newer
# version to move forward, then run `cargo test -p kernel-builder checks_abi`.
set -euo pipefail
VERSION=${1:-6.8.2}
root=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$py" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "auditwheel==$VERSION"
wheel=$(ls "$tmp"/auditwheel-*.whl)
"$py" - "$wheel" "$root/data/manylinux-policy.json" "$VERSION" <<'PY'
import json, sys, zipfile
wheel, out, version = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z:
    raw = z.read("auditwheel/policy/manylinux-policy.json")
policies = json.loads(raw)
names = [p["name"] for p in policies]
assert "manylinux_2_28" in names, names
for p in policies:
    assert {"name", "aliases", "priority", "symbol_versions", "lib_whitelist", "blacklist"} <= set(p), p.keys()
with open(out, "wb") as f:
    f.write(raw)
print(f"wrote {out}: auditwheel {version}, {len(policies)} policies ({names[1]} .. {names[-1]})")
PY
