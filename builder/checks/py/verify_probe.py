"""Describe this Python for `kernel-builder verify`: versions of Python,
torch, kernels and tvm-ffi, and the platform, as the loader sees it.

Usage: python verify_probe.py OUT.json
The answer is written to OUT.json (never to standard output, which imported
packages may write to).
"""

import json
import platform
import sys
import sysconfig


def probe() -> dict:
    info = {"python": platform.python_version(), "executable": sys.executable}
    try:
        import kernels

        info["kernels"] = getattr(kernels, "__version__", "?")
    except Exception as e:  # noqa: BLE001 - any import failure is an answer
        info["kernels_error"] = f"{type(e).__name__}: {e}"
    try:
        import torch

        v = torch.__version__.split("+")[0].split(".")
        info["torch"] = torch.__version__
        info["torch_mm"] = [int(v[0]), int(v[1])]
        info["cuda"] = torch.version.cuda
        info["hip"] = getattr(torch.version, "hip", None)
        info["xpu"] = getattr(torch.version, "xpu", None)
        info["mps"] = bool(torch.backends.mps.is_available())
        info["cxx11"] = bool(torch.compiled_with_cxx11_abi())
        info["gpu"] = bool(torch.cuda.is_available())
    except Exception as e:  # noqa: BLE001
        info["torch_error"] = f"{type(e).__name__}: {e}"
    try:
        import tvm_ffi

        v = tvm_ffi.__version__.split(".")
        info["tvm_ffi_mm"] = [int(v[0]), int(v[1])]
    except Exception:  # noqa: BLE001, S110 - tvm-ffi is optional
        pass
    machine = platform.machine()
    system = platform.system().lower()
    if system == "darwin" and machine == "arm64":
        machine = "aarch64"
    if system == "windows" and machine == "AMD64":
        machine = "x86_64"
    info["machine"] = machine
    info["system"] = system
    info["free_threaded"] = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    return info


def main(out: str) -> None:
    with open(out, "w", encoding="utf-8") as f:
        json.dump(probe(), f)


if __name__ == "__main__":
    main(sys.argv[1])
