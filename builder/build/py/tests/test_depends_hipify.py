import io
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

PY = Path(__file__).resolve().parents[1]


def run(script, *args):
    return subprocess.run(
        [sys.executable, str(PY / script), *map(str, args)], capture_output=True, text=True
    )


def add(t, name, data=b"", **kw):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for k, v in kw.items():
        setattr(info, k, v)
    t.addfile(info, io.BytesIO(data))


def test_unpack_tar_and_zip(tmp_path):
    tgz = tmp_path / "a.tar.gz"
    with tarfile.open(tgz, "w:gz") as t:
        add(t, "top/include/x.h", b"int x;\n")
        add(t, "top/link", type=tarfile.SYMTYPE, linkname="include/x.h")
    r = run("fetch_dependency.py", "unpack", tgz, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out/top/include/x.h").read_text() == "int x;\n"
    assert (tmp_path / "out/top/link").is_symlink()

    whl = tmp_path / "w.whl"
    with zipfile.ZipFile(whl, "w") as z:
        z.writestr("pkg/source/include/y.h", "int y;\n")
    r = run("fetch_dependency.py", "unpack", whl, tmp_path / "w")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "w/pkg/source/include/y.h").is_file()


def test_unpack_refuses_links_and_paths_out_of_the_tree(tmp_path):
    for i, member in enumerate(
        [
            dict(name="top/evil", type=tarfile.SYMTYPE, linkname="../../../etc/passwd"),
            dict(name="../escape.h"),
            dict(name="top/dev", type=tarfile.CHRTYPE, devmajor=1, devminor=3),
        ]
    ):
        tgz = tmp_path / f"bad{i}.tar"
        with tarfile.open(tgz, "w") as t:
            add(t, **member)
        r = run("fetch_dependency.py", "unpack", tgz, tmp_path / f"out{i}")
        assert r.returncode != 0, member
    assert not (tmp_path / "escape.h").exists()
    # Absolute names land inside the tree.
    tgz = tmp_path / "abs.tar"
    with tarfile.open(tgz, "w") as t:
        add(t, "/kb-abs-test.h")
    assert run("fetch_dependency.py", "unpack", tgz, tmp_path / "abs").returncode == 0
    assert (tmp_path / "abs/kb-abs-test.h").is_file()
    assert not Path("/kb-abs-test.h").exists()


def test_download_needs_https(tmp_path):
    r = run("fetch_dependency.py", "download", "http://example.invalid/x", tmp_path / "x")
    assert r.returncode != 0
    assert "not https" in r.stderr
    assert run("fetch_dependency.py", "bogus", "a", "b").returncode != 0


def test_hipify_translates_source_and_headers(tmp_path):
    root = tmp_path / "k"
    (root / "k_cuda").mkdir(parents=True)
    (root / "k_cuda/k.cuh").write_text(
        "#pragma once\n#include <cuda_runtime.h>\ninline void f() { cudaDeviceSynchronize(); }\n"
    )
    (root / "k_cuda/k.cu").write_text(
        '#include "k.cuh"\nvoid g(float** p) { cudaMalloc(p, 4); f(); }\n'
    )
    out, wrapper = tmp_path / "hip", tmp_path / "k.hip"
    r = run(
        "hipify.py",
        "--root", root, "--out", out, "--wrapper", wrapper,
        "--source", root / "k_cuda/k.cu", root / "k_cuda/k.cu", root / "k_cuda/k.cuh",
    )
    assert r.returncode == 0, r.stderr
    included = wrapper.read_text().splitlines()[-1]
    assert included.startswith('#include "') and str(out) in included
    translated = Path(included.split('"')[1])
    assert "hipMalloc" in translated.read_text()
    headers = [p for p in out.rglob("*") if p.is_file() and p.suffix in (".cuh", ".h")]
    assert any("hipDeviceSynchronize" in p.read_text() for p in headers), headers
    # The kernel's sources are untouched.
    assert "cudaMalloc" in (root / "k_cuda/k.cu").read_text()


def test_hipify_refuses_files_outside_the_kernel(tmp_path):
    root = tmp_path / "k"
    root.mkdir()
    (root / "a.cu").write_text("")
    (tmp_path / "outside.cuh").write_text("")
    r = run(
        "hipify.py",
        "--root", root, "--out", tmp_path / "o", "--wrapper", tmp_path / "w.hip",
        "--source", root / "a.cu", tmp_path / "outside.cuh",
    )
    assert r.returncode != 0
    assert "outside the kernel directory" in r.stderr
