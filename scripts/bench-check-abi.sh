#!/usr/bin/env bash
# Wall time of `kernel-builder check-abi` (release build) on torch's
# libtorch_cpu.so, next to auditwheel's analysis of the same file and a plain
# page-cache read of it, in one hyperfine run (1 warm-up + 3 runs each, so the
# file is in the page cache for all three).
#
# What each command measures:
# - kernel-builder: `check-abi FILE` - the whole tool: dynamic symbols, symbol
#   versions, DT_NEEDED, Python/manylinux policy, every violation named.
# - auditwheel: the per-ELF analysis `auditwheel show` runs on each ELF of a
#   wheel (lddtree, versioned symbols, Python-extension/PyFPE/UCS2 probes,
#   symbol-version policy, whitelist + blacklist external references), called
#   through auditwheel's own functions on the file directly, i.e. without the
#   time `auditwheel show` would spend unpacking a 430 MB wheel.
# - cat: `cat FILE > /dev/null`, reading every byte from the page cache.
# Paths must not contain spaces (hyperfine -N splits commands on whitespace).
# Goals: kernel-builder >= 10x faster than auditwheel, <= 2x the cat time.
#
# Usage: scripts/bench-check-abi.sh [LIBTORCH_CPU_SO]
# Needs hyperfine and a Python with auditwheel: $AUDITWHEEL_PYTHON, or the shared
# torch environment ($KB_VENV; ci/env.sh provisions it, ci/checks.sh adds auditwheel).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${KB_VENV:-}" ]; then
  # shellcheck disable=SC1091
  KB_VENV=$(cd "$root" && . ci/env.sh >/dev/null && echo "$KB_VENV")
fi
venv=$KB_VENV

lib=${1:-}
if [ -z "$lib" ]; then
  for v in "$venv"; do
    f=$(ls "$v"/lib/python3*/site-packages/torch/lib/libtorch_cpu.so 2>/dev/null | head -1 || true)
    if [ -n "$f" ]; then lib=$f; break; fi
  done
fi
[ -n "$lib" ] && [ -f "$lib" ] || { echo "error: libtorch_cpu.so not found; pass its path or install torch into $venv" >&2; exit 2; }

py=""
for p in "${AUDITWHEEL_PYTHON:-}" "$venv/bin/python" python3; do
  [ -n "$p" ] || continue
  if "$p" -c "import auditwheel" 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "error: no Python with auditwheel; set AUDITWHEEL_PYTHON or run ci/checks.sh" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "error: hyperfine is not installed" >&2; exit 2; }

cargo build --release --locked -q --manifest-path "$root/Cargo.toml" -p kernel-builder
kb="$root/target/release/kernel-builder"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/auditwheel_analysis.py" <<'PY'
import sys
from pathlib import Path

from elftools.elf.elffile import ELFFile

from auditwheel.architecture import Architecture
from auditwheel.elfutils import (
    elf_find_ucs2_symbols,
    elf_find_versioned_symbols,
    elf_is_python_extension,
    elf_references_pyfpe_jbuf,
)
from auditwheel.lddtree import ldd
from auditwheel.libc import Libc
from auditwheel.policy import WheelPolicies

fn = Path(sys.argv[1])
tree = ldd(fn)
versioned = {}
with open(fn, "rb") as f:
    elf = ELFFile(f)
    for lib, ver in elf_find_versioned_symbols(elf):
        versioned.setdefault(lib, set()).add(ver)
    elf_is_python_extension(fn, elf)
    elf_references_pyfpe_jbuf(elf)
    any(True for _ in elf_find_ucs2_symbols(elf))
policies = WheelPolicies(libc=Libc.GLIBC, arch=Architecture(tree.platform.baseline_architecture.value))
policy = policies.versioned_symbols_policy(versioned)
refs = policies.lddtree_external_references(tree, fn.parent)
ext = next((v for k, v in refs.items() if k.startswith("manylinux_2_28")), None)
print(f"auditwheel: {fn.name}: symbol policy {policy.name}; libraries outside the manylinux_2_28 whitelist: {sorted(ext.libs) if ext else '?'}")
PY

echo "file: $lib ($(du -h "$lib" | cut -f1))"
echo "kernel-builder: $("$kb" --version)"
echo "auditwheel: $("$py" -m pip show auditwheel 2>/dev/null | sed -n 's/^Version: //p') ($py)"
"$py" "$tmp/auditwheel_analysis.py" "$lib"
"$kb" check-abi "$lib" | tail -1

# -N: no intermediate shell (the check-abi run is a few ms); --output=null
# sends every command's stdout to /dev/null (so `cat FILE` is `cat FILE > /dev/null`).
hyperfine -N --output=null --warmup 1 --runs 3 --ignore-failure --export-json "$tmp/bench.json" \
  -n kernel-builder "$kb check-abi $lib" \
  -n auditwheel "$py $tmp/auditwheel_analysis.py $lib" \
  -n cat "cat $lib"

python3 - "$tmp/bench.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
kb, aw, cat = (r[n]["mean"] for n in ("kernel-builder", "auditwheel", "cat"))
print(f"kernel-builder {kb*1000:.1f} ms | auditwheel {aw*1000:.1f} ms | cat {cat*1000:.1f} ms (means of 3)")
print(f"kernel-builder is {aw/kb:.1f}x faster than auditwheel (goal >= 10x) and {kb/cat:.2f}x the page-cache read (goal <= 2x)")
fail = []
if aw / kb < 10:
    fail.append("less than 10x faster than auditwheel")
if kb / cat > 2:
    fail.append("more than 2x the page-cache read")
if fail:
    sys.exit("FAIL: " + "; ".join(fail))
print("bench: goals met")
PY
