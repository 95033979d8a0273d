//! `check-builds`: variant layout and the compliance report.

use std::path::{Path, PathBuf};

use kb_checks::layout::{check_variant_layout, Severity};

use crate::support::kb;

const ID: &str = "_relu_cpu_abc1234";

/// A correct flat variant.
fn make_variant(build: &Path, name: &str, backend: &str) -> PathBuf {
    let id = ID.replace("cpu", backend);
    let v = build.join(name);
    std::fs::create_dir_all(&v).unwrap();
    std::fs::write(
        v.join("__init__.py"),
        "import torch\nfrom ._ops import ops, add_op_namespace_prefix\n\n@torch.library.register_fake(\n    add_op_namespace_prefix(\"relu\")\n)\ndef _fake(out, x):\n    return None\n",
    )
    .unwrap();
    std::fs::write(
        v.join("_ops.py"),
        format!("import torch\nfrom . import {id}\nops = torch.ops.{id}\n\ndef add_op_namespace_prefix(op_name: str):\n    return f\"{id}::{{op_name}}\"\n"),
    )
    .unwrap();
    let archs = if backend == "cuda" {
        r#", "archs": ["8.0", "9.0"]"#
    } else {
        ""
    };
    std::fs::write(
        v.join("metadata.json"),
        format!(r#"{{"name": "relu", "id": "{id}", "version": 1, "license": "Apache-2.0", "python-depends": [], "kernel-depends": [], "backend": {{"type": "{backend}"{archs}}}}}"#),
    )
    .unwrap();
    std::fs::write(v.join(format!("{id}.abi3.so")), b"\x7fELF").unwrap();
    v
}

fn errors(v: &Path) -> Vec<String> {
    check_variant_layout(v, None)
        .issues
        .into_iter()
        .filter(|i| i.severity == Severity::Error)
        .map(|i| i.to_string())
        .collect()
}

#[test]
fn a_correct_variant_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let v = make_variant(
        &tmp.path().join("build"),
        "torch215-cxx11-cpu-x86_64-linux",
        "cpu",
    );
    assert!(errors(&v).is_empty(), "{:?}", errors(&v));
    let out = kb().arg("check-builds").arg(tmp.path()).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no build.toml found"), "{text}");
}

/// A tvm-ffi variant: a plain `<id>.so` opened by `tvm_ffi.load_module`.
#[test]
fn tvm_ffi_variants_load_their_library_with_tvm_ffi() {
    let tmp = tempfile::tempdir().unwrap();
    let v = make_variant(
        &tmp.path().join("build"),
        "tvm-ffi01-cpu-x86_64-linux",
        "cpu",
    );
    std::fs::rename(v.join(format!("{ID}.abi3.so")), v.join(format!("{ID}.so"))).unwrap();
    let ops = format!(
        "from pathlib import Path\n\nimport tvm_ffi\n\nops = tvm_ffi.load_module(str(Path(__file__).resolve().parent / \"{ID}.so\"))\n\n\ndef add_op_namespace_prefix(op_name: str):\n    return f\"{ID}::{{op_name}}\"\n"
    );
    std::fs::write(v.join("_ops.py"), &ops).unwrap();
    assert!(errors(&v).is_empty(), "{:?}", errors(&v));
    // Another library, or a torch-style _ops.py, is not this build's module.
    std::fs::write(
        v.join("_ops.py"),
        ops.replace(&format!("{ID}.so"), "other.so"),
    )
    .unwrap();
    let errs = errors(&v);
    assert!(
        errs.iter().any(|e| e.contains(&format!(
            "does not load `{ID}.so` with `tvm_ffi.load_module`"
        ))),
        "{errs:?}"
    );
    std::fs::write(
        v.join("_ops.py"),
        format!("import torch\nops = torch.ops.{ID}\n"),
    )
    .unwrap();
    assert!(errors(&v).iter().any(|e| e.contains("tvm_ffi.load_module")));
}

#[test]
fn each_layout_defect_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let build = tmp.path().join("build");
    type Break = fn(&Path);
    let cases: Vec<(&str, Break, &str)> = vec![
        ("nested", |v| {
            std::fs::create_dir_all(v.join("relu")).unwrap();
            std::fs::write(v.join("relu/__init__.py"), "").unwrap();
        }, "leftover nested compatibility directory `relu/`"),
        ("no-init", |v| std::fs::remove_file(v.join("__init__.py")).unwrap(), "__init__.py: missing"),
        ("bad-json", |v| std::fs::write(v.join("metadata.json"), "{").unwrap(), "invalid JSON"),
        ("backend", |v| {
            let m = std::fs::read_to_string(v.join("metadata.json")).unwrap();
            std::fs::write(v.join("metadata.json"), m.replace("\"cpu\"", "\"cuda\"")).unwrap();
        }, "`backend.type` is \"cuda\" but the variant name"),
        ("so-name", |v| {
            std::fs::rename(v.join(format!("{ID}.abi3.so")), v.join("_relu_cpu_other.abi3.so")).unwrap();
        }, "native module name does not match the `id`"),
        ("ops-ns", |v| {
            let o = std::fs::read_to_string(v.join("_ops.py")).unwrap();
            std::fs::write(v.join("_ops.py"), o.replace(&format!("torch.ops.{ID}"), "torch.ops.relu")).unwrap();
        }, "refers to `torch.ops.relu`"),
        ("not-abi3", |v| {
            std::fs::write(v.join(format!("{ID}.cpython-311-x86_64-linux-gnu.so")), b"").unwrap();
        }, "version-specific extension module"),
        ("deps", |v| {
            let m = std::fs::read_to_string(v.join("metadata.json")).unwrap();
            std::fs::write(v.join("metadata.json"), m.replace("\"python-depends\": []", "\"python-depends\": [\"requests\"]")).unwrap();
        }, "\"requests\" is not allowed"),
        ("literal-op", |v| {
            std::fs::write(
                v.join("layers.py"),
                "import torch\nfrom torch.library import register_fake as rf\n\n\n@rf(\n    \"relu::relu_fwd\",\n)\ndef f(x):\n    return x\n",
            )
            .unwrap();
        }, "layers.py: line 6:5: `rf (torch.library.register_fake)` registers the literal op name \"relu::relu_fwd\""),
        ("digest", |v| {
            kb_checks::hash::write_digest(v).unwrap();
            std::fs::write(v.join("__init__.py"), "# changed\n").unwrap();
        }, "digest: `__init__.py` has changed"),
    ];
    for (i, (label, breakit, expect)) in cases.into_iter().enumerate() {
        let _ = i;
        let dir = build.join(label);
        let v = make_variant(&dir, "torch215-cxx11-cpu-x86_64-linux", "cpu");
        breakit(&v);
        let errs = errors(&v);
        assert!(
            errs.iter().any(|e| e.contains(expect)),
            "{label}: expected `{expect}` in {errs:#?}"
        );
        let out = kb().arg("check-builds").arg(&v).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{label}");
    }
}

#[test]
fn json_output() {
    let tmp = tempfile::tempdir().unwrap();
    let v = make_variant(
        &tmp.path().join("build"),
        "torch215-cxx11-cu132-x86_64-linux",
        "cuda",
    );
    std::fs::create_dir_all(v.join("relu")).unwrap();
    let out = kb()
        .args(["check-builds", "--json"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["layout-ok"], false);
    assert_eq!(
        j["variants"][0]["variant"],
        "torch215-cxx11-cu132-x86_64-linux"
    );
    assert_eq!(j["variants"][0]["issues"][0]["severity"], "error");
    assert_eq!(j["variants"][0]["issues"][0]["path"], "relu");
    assert!(j["compliance"].is_null());
}

const BUILD_TOML: &str = r#"[general]
name = "relu"
version = 1
edition = 5
license = "Apache-2.0"
backends = ["cpu", "cuda"]

[torch]
src = ["torch-ext/torch_binding.cpp"]

[kernel.relu_cpu]
backend = "cpu"
depends = ["torch"]
src = ["relu_cpu/relu.cpp"]

[kernel.relu_cuda]
backend = "cuda"
depends = ["torch"]
src = ["relu_cuda/relu.cu"]
"#;

fn project(root: &Path) {
    std::fs::create_dir_all(root.join("torch-ext/relu")).unwrap();
    std::fs::create_dir_all(root.join("relu_cpu")).unwrap();
    std::fs::create_dir_all(root.join("relu_cuda")).unwrap();
    std::fs::write(root.join("build.toml"), BUILD_TOML).unwrap();
    std::fs::write(root.join("torch-ext/torch_binding.cpp"), "").unwrap();
    std::fs::write(root.join("torch-ext/relu/__init__.py"), "").unwrap();
    std::fs::write(root.join("relu_cpu/relu.cpp"), "").unwrap();
    std::fs::write(root.join("relu_cuda/relu.cu"), "").unwrap();
}

/// Required variants per backend from the plan (`list-variants --json`).
fn required(root: &Path, backend: &str) -> Vec<String> {
    let out = kb()
        .args(["list-variants", "--json"])
        .arg(root)
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    j.as_array()
        .unwrap()
        .iter()
        .filter(|v| v["required"] == true && v["backend"] == backend)
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn compliance_report_lists_missing_required_variants() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    project(root);
    let cpu = required(root, "cpu");
    let cuda = required(root, "cuda");
    assert!(!cpu.is_empty() && !cuda.is_empty());
    // All cpu variants, one cuda variant.
    for n in &cpu {
        make_variant(&root.join("build"), n, "cpu");
    }
    make_variant(&root.join("build"), &cuda[0], "cuda");
    let out = kb()
        .args(["check-builds", "--json"])
        .arg(root)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["layout-ok"], true, "{j:#}");
    assert_eq!(j["compliant"], false);
    let groups = j["compliance"].as_array().unwrap();
    for g in groups {
        let missing = g["missing"].as_array().unwrap();
        if g["backend"] == "cpu" {
            assert!(missing.is_empty(), "{g:#}");
        }
    }
    let cuda_missing: Vec<&str> = groups
        .iter()
        .filter(|g| g["backend"] == "cuda")
        .flat_map(|g| {
            g["missing"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap())
        })
        .collect();
    assert_eq!(cuda_missing.len(), cuda.len() - 1);
    assert!(!cuda_missing.contains(&cuda[0].as_str()));
    let text =
        String::from_utf8_lossy(&kb().arg("check-builds").arg(root).output().unwrap().stdout)
            .into_owned();
    assert!(text.contains("MISSING cuda"), "{text}");
    assert!(text.contains(&cuda[1]), "{text}");

    // Complete it: compliant.
    for n in &cuda[1..] {
        make_variant(&root.join("build"), n, "cuda");
    }
    // An extra variant outside the matrix is only noted.
    make_variant(
        &root.join("build"),
        "torch211-cxx11-cpu-x86_64-linux",
        "cpu",
    );
    let out = kb().arg("check-builds").arg(root).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("compliance: compliant"), "{text}");
    assert!(
        text.contains("not in the current matrix: torch211-cxx11-cpu-x86_64-linux"),
        "{text}"
    );
    // The build/ directory itself finds the project too.
    let out = kb()
        .arg("check-builds")
        .arg(root.join("build"))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("compliance: compliant"));
}
