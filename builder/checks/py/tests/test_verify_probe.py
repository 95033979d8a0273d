import json
import platform

import torch
import verify_probe


def test_probe_describes_python_torch_and_platform(tmp_path):
    out = tmp_path / "probe.json"
    verify_probe.main(str(out))
    info = json.loads(out.read_text())
    assert info["python"] == platform.python_version()
    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    assert info["torch_mm"] == [int(major), int(minor)]
    assert info["cxx11"] == bool(torch.compiled_with_cxx11_abi())
    assert "kernels" in info, info.get("kernels_error")
    assert info["system"] == platform.system().lower()
    assert info["machine"] in ("x86_64", "aarch64")
    assert info["free_threaded"] is False


def test_missing_packages_are_reported_not_raised(tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "kernels", None)
    info = verify_probe.probe()
    assert "kernels" not in info
    assert info["kernels_error"].startswith("ModuleNotFoundError")
