#!/usr/bin/env python3
"""Refresh data/python-stable-abi.json: CPython's stable ABI symbols with the
version that added each one.

The canonical source is CPython's `Misc/stable_abi.toml` (functions and data
items with `added`, `abi_only` and `ifdef`). Two ways to get it:

  scripts/refresh-python-stable-abi.py --toml path/to/cpython/Misc/stable_abi.toml
  scripts/refresh-python-stable-abi.py [--abi3info VERSION]

The second (default) takes the same table from the `abi3info` package on PyPI,
which is generated from that file, so it works where only PyPI is reachable.
kernel-builder embeds the JSON (builder/checks/src/abi.rs); `check-abi -p 3.9`
allows an undefined `Py*`/`_Py*` symbol only if it is listed here with
`added` <= 3.9.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "python-stable-abi.json"
DEFAULT_ABI3INFO = "2026.9.25"


def from_toml(path: Path):
    import tomllib

    with open(path, "rb") as f:
        doc = tomllib.load(f)
    symbols = {}
    for kind in ("function", "data"):
        for name, item in doc.get(kind, {}).items():
            entry = {"added": str(item["added"]), "kind": kind}
            if item.get("abi_only"):
                entry["abi_only"] = True
            if item.get("ifdef"):
                entry["ifdef"] = item["ifdef"]
            symbols[name] = entry
    return symbols, f"CPython Misc/stable_abi.toml ({path})"


def from_abi3info(version: str):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "-d", tmp, f"abi3info=={version}"],
            check=True,
        )
        wheel = next(Path(tmp).glob("abi3info-*.whl"))
        with zipfile.ZipFile(wheel) as z:
            z.extractall(tmp)
        sys.path.insert(0, tmp)
        import abi3info  # noqa: PLC0415

    symbols = {}
    for kind, table in (("function", abi3info.FUNCTIONS), ("data", abi3info.DATAS)):
        for sym, item in table.items():
            entry = {"added": f"{item.added.major}.{item.added.minor}", "kind": kind}
            if getattr(item, "abi_only", False):
                entry["abi_only"] = True
            if item.ifdef is not None:
                entry["ifdef"] = item.ifdef.name
            symbols[sym.name] = entry
    return symbols, f"abi3info {version} on PyPI (generated from CPython Misc/stable_abi.toml)"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--toml", type=Path, help="CPython Misc/stable_abi.toml")
    ap.add_argument("--abi3info", default=DEFAULT_ABI3INFO, help="abi3info version on PyPI")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    symbols, source = from_toml(args.toml) if args.toml else from_abi3info(args.abi3info)
    for must in ("PyArg_ParseTuple", "Py_IncRef", "PyUnicode_AsUTF8AndSize"):
        if must not in symbols:
            sys.exit(f"error: {must} missing: the source does not look like the stable ABI table")
    lines = ["{", f'  "source": {json.dumps(source)},', '  "symbols": {']
    names = sorted(symbols)
    for i, name in enumerate(names):
        comma = "," if i + 1 < len(names) else ""
        lines.append(f"    {json.dumps(name)}: {json.dumps(symbols[name], sort_keys=True)}{comma}")
    lines += ["  }", "}", ""]
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}: {len(symbols)} symbols from {source}")


if __name__ == "__main__":
    main()
