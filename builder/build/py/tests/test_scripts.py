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
    assert info == {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "abi": bool(torch.compiled_with_cxx11_abi()),
    }


def test_doctor_python():
    lines = run("doctor_python.py").splitlines()
    assert lines[0] == platform.python_version()
    assert lines[1] == torch.__version__.split("+")[0]
    assert len(lines) == 3
