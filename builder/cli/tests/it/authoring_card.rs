//! `kernel-builder fill-card`: the card of a fresh scaffold, with and without
//! layers, custom templates and outputs, and error reporting.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::support::kb_in as kb;

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A fresh CPU scaffold named `org/fused-ops`.
fn scaffold(tmp: &Path) -> PathBuf {
    ok(kb(tmp)
        .args([
            "init",
            "fused-ops",
            "--name",
            "org/fused-ops",
            "--backends",
            "cpu",
        ])
        .output()
        .unwrap());
    tmp.join("fused-ops")
}

fn fill(dir: &Path) -> (String, String) {
    let o = ok(kb(dir).args(["fill-card"]).output().unwrap());
    let card = std::fs::read_to_string(dir.join("build/CARD.md")).unwrap();
    (card, String::from_utf8_lossy(&o.stderr).into_owned())
}

#[test]
fn card_of_a_fresh_scaffold() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scaffold(tmp.path());
    let (card, err) = fill(&dir);
    assert!(!err.contains("warning"), "{err}");
    assert!(
        card.starts_with("---\nlibrary_name: kernels\nlicense: apache-2.0\n"),
        "{card}"
    );
    assert!(
        card.contains("get_kernel(\"org/fused-ops\", version=1)"),
        "{card}"
    );
    assert!(card.contains("kernel.fused_ops(...)"), "{card}");
    assert!(
        card.contains("## Available functions\n\n- `fused_ops`\n"),
        "{card}"
    );
    assert!(!card.contains("Available layers"), "{card}");
    assert!(
        card.contains("kernels benchmark org/fused-ops@v1"),
        "{card}"
    );
    assert!(!card.contains("## Source"), "{card}");
    assert!(!card.contains("{{") && !card.contains("{%"), "{card}");
    // Deterministic.
    assert_eq!(fill(&dir).0, card);
}

#[test]
fn card_with_layers_upstream_and_no_benchmark() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scaffold(tmp.path());
    let pkg = dir.join("torch-ext/fused_ops");
    std::fs::write(
        pkg.join("__init__.py"),
        r#"from typing import Optional

import torch

from ._ops import ops
from . import layers


def fused_ops(x, out=None):
    ...


def silu_and_mul(x):  # not exported
    ...


__all__ = [
    "fused_ops",  # the op
    "layers",
    'gelu_tanh' "_and_mul",
]
"#,
    )
    .unwrap();
    std::fs::write(
        pkg.join("layers.py"),
        r#"import torch
from ._ops import ops


class SiluAndMul(torch.nn.Module):
    has_backward: bool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        class NotALayer:  # nested, ignored
            pass
        return x


class RMSNorm(torch.nn.Module):
    weight: torch.Tensor
    variance_epsilon: float

    def forward(self, hidden_states):
        return hidden_states
"#,
    )
    .unwrap();
    std::fs::remove_file(dir.join("benchmarks/benchmark.py")).unwrap();
    let toml = std::fs::read_to_string(dir.join("build.toml"))
        .unwrap()
        .replace(
            "# upstream = \"https://github.com/<org>/<repo>\"",
            "upstream = \"https://github.com/example/fused\"",
        );
    std::fs::write(dir.join("build.toml"), toml).unwrap();

    let (card, _) = fill(&dir);
    assert!(
        card.contains("- `fused_ops`\n- `gelu_tanh_and_mul`\n"),
        "{card}"
    );
    assert!(!card.contains("- `layers`"), "{card}");
    assert!(!card.contains("silu_and_mul`"), "{card}");
    assert!(card.contains("## Available layers"), "{card}");
    assert!(card.contains("- `SiluAndMul`\n- `RMSNorm`\n"), "{card}");
    assert!(!card.contains("NotALayer"), "{card}");
    assert!(card.contains("No benchmarks are available"), "{card}");
    assert!(card.contains("https://github.com/example/fused"), "{card}");
}

#[test]
fn custom_template_output_and_missing_card() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scaffold(tmp.path());
    std::fs::write(
        dir.join("CARD.md"),
        "{{ repo_id }} v{{ version }} [{{ backends | join(\",\") }}]: {{ functions | join(\" \") }}\n",
    )
    .unwrap();
    let out = tmp.path().join("out/README.md");
    ok(kb(&dir)
        .args(["fill-card", ".", out.to_str().unwrap()])
        .output()
        .unwrap());
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "org/fused-ops v1 [cpu]: fused_ops\n"
    );

    // An unknown variable is an error that names the file.
    std::fs::write(dir.join("CARD.md"), "{{ repo }}\n").unwrap();
    let o = kb(&dir).args(["fill-card"]).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("CARD.md") && err.contains("repo_id"), "{err}");

    // Without CARD.md, the built-in template is used (with a warning).
    std::fs::remove_file(dir.join("CARD.md")).unwrap();
    let (card, err) = fill(&dir);
    assert!(err.contains("built-in card template"), "{err}");
    assert!(card.contains("get_kernel(\"org/fused-ops\", version=1)"));
}

#[test]
fn python_syntax_errors_are_reported_with_positions() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scaffold(tmp.path());
    std::fs::write(
        dir.join("torch-ext/fused_ops/__init__.py"),
        "from ._ops import ops\n\n__all__ = [\n    \"fused_ops\",\n",
    )
    .unwrap();
    let o = kb(&dir).args(["fill-card"]).output().unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("torch-ext/fused_ops/__init__.py:3:11"),
        "{err}"
    );
    assert!(err.contains("never closed"), "{err}");
    assert!(!dir.join("build/CARD.md").exists());
}

#[test]
fn library_entry_point_for_build_and_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = scaffold(tmp.path());
    let path = kb_author::card::fill_card(&dir, None).unwrap().path;
    assert_eq!(path, dir.join("build/CARD.md"));
    assert!(std::fs::read_to_string(path)
        .unwrap()
        .contains("org/fused-ops"));
}
