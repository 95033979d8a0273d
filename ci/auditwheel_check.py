"""Second opinion on a variant's native modules: auditwheel (PyPI).

auditwheel checks wheels, so the variant's native modules are wrapped in a
minimal wheel (cp39-abi3) in a temporary directory; `auditwheel show --json`
then reports `sym_tag`, the manylinux tag the symbol versions allow (torch's
own libraries, which a kernel links but never ships, count as external
libraries and are included). Its `overall_tag` stays `linux_*` because torch's
libraries are not on the manylinux whitelist, so only `sym_tag` is judged.

    python ci/auditwheel_check.py --max manylinux_2_28 build/<variant> ...
    python ci/auditwheel_check.py --above manylinux_2_28 build/<variant>

Exit status 0 when every variant is within --max (or above --above).
LD_LIBRARY_PATH must let auditwheel find torch's libraries (torch/lib).
"""

import argparse
import base64
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

TAG = re.compile(r"^manylinux_(\d+)_(\d+)(?:_\w+)?$")


def glibc_of(tag):
    m = TAG.match(tag)
    if not m:
        raise SystemExit(f"not a manylinux tag: {tag}")
    return int(m.group(1)), int(m.group(2))


def minimal_wheel(modules, out_dir, arch):
    name, version, tag = "kbcheck", "0.0.0", f"cp39-abi3-linux_{arch}"
    dist_info = f"{name}-{version}.dist-info"
    entries = {f"{name}/{m.name}": m.read_bytes() for m in modules}
    entries[f"{dist_info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    entries[f"{dist_info}/WHEEL"] = (
        f"Wheel-Version: 1.0\nGenerator: kernel-builder-ci\nRoot-Is-Purelib: false\nTag: {tag}\n".encode()
    )
    record = []
    for path, data in entries.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    entries[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out_dir / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in entries.items():
            z.writestr(path, data)
    return wheel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--auditwheel", default="auditwheel")
    ap.add_argument("--arch", default="x86_64")
    group = ap.add_mutually_exclusive_group(required=True)
    group.add_argument("--max", help="every variant's sym_tag must be this or older")
    group.add_argument("--above", help="every variant's sym_tag must be newer than this")
    ap.add_argument("variants", nargs="+", type=Path)
    a = ap.parse_args()
    limit = glibc_of(a.max or a.above)
    bad = 0
    for variant in a.variants:
        modules = sorted(variant.glob("*.so"))
        if not modules:
            print(f"{variant.name}: no native modules", file=sys.stderr)
            bad += 1
            continue
        with tempfile.TemporaryDirectory() as tmp:
            wheel = minimal_wheel(modules, Path(tmp), a.arch)
            out = subprocess.run(
                [a.auditwheel, "show", "--json", str(wheel)], capture_output=True, text=True, timeout=300
            )
        if out.returncode != 0:
            print(f"{variant.name}: auditwheel failed:\n{out.stderr}", file=sys.stderr)
            bad += 1
            continue
        report = json.loads(out.stdout)
        sym = report["sym_tag"]
        newest = {lib: max(v, key=lambda s: [int(x) for x in re.findall(r"\d+", s)] or [0])
                  for lib, v in report["versioned_symbols"].items() if lib.startswith("libc.so")}
        ok = glibc_of(sym) <= limit if a.max else glibc_of(sym) > limit
        print(f"{variant.name}: auditwheel sym_tag {sym} (libc needs up to {newest.get('libc.so.6', '?')}): "
              f"{'ok' if ok else 'UNEXPECTED'}")
        bad += 0 if ok else 1
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
