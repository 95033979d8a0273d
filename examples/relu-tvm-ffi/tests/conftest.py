"""Load the built kernel for the tests.

The tests import the kernel the way users do: with `kernels.get_local_kernel`
on a directory holding `build/<variant>/` (by default this kernel project; set
KERNEL_DIR to test builds elsewhere). They run once per backend that is
available in this process and has a built variant: `cpu` always, plus `cuda`,
`rocm`, `xpu` or `metal` when Torch has such a device. Set
KERNEL_TEST_BACKENDS=cpu,cuda to choose backends explicitly; a chosen backend
without a build then fails instead of being skipped.
"""

import os
import re
from pathlib import Path

import pytest
import torch

KERNEL_DIR = Path(os.environ.get("KERNEL_DIR", Path(__file__).resolve().parents[1]))

# Compute part of a variant name (`torch215-cxx11-cu132-x86_64-linux`,
# `torch-cpu`, `torch-stable-abi211-metal-aarch64-darwin`, ...) per backend.
_VARIANT_BACKEND = [
    ("cpu", re.compile(r"(^|-)cpu(-|$)")),
    ("cuda", re.compile(r"(^|-)(cu\d+|cuda)(-|$)")),
    ("rocm", re.compile(r"(^|-)rocm\d*(-|$)")),
    ("xpu", re.compile(r"(^|-)xpu\d*(-|$)")),
    ("metal", re.compile(r"(^|-)metal(-|$)")),
]

DEVICE_OF_BACKEND = {"cpu": "cpu", "cuda": "cuda", "rocm": "cuda", "xpu": "xpu", "metal": "mps"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "kernels_ci: quick tests (under 60 s together) that CI runs on every build"
    )


def built_backends():
    build = KERNEL_DIR / "build"
    names = [p.name for p in build.iterdir() if p.is_dir()] if build.is_dir() else []
    return {b for b, pattern in _VARIANT_BACKEND for n in names if pattern.search(n)}


def available_backends():
    backends = ["cpu"]
    if torch.cuda.is_available():
        backends.append("rocm" if torch.version.hip else "cuda")
    if hasattr(torch, "xpu") and torch.xpu.is_available():
        backends.append("xpu")
    if torch.backends.mps.is_available():
        backends.append("metal")
    return backends


def _requested_backends():
    env = os.environ.get("KERNEL_TEST_BACKENDS")
    if env:
        return [b.strip() for b in env.split(",") if b.strip()], True
    return available_backends(), False


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        backends, _ = _requested_backends()
        metafunc.parametrize("backend", backends, scope="session")


_loaded = {}


@pytest.fixture(scope="session")
def kernel(backend):
    """The kernel module for `backend`, loaded from KERNEL_DIR/build."""
    if backend not in _loaded:
        _, explicit = _requested_backends()
        if backend not in built_backends():
            message = f"no `{backend}` variant in {KERNEL_DIR / 'build'}"
            if explicit:
                pytest.fail(message + " (requested by KERNEL_TEST_BACKENDS)")
            pytest.skip(message + "; build it with `kernel-builder build`")
        from kernels import get_local_kernel

        _loaded[backend] = get_local_kernel(KERNEL_DIR, backend=backend)
    return _loaded[backend]


@pytest.fixture(scope="session")
def kernel_dir():
    return KERNEL_DIR


@pytest.fixture(scope="session")
def device(backend):
    return torch.device(DEVICE_OF_BACKEND[backend])
