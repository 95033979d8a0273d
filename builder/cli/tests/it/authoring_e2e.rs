//! End to end: `init --backends cpu` in a temporary directory, then
//! `check-config`, `build --local` of the variant matching the test Python's
//! torch, and the real `kernels` loader: `get_local_kernel`, the scaffold's
//! own pytest suite, `example.py` and the benchmark class.
//!
//! Needs a Python with torch, kernels and pytest (plus cmake, ninja and a
//! C++ compiler): `KB_PYTHON`, `KB_VENV`, or an environment provisioned by
//! `kernel-builder toolchain`. Ignored by default; `scripts/test.sh` runs it
//! with `--ignored`, where missing prerequisites fail it.

use crate::support::python as test_python;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::kb_in as kb;

fn ok(what: &str, o: Output) -> Output {
    assert!(
        o.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// The Python to test with and its torch `major.minor`, or why there is none.
fn python() -> Result<(PathBuf, String), String> {
    let py = test_python::with_imports("torch, kernels, pytest")
        .or_else(|| test_python::candidates().into_iter().next())
        .ok_or(
            "no Python found: set KB_PYTHON, or provision one with `kernel-builder toolchain`",
        )?;
    let out = Command::new(&py)
        .args([
            "-c",
            "import torch, kernels, pytest; print(torch.__version__)",
        ])
        .output()
        .map_err(|e| format!("{}: {e}", py.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} lacks torch/kernels/pytest: {}",
            py.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let mm: Vec<&str> = version.split(['.', '+']).take(2).collect();
    Ok((py, mm.join(".")))
}

const LOADER_CHECK: &str = r#"
import json, sys
from pathlib import Path
import torch
from kernels import get_local_kernel

root, variant = Path(sys.argv[1]), sys.argv[2]
kernel = get_local_kernel(root, backend="cpu")
meta = json.loads((root / "build" / variant / "metadata.json").read_text())
assert meta["name"] == "e2e-relu", meta
assert meta["backend"]["type"] == "cpu", meta
assert hasattr(getattr(torch.ops, meta["id"]), "e2e_relu"), meta["id"]
for dtype in (torch.float32, torch.bfloat16):
    x = torch.randn(37, 129, dtype=dtype)
    torch.testing.assert_close(kernel.e2e_relu(x), torch.relu(x))
out = torch.empty(8)
x = torch.randn(8)
assert kernel.e2e_relu(x, out=out) is out
print("loader ok", meta["id"])
"#;

const BENCHMARK_CHECK: &str = r#"
import importlib.util, sys
from pathlib import Path
import torch
from kernels import Benchmark, get_local_kernel

root = Path(sys.argv[1])
kernel = get_local_kernel(root, backend="cpu")
spec = importlib.util.spec_from_file_location("bench", root / "benchmarks" / "benchmark.py")
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
workloads = 0
for cls in [c for c in vars(mod).values() if isinstance(c, type) and issubclass(c, Benchmark) and c is not Benchmark]:
    for name in [n for n in dir(cls) if n.startswith("benchmark_")]:
        workload = name[len("benchmark_"):]
        b = cls()
        b.kernel, b.device = kernel, "cpu"
        getattr(b, "setup_" + workload, b.setup)()
        getattr(b, name)()
        assert torch.allclose(b.out, getattr(b, "verify_" + workload)(), atol=1e-2), workload
        workloads += 1
assert workloads, "no benchmark workloads"
print("benchmark ok", workloads)
"#;

/// `init` of a one-backend scaffold in `tmp`; its directory.
fn init(tmp: &Path, repo: &str, backend: &str) -> PathBuf {
    ok(
        "init",
        kb(tmp)
            .args(["init", "--name", repo, "--backends", backend])
            .output()
            .unwrap(),
    );
    tmp.join(repo.rsplit('/').next().unwrap())
}

/// After `check-config`: this machine's variant of `dir` for torch
/// `torch_mm` whose name contains `marker` (e.g. `-cpu-`).
fn host_variant(dir: &Path, torch_mm: &str, marker: &str) -> String {
    ok(
        "check-config",
        kb(dir).arg("check-config").output().unwrap(),
    );
    let out = ok(
        "list-variants",
        kb(dir).args(["list-variants", "--arch"]).output().unwrap(),
    );
    let prefix = format!("torch{}-", torch_mm.replace('.', ""));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    listed
        .lines()
        .find(|v| v.starts_with(&prefix) && v.contains(marker))
        .unwrap_or_else(|| panic!("no `{marker}` variant for torch {torch_mm} in:\n{listed}"))
        .to_string()
}

/// `build --local` of one variant with the test Python.
fn build_local(dir: &Path, py: &Path, variant: &str) {
    let started = std::time::Instant::now();
    ok(
        "build --local",
        kb(dir)
            .args(["build", "--local", "--variant", variant])
            .env("KERNEL_BUILDER_PYTHON", py)
            .output()
            .unwrap(),
    );
    eprintln!("built {variant} in {:.1}s", started.elapsed().as_secs_f64());
}

#[test]
#[ignore = "needs torch and a C++ compiler"]
fn init_build_and_load_a_cpu_kernel() {
    let (py, torch_mm) = python().unwrap_or_else(|why| panic!("prerequisite missing: {why}"));

    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path(), "kb-e2e/e2e-relu", "cpu");
    // The variant of this machine for the test Python's torch.
    let variant = host_variant(&dir, &torch_mm, "-cpu-");
    build_local(&dir, &py, &variant);
    let vdir = dir.join("build").join(&variant);
    for f in ["__init__.py", "_ops.py", "metadata.json"] {
        assert!(vdir.join(f).is_file(), "{f} missing in {}", vdir.display());
    }

    let py_run = |what: &str, args: &[&str]| {
        let o = Command::new(&py)
            .args(args)
            .current_dir(&dir)
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap();
        let o = ok(what, o);
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let d = dir.to_str().unwrap();
    assert!(py_run("loader check", &["-c", LOADER_CHECK, d, &variant]).contains("loader ok"));
    let tests = py_run(
        "scaffold tests",
        &["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
    );
    assert!(
        tests.contains("passed") && !tests.contains("failed"),
        "{tests}"
    );
    assert!(py_run("example.py", &["example.py"])
        .trim_end()
        .ends_with("ok"));
    assert!(py_run("benchmark", &["-c", BENCHMARK_CHECK, d]).contains("benchmark ok"));
}

/// The CUDA scaffold (device `.cu` without Torch headers, Torch glue in a
/// `.cpp`) compiles with nvcc from the wheels and registers its op; one
/// capability keeps it short. No GPU: the loader check imports and registers.
#[test]
#[ignore = "needs torch, a C++ compiler and the CUDA 13.2 wheels"]
fn init_cuda_scaffold_builds_and_registers() {
    let (py, torch_mm) = python().unwrap_or_else(|why| panic!("prerequisite missing: {why}"));

    let tmp = tempfile::tempdir().unwrap();
    let dir = init(tmp.path(), "kb-e2e/e2e-cu", "cuda");
    let toml_path = dir.join("build.toml");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    let commented = "# cuda-capabilities = [\"8.0\", \"9.0\"]";
    assert!(toml.contains(commented), "template changed:\n{toml}");
    std::fs::write(
        &toml_path,
        toml.replacen(commented, "cuda-capabilities = [\"9.0\"]", 1),
    )
    .unwrap();
    let variant = host_variant(&dir, &torch_mm, "-cu132-");
    build_local(&dir, &py, &variant);
    let meta = std::fs::read_to_string(dir.join("build").join(&variant).join("metadata.json"))
        .expect("metadata.json of the CUDA variant");
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    let info = &meta["build-info"];
    assert_eq!(info["checks"]["loader"], "passed", "{info:#}");
    assert_eq!(info["checks"]["abi"]["result"], "passed", "{info:#}");
    assert_eq!(info["compliant"], true, "{info:#}");
}
