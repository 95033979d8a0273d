#!/usr/bin/env bash
# Installs what the heavy checks need on a fresh Debian machine, idempotently:
# Debian packages (Nix, busybox, hipcc, hyperfine) and the torch 2.15
# environment that kernel-builder itself provisions (shared by all ci/*.sh
# through KB_VENV, so torch is downloaded once).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for p in nix-bin busybox-static hipcc libamdhip64-dev rocm-device-libs hyperfine; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "ci/setup.sh: missing Debian packages (${need[*]}); install them as root" >&2
  fi
fi

cargo build --release --locked -q -p kernel-builder
kb=target/release/kernel-builder
# One environment for everything: torch 2.15, kernels, cmake, ninja, pytest.
"$kb" toolchain --torch 2.15 --cuda 13.2 --json > /tmp/kb-toolchain.json
python3 -c "import json; print(json.load(open('/tmp/kb-toolchain.json'))['torch']['python'])"
