"""Load kernel builds into one process with the real `kernels` loader, for
`kernel-builder verify`.

Usage: python verify_load.py OUT.json BACKEND REPO ID [REPO ID]
       python verify_load.py OUT.json --stdin

With --stdin it imports the loader and torch first (started while a build
compiles), then reads the other arguments as one JSON list from stdin; at end
of input it exits without checking anything.

Loads the builds in order, recording the ops each registers; stops before a
load that would crash the process (a build whose ops landed outside its
namespace). With two builds it then calls each op of the first build's
namespace in both, with the same inputs. The cumulative state is written to
OUT.json after every step, so a crash still tells how far it got.
"""

import json
import os
import sys
import traceback
from pathlib import Path


class State:
    def __init__(self, out: str) -> None:
        self.out = out
        self.res = {"phase": "import", "loads": []}

    def emit(self) -> None:
        tmp = self.out + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(self.res, f)
        os.replace(tmp, self.out)


def device_for(torch, backend: str):
    """The device to call ops on, or None when this machine has none."""
    if backend == "cpu":
        return "cpu"
    dev = {"cuda": "cuda", "rocm": "cuda", "xpu": "xpu", "metal": "mps"}.get(backend, backend)
    if dev == "cuda" and not torch.cuda.is_available():
        return None
    if dev == "xpu" and not (hasattr(torch, "xpu") and torch.xpu.is_available()):
        return None
    if dev == "mps" and not torch.backends.mps.is_available():
        return None
    return dev


def make_args(torch, schema, dev):
    """Generic test inputs for an op schema; TypeError when there are none."""
    args = []
    for a in schema.arguments:
        t = str(a.type)
        if a.kwarg_only:
            if a.has_default_value():
                continue
            raise TypeError(f"keyword-only argument `{a.name}: {t}`")
        if t == "Tensor":
            args.append(torch.randn(64, device=dev))
        elif t == "Tensor?":
            args.append(None)
        elif a.has_default_value():
            break
        elif t in ("int", "SymInt"):
            args.append(1)
        elif t in ("float", "Scalar"):
            args.append(1.0)
        elif t == "bool":
            args.append(False)
        else:
            raise TypeError(f"argument `{a.name}: {t}` has no generic test value")
    return args


def flat(torch, x):
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)):
        return [t for y in x for t in flat(torch, y)]
    return [x]


def same(torch, x, y) -> bool:
    fx, fy = flat(torch, x), flat(torch, y)
    if len(fx) != len(fy):
        return False
    for u, v in zip(fx, fy):
        if isinstance(u, torch.Tensor) and isinstance(v, torch.Tensor):
            if u.shape != v.shape or not torch.equal(torch.nan_to_num(u), torch.nan_to_num(v)):
                return False
        elif u != v:
            return False
    return True


def call_both(torch, backend, id1, id2, res) -> None:
    def ops_in(ns):
        return sorted(n for n in torch._C._dispatch_get_all_op_names() if n.startswith(ns + "::"))

    res["first_ops_after"] = ops_in(id1)
    res["phase"] = "call"
    dev = device_for(torch, backend)
    calls = []
    res["calls"] = calls
    second_ops = set(ops_in(id2))
    for full in ops_in(id1):
        name = full.split("::", 1)[1]
        entry = {"op": name}
        calls.append(entry)
        if f"{id2}::{name}" not in second_ops:
            entry["status"] = "missing-in-second"
            continue
        if dev is None:
            entry["status"] = "skipped"
            entry["detail"] = f"no {backend} device on this machine"
            continue
        p1 = getattr(getattr(torch.ops, id1), name)
        p2 = getattr(getattr(torch.ops, id2), name)
        ov = "default" if "default" in p1.overloads() else p1.overloads()[0]
        o1, o2 = getattr(p1, ov), getattr(p2, ov)
        try:
            torch.manual_seed(0)
            a1 = make_args(torch, o1._schema, dev)
            torch.manual_seed(0)
            a2 = make_args(torch, o1._schema, dev)
        except TypeError as e:
            entry["status"] = "skipped"
            entry["detail"] = str(e)
            continue

        def run(o, a):
            try:
                return ("ok", o(*a), a)
            except Exception as e:  # noqa: BLE001 - both builds must raise alike
                return ("raised", type(e).__name__, a)

        r1, r2 = run(o1, a1), run(o2, a2)
        if r1[0] == "ok" and r2[0] == "ok":
            entry["status"] = "same" if same(torch, (r1[1], r1[2]), (r2[1], r2[2])) else "differ"
        elif r1[0] == r2[0] == "raised" and r1[1] == r2[1]:
            entry["status"] = "both-raised"
            entry["detail"] = r1[1]
        else:
            first = f"{r1[0]} {r1[1] if r1[0] == 'raised' else ''}"
            second = f"{r2[0]} {r2[1] if r2[0] == 'raised' else ''}"
            entry["status"] = "differ"
            entry["detail"] = f"first: {first}, second: {second}"


def main(argv: list) -> None:
    if len(argv) == 3 and argv[2] == "--stdin":
        try:
            import kernels  # noqa: F401
            import torch  # noqa: F401
        except BaseException:  # noqa: BLE001, S110 - reported again once the arguments are known
            pass
        line = sys.stdin.readline()
        if not line.strip():
            return
        argv = argv[:2] + [str(a) for a in json.loads(line)]
    state = State(argv[1])
    res = state.res
    try:
        import kernels
        import torch

        backend = argv[2]
        pairs = [(Path(argv[i]), argv[i + 1]) for i in range(3, len(argv) - 1, 2)]
        for repo, ns in pairs:
            res["phase"] = f"load {ns}"
            entry = {"id": ns}
            res["loads"].append(entry)
            state.emit()
            before = set(torch._C._dispatch_get_all_op_names())
            try:
                m = kernels.get_local_kernel(repo, backend=backend)
            except BaseException as e:  # noqa: BLE001 - report every load failure
                entry["error"] = f"{type(e).__name__}: {e}"
                entry["traceback"] = traceback.format_exc()[-3000:]
                break
            after = set(torch._C._dispatch_get_all_op_names())
            entry["module"] = m.__name__
            entry["file"] = getattr(m, "__file__", None)
            entry["new_ops"] = sorted(after - before)
            entry["module_id"] = id(m)
            if any(not op.startswith(ns + "::") for op in entry["new_ops"]):
                break
        res["phase"] = "loaded"
        state.emit()
        loads = res["loads"]
        if len(pairs) == 2 and len(loads) == 2 and all("new_ops" in x for x in loads):
            (_, id1), (_, id2) = pairs
            call_both(torch, backend, id1, id2, res)
        res["phase"] = "done"
    except BaseException as e:  # noqa: BLE001
        res["error"] = f"{type(e).__name__}: {e}"
        res["traceback"] = traceback.format_exc()[-3000:]
    state.emit()


if __name__ == "__main__":
    main(sys.argv)
