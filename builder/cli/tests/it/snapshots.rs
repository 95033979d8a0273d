//! Snapshots (insta) of the CLI's text output. Review changes with
//! `cargo insta review` (or `INSTA_UPDATE=always cargo test` and `git diff`).

use std::process::Output;

use crate::support::{fixture, kb_in};

fn stdout(o: Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

fn fixtures_dir() -> std::path::PathBuf {
    fixture("bounds").parent().unwrap().to_path_buf()
}

#[test]
fn check_config_text() {
    let out = kb_in(&fixtures_dir())
        .args(["check-config", "all-backends"])
        .output()
        .unwrap();
    insta::assert_snapshot!(stdout(out));
}

#[test]
fn list_variants_text() {
    let out = kb_in(&fixtures_dir())
        .args(["list-variants", "bounds"])
        .output()
        .unwrap();
    insta::assert_snapshot!(stdout(out));
}

#[test]
fn plan_text() {
    let out = kb_in(&fixtures_dir())
        .args(["plan", "--system", "x86_64-linux", "bounds"])
        .output()
        .unwrap();
    insta::assert_snapshot!(stdout(out));
}

#[test]
fn ci_matrix_text() {
    let out = kb_in(&fixtures_dir())
        .args(["ci-matrix", "--system", "x86_64-linux", "bounds"])
        .output()
        .unwrap();
    insta::assert_snapshot!(stdout(out));
}

#[test]
fn hash_and_check_builds_text() {
    let tmp = tempfile::tempdir().unwrap();
    let v = tmp.path().join("build/torch215-cxx11-cpu-x86_64-linux");
    std::fs::create_dir_all(&v).unwrap();
    std::fs::write(v.join("__init__.py"), "from ._ops import ops\n").unwrap();
    std::fs::write(
        v.join("_ops.py"),
        "import torch\nops = torch.ops._relu_cpu_abc1234\n\ndef add_op_namespace_prefix(op_name: str):\n    return f\"_relu_cpu_abc1234::{op_name}\"\n",
    )
    .unwrap();
    std::fs::write(v.join("_relu_cpu_abc1234.abi3.so"), b"\x7fELF").unwrap();
    std::fs::write(
        v.join("metadata.json"),
        r#"{"name": "relu", "id": "_relu_cpu_abc1234", "version": 1, "license": "Apache-2.0", "python-depends": [], "backend": {"type": "cpu"}}"#,
    )
    .unwrap();
    let hash = kb_in(tmp.path()).args(["hash", "."]).output().unwrap();
    let check = kb_in(tmp.path())
        .args(["hash", "--check", "."])
        .output()
        .unwrap();
    let builds = kb_in(tmp.path())
        .args(["check-builds", "."])
        .output()
        .unwrap();
    insta::assert_snapshot!(format!(
        "$ kernel-builder hash .\n{}$ kernel-builder hash --check .\n{}$ kernel-builder check-builds .\n{}",
        stdout(hash),
        stdout(check),
        stdout(builds)
    ));
}
