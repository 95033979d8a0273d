//! `verify`: the real `kernels` loader on hand-made variants. Every loader
//! process imports torch (5-10 s each here), so these are
//! `#[ignore = "needs torch"]` and run by `scripts/test.sh` with a Python
//! with `kernels` and `torch` (found via KB_PYTHON, KB_VENV or the
//! environments kernel-builder provisioned).

use crate::support::python as test_python;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::kb;

fn loader_python() -> Option<PathBuf> {
    test_python::with_imports("kernels, torch")
}

/// (major, minor) of the loader's torch.
fn torch_mm(py: &Path) -> (u32, u32) {
    let out = Command::new(py)
        .args([
            "-c",
            "import torch; v = torch.__version__.split('.'); print(v[0], v[1])",
        ])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.split_whitespace().map(|x| x.parse().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

const OPS_PY: &str = "import torch\nops = torch.ops.{ID}\n\n\ndef add_op_namespace_prefix(op_name: str):\n    return f\"{ID}::{op_name}\"\n";

fn variant(build: &Path, name: &str, id: &str, init: &str) -> PathBuf {
    let v = build.join(name);
    std::fs::create_dir_all(&v).unwrap();
    std::fs::write(v.join("_ops.py"), OPS_PY.replace("{ID}", id)).unwrap();
    std::fs::write(v.join("__init__.py"), init.replace("{ID}", id)).unwrap();
    let backend = if name.contains("-cu") {
        r#"{"type": "cuda", "archs": ["8.0"]}"#
    } else {
        r#"{"type": "cpu"}"#
    };
    std::fs::write(
        v.join("metadata.json"),
        format!(r#"{{"name": "relu", "id": "{id}", "version": 1, "license": "Apache-2.0", "python-depends": [], "backend": {backend}}}"#),
    )
    .unwrap();
    v
}

/// Registers `myrelu` in this build's namespace (pure Python).
const GOOD: &str = r#"import torch
from ._ops import ops, add_op_namespace_prefix

torch.library.define(add_op_namespace_prefix("myrelu"), "(Tensor x) -> Tensor")


@torch.library.impl(add_op_namespace_prefix("myrelu"), "CPU")
def _myrelu(x):
    return torch.relu(x)


def relu(x):
    return ops.myrelu(x)
"#;

/// Registers in a fixed namespace: two builds would clash.
const FIXED_NAMESPACE: &str = r#"import torch
from ._ops import ops

torch.library.define("relu_fixed::myrelu", "(Tensor x) -> Tensor")
"#;

/// Hard-codes its own id: a rebuild with another id would clash.
const HARDCODED_ID: &str = r#"import torch
from ._ops import ops

torch.library.define("{ID}::myrelu", "(Tensor x) -> Tensor")
"#;

const BROKEN: &str = "import torch\nraise ImportError(\"this kernel is broken\")\n";

fn by_name<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["variant"].as_str().unwrap().ends_with(name))
        .unwrap_or_else(|| panic!("{name} not in {report:#}"))
}

#[test]
#[ignore = "needs torch"]
fn loads_each_variant_and_two_builds_together() {
    let Some(py) = loader_python() else {
        panic!("prerequisite missing: no Python with kernels and torch (set KB_VENV)");
    };
    let (ma, mi) = torch_mm(&py);
    let tmp = tempfile::tempdir().unwrap();
    let build = tmp.path().join("build");
    let arch = std::env::consts::ARCH;
    let good = format!("torch{ma}{mi}-cxx11-cpu-{arch}-linux");
    let old = format!("torch{ma}{}-cxx11-cpu-{arch}-linux", mi - 1);
    let fixed = format!("torch-stable-abi{ma}{}-cpu-{arch}-linux", mi - 2);
    let hard = format!("torch-stable-abi{ma}{}-cpu-{arch}-linux", mi - 3);
    let broken = format!("torch-stable-abi{ma}{}-cpu-{arch}-linux", mi - 4);
    let cuda = format!("torch{ma}{mi}-cxx11-cu130-{arch}-linux");
    variant(&build, &good, "_relu_cpu_abc1234", GOOD);
    variant(&build, &old, "_relu_cpu_abc1234", GOOD);
    variant(&build, &fixed, "_relu_cpu_abc1234", FIXED_NAMESPACE);
    variant(&build, &hard, "_relu_cpu_abc1234", HARDCODED_ID);
    variant(&build, &broken, "_relu_cpu_abc1234", BROKEN);
    variant(
        &build,
        &cuda,
        "_relu_cuda_abc1234",
        &GOOD.replace("\"CPU\"", "\"CUDA\""),
    );
    let out = kb()
        .arg("verify")
        .arg(tmp.path())
        .arg("--python")
        .arg(&py)
        .arg("--json")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(out.status.code(), Some(1), "{report:#}");

    let g = by_name(&report, &good);
    assert_eq!(g["status"], "ok", "{g:#}");
    assert_eq!(g["ops"], serde_json::json!(["_relu_cpu_abc1234::myrelu"]));
    assert_eq!(g["unique"]["status"], "ok", "{g:#}");
    let second = g["unique"]["second-id"].as_str().unwrap();
    assert_ne!(second, "_relu_cpu_abc1234");
    assert_eq!(g["unique"]["calls"][0]["op"], "myrelu");
    assert_eq!(g["unique"]["calls"][0]["status"], "same");

    let o = by_name(&report, &old);
    assert_eq!(o["status"], "skipped");
    assert!(o["reason"]
        .as_str()
        .unwrap()
        .contains(&format!("torch {ma}.{}", mi - 1)));

    let f = by_name(&report, &fixed);
    assert_eq!(f["status"], "failed", "{f:#}");
    assert!(
        f["problems"][0]
            .as_str()
            .unwrap()
            .contains("registers `relu_fixed::myrelu` outside its namespace"),
        "{f:#}"
    );

    let h = by_name(&report, &hard);
    assert_eq!(h["status"], "failed", "{h:#}");
    assert!(
        h["unique"]["problems"][0]
            .as_str()
            .unwrap()
            .contains("__init__.py hard-codes this build's ops id"),
        "{h:#}"
    );

    let b = by_name(&report, &broken);
    assert_eq!(b["status"], "failed");
    assert!(
        b["reason"]
            .as_str()
            .unwrap()
            .contains("this kernel is broken"),
        "{b:#}"
    );

    // The CUDA variant imports without a GPU when torch is a CUDA build.
    let c = by_name(&report, &cuda);
    if report["probe"]["cuda"].is_string() {
        assert_eq!(c["status"], "ok", "{c:#}");
        if report["probe"]["gpu"] == false {
            assert_eq!(c["unique"]["calls"][0]["status"], "skipped");
        }
    } else {
        assert_eq!(c["status"], "skipped");
    }

    // Text output names each variant and the verdict.
    let out = kb()
        .arg("verify")
        .arg(build.join(&good))
        .arg("--python")
        .arg(&py)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains(&format!(
            "ok    {good}: loaded as `_relu_cpu_abc1234`, 1 op"
        )),
        "{text}"
    );
    assert!(
        text.contains("1 of 1 ops called on both with equal results"),
        "{text}"
    );
    // The build directory stays free of bytecode.
    assert!(!build.join(&good).join("__pycache__").exists());
}

#[test]
#[ignore = "needs torch"]
fn same_ops_id_in_both_builds_fails_without_loading() {
    let Some(py) = loader_python() else {
        panic!("prerequisite missing: no Python with kernels and torch (set KB_VENV)");
    };
    let (ma, mi) = torch_mm(&py);
    let tmp = tempfile::tempdir().unwrap();
    let name = format!("torch{ma}{mi}-cxx11-cpu-{}-linux", std::env::consts::ARCH);
    let a = variant(
        &tmp.path().join("a/build"),
        &name,
        "_relu_cpu_abc1234",
        GOOD,
    );
    variant(
        &tmp.path().join("b/build"),
        &name,
        "_relu_cpu_abc1234",
        GOOD,
    );
    let out = kb()
        .arg("verify")
        .arg(&a)
        .arg("--other")
        .arg(tmp.path().join("b"))
        .arg("--python")
        .arg(&py)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("both builds have the ops id `_relu_cpu_abc1234`"),
        "{text}"
    );
}

#[test]
fn no_python_with_kernels_is_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let v = variant(
        &tmp.path().join("build"),
        "torch215-cxx11-cpu-x86_64-linux",
        "_r_cpu_1",
        GOOD,
    );
    let out = kb()
        .arg("verify")
        .arg(&v)
        .args(["--python", "/nonexistent/python"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--python"));
}

/// A compiled Torch extension, built twice with different ops ids.
const RELU_CPP: &str = r#"
#include <Python.h>
#include <torch/library.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/relu.h>

#define STR2(x) #x
#define STR(x) STR2(x)
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)

static void relu_out(at::Tensor& out, const at::Tensor& x) { out.copy_(at::relu(x)); }

TORCH_LIBRARY(OPS_NAME, m) {
  m.def("relu(Tensor! out, Tensor x) -> ()");
  m.impl("relu", c10::DispatchKey::CPU, &relu_out);
}

extern "C" PyObject* CAT(PyInit_, OPS_NAME)(void) {
  static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, STR(OPS_NAME), nullptr, 0, nullptr};
  return PyModule_Create(&def);
}
"#;

const NATIVE_INIT: &str = "import torch\nfrom ._ops import ops\n\n\ndef relu(x):\n    out = torch.empty_like(x)\n    ops.relu(out, x)\n    return out\n";

#[test]
#[ignore = "needs torch"]
fn native_builds_with_different_ids_coexist() {
    let Some(py) = loader_python() else {
        panic!("prerequisite missing: no Python with kernels and torch (set KB_VENV)");
    };
    let paths = Command::new(&py)
        .args([
            "-c",
            "import sysconfig, torch, os; print(sysconfig.get_paths()['include']); print(os.path.dirname(torch.__file__))",
        ])
        .output()
        .unwrap();
    let paths = String::from_utf8_lossy(&paths.stdout).into_owned();
    let mut lines = paths.lines();
    let (py_inc, torch_dir) = (
        lines.next().unwrap().to_string(),
        lines.next().unwrap().to_string(),
    );
    let (ma, mi) = torch_mm(&py);
    let name = format!("torch{ma}{mi}-cxx11-cpu-{}-linux", std::env::consts::ARCH);
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("relu.cpp"), RELU_CPP).unwrap();
    let mut dirs = Vec::new();
    for (label, id) in [("a", "_relu_cpu_abc1234"), ("b", "_relu_cpu_def5678")] {
        let v = variant(
            &tmp.path().join(label).join("build"),
            &name,
            id,
            NATIVE_INIT,
        );
        let ops = std::fs::read_to_string(v.join("_ops.py")).unwrap();
        std::fs::write(v.join("_ops.py"), format!("from . import {id}\n{ops}")).unwrap();
        let out = Command::new("g++")
            .args([
                "-O1",
                "-shared",
                "-fPIC",
                "-std=c++20",
                "-DPy_LIMITED_API=0x03090000",
            ])
            .arg(format!("-DOPS_NAME={id}"))
            .arg(format!("-I{py_inc}"))
            .arg(format!("-I{torch_dir}/include"))
            .arg(tmp.path().join("relu.cpp"))
            .arg("-o")
            .arg(v.join(format!("{id}.abi3.so")))
            .arg(format!("-L{torch_dir}/lib"))
            .args(["-Wl,--no-as-needed", "-ltorch_cpu", "-lc10"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dirs.push(v);
    }
    let out = kb()
        .arg("verify")
        .arg(&dirs[0])
        .arg("--other")
        .arg(tmp.path().join("b"))
        .arg("--python")
        .arg(&py)
        .arg("--json")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    let v = &report["variants"][0];
    assert_eq!(v["ops"], serde_json::json!(["_relu_cpu_abc1234::relu"]));
    assert_eq!(v["unique"]["second-id"], "_relu_cpu_def5678");
    assert_eq!(v["unique"]["calls"][0]["status"], "same", "{report:#}");

    // Without a second build, the renamed copy is attempted; GCC embeds the
    // namespace string in machine code, so the check says it cannot tell.
    let out = kb()
        .arg("verify")
        .arg(&dirs[0])
        .arg("--python")
        .arg(&py)
        .arg("--json")
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let u = &report["variants"][0]["unique"];
    assert!(
        u["status"] == "ok" || u["status"] == "skipped",
        "{report:#}"
    );
    assert_eq!(report["variants"][0]["status"], "ok");

    // check-abi on the real extension: this host's toolchain is newer than
    // manylinux_2_28 (g++ 12 inlines `__libc_single_threaded`, GLIBC_2.32).
    let out = kb()
        .arg("check-abi")
        .arg(&dirs[0])
        .arg("--json")
        .output()
        .unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let libs: Vec<&Value> = r["files"][0]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["kind"] == "library" || v["kind"] == "python-symbol")
        .collect();
    assert!(
        libs.is_empty(),
        "torch libraries and abi3 symbols are allowed: {r:#}"
    );
}
