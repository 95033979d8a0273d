#!/usr/bin/env python3
"""Refresh data/torch-stable-abi.json: the C functions of the Torch stable ABI
with the Torch version that added each one.

Source: the headers of an installed torch wheel (default: the `torch` that the
running Python imports). Every `AOTI_TORCH_EXPORT` function declared in

  torch/csrc/stable/c/shim.h
  torch/csrc/inductor/aoti_torch/c/shim*.h
  torch/csrc/inductor/aoti_torch/generated/c_shim_*.h

is listed. Declarations inside `#if TORCH_FEATURE_VERSION >= TORCH_VERSION_X_Y_0`
get `added = "X.Y"`; unguarded ones predate stable-ABI versioning and get the
first versioned release, 2.10. `check-abi --torch-stable-abi V` accepts an
undefined `aoti_torch_*`/`torch_*` symbol only if it is listed with added <= V,
and rejects libtorch C++ symbols (`c10::`, `at::`, `torch::`) outright.

Usage: scripts/refresh-torch-stable-abi.py [--include DIR]
"""

import argparse
import bisect
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "torch-stable-abi.json"
BASELINE = (2, 10)
GUARD = re.compile(r"TORCH_FEATURE_VERSION\s*>=\s*TORCH_VERSION_(\d+)_(\d+)_\d+")
EXPORT = re.compile(r"AOTI_TORCH_EXPORT\b([^;{]*?)\b([A-Za-z_]\w*)\s*\(", re.S)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def scan(path: Path, symbols: dict):
    text = strip_comments(path.read_text())
    # Version guard in force at each line.
    stack = []  # (version or None)
    guard_at = []
    for line in text.split("\n"):
        s = line.strip()
        if s.startswith("#if"):
            m = GUARD.search(s)
            stack.append((int(m.group(1)), int(m.group(2))) if m else None)
        elif s.startswith("#endif"):
            if stack:
                stack.pop()
        elif s.startswith("#else") or s.startswith("#elif"):
            if stack:
                stack[-1] = None
        versions = [v for v in stack if v is not None]
        guard_at.append(max(versions) if versions else None)
    line_starts = [0]
    for line in text.split("\n"):
        line_starts.append(line_starts[-1] + len(line) + 1)

    for m in EXPORT.finditer(text):
        name = m.group(2)
        lineno = bisect.bisect_right(line_starts, m.start()) - 1
        added = guard_at[lineno] or BASELINE
        prev = symbols.get(name)
        if prev is None or added < prev[0]:
            symbols[name] = (added, path.name)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--include", type=Path, help="torch include directory (torch/include)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if args.include:
        include, version = args.include, "unknown"
    else:
        import torch

        include = Path(torch.__file__).parent / "include"
        version = torch.__version__
    csrc = include / "torch" / "csrc"
    headers = [csrc / "stable" / "c" / "shim.h"]
    headers += sorted((csrc / "inductor" / "aoti_torch" / "c").glob("shim*.h"))
    headers += sorted((csrc / "inductor" / "aoti_torch" / "generated").glob("c_shim_*.h"))
    symbols = {}
    for h in headers:
        if h.is_file():
            scan(h, symbols)
    for must in ("aoti_torch_empty_strided", "torch_call_dispatcher"):
        if must not in symbols:
            sys.exit(f"error: {must} not found under {include}: not a torch with the stable ABI?")
    source = f"torch {version} headers (stable/c/shim.h, aoti_torch/c/shim*.h, aoti_torch/generated/c_shim_*.h)"
    lines = ["{", f'  "source": {json.dumps(source)},', '  "symbols": {']
    names = sorted(symbols)
    for i, name in enumerate(names):
        (ma, mi), header = symbols[name]
        entry = {"added": f"{ma}.{mi}", "kind": "function"}
        comma = "," if i + 1 < len(names) else ""
        lines.append(f"    {json.dumps(name)}: {json.dumps(entry, sort_keys=True)}{comma}")
    lines += ["  }", "}", ""]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}: {len(symbols)} functions from {source}")


if __name__ == "__main__":
    main()
