import json
import platform
import subprocess
import sys
from pathlib import Path

import torch

PY = Path(__file__).resolve().parents[1]


def run(script):
    out = subprocess.run(
        [sys.executable, str(PY / script)], check=True, capture_output=True, text=True
    )
    return out.stdout


def test_torch_probe():
    info = json.loads(run("torch_probe.py"))
    torch_dir = Path(torch.__file__).parent
    include_dirs = info.pop("include_dirs")
    lib_dir = Path(info.pop("lib_dir"))
    # The interpreter's C headers, which CMake gets instead of running FindPython3.
    assert (Path(info.pop("python_include_dir")) / "Python.h").is_file()
    assert info == {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "abi": bool(torch.compiled_with_cxx11_abi()),
    }
    # What CMake receives instead of importing torch: torch's own headers
    # first, and the directory holding libc10/libtorch.
    assert Path(include_dirs[0]) == torch_dir / "include"
    assert all((Path(d)).is_dir() for d in include_dirs)
    assert (Path(include_dirs[0]) / "torch" / "library.h").is_file()
    assert lib_dir == torch_dir / "lib"
    assert any(lib_dir.glob("libc10.*"))


def test_doctor_python():
    lines = run("doctor_python.py").splitlines()
    assert lines[0] == platform.python_version()
    assert lines[1] == torch.__version__.split("+")[0]
    assert len(lines) == 3
