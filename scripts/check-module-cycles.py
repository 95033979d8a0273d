#!/usr/bin/env python3
"""Fail when the top-level modules of a crate under builder/ import each
other in a cycle.

An edge A -> B is any path to B from inside module A (`src/A.rs` or
`src/A/**`): `crate::B`, or `super::B` / `super::super::B` that climb to the
crate root. Cross-crate direction is
enforced by Cargo itself (a dependency cycle between crates does not build);
this checks the direction inside each crate. Prints the edges it found.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "builder"
USE = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
SUPER = re.compile(r"\b((?:super::)+)([a-z_][a-z0-9_]*)")
GROUP = re.compile(r"\b(crate::|(?:super::)+)\{([^}]*)\}")
ITEM = re.compile(r"^\s*([a-z_][a-z0-9_]*)")


def module_path(src: Path, f: Path) -> list:
    parts = list(f.relative_to(src).with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return parts


def top_level_modules(src: Path) -> dict:
    """module name -> its files (lib.rs/main.rs are the crate root, not a module)."""
    mods = {}
    for p in sorted(src.iterdir()):
        if p.is_file() and p.suffix == ".rs" and p.stem not in ("lib", "main"):
            mods[p.stem] = [p]
        elif p.is_dir():
            files = sorted(p.rglob("*.rs"))
            if files:
                mods[p.name] = files
    return mods


def edges(src: Path, mods: dict) -> dict:
    out = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            text = re.sub(r"//[^\n]*", "", f.read_text())
            targets = USE.findall(text)
            path = module_path(src, f)
            for ups, name in SUPER.findall(text):
                if ups.count("super::") == len(path):
                    targets.append(name)
            for prefix, items in GROUP.findall(text):
                if prefix == "crate::" or prefix.count("super::") == len(path):
                    for item in items.split(","):
                        m2 = ITEM.match(item)
                        if m2:
                            targets.append(m2.group(1))
            for target in targets:
                if target in mods and target != m:
                    out[m].add(target)
    return out


def cycles(graph: dict) -> list:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    bad = False
    for manifest in sorted(ROOT.glob("*/Cargo.toml")):
        src = manifest.parent / "src"
        graph = edges(src, top_level_modules(src))
        crate = manifest.parent.name
        shown = ", ".join(f"{a}->{b}" for a in sorted(graph) for b in sorted(graph[a]))
        print(f"{crate}: {len(graph)} modules; {shown or 'no edges'}")
        for comp in cycles(graph):
            bad = True
            print(f"error: {crate}: import cycle between {', '.join(comp)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
