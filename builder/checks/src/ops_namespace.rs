//! Op-namespace hygiene of a kernel's Python sources.
//!
//! Every build registers its ops under a unique namespace (the ops id), so
//! two builds of one kernel can be loaded side by side. Python code that
//! registers ops with `torch.library` must therefore build op names with
//! `add_op_namespace_prefix(...)` from the generated `_ops` module. This
//! check finds registrations whose name is a string literal instead, e.g.
//!
//! ```python
//! @torch.library.register_fake("relu::relu_fwd")   # rejected
//! @torch.library.register_fake(add_op_namespace_prefix("relu_fwd"))   # ok
//! ```
//!
//! It reads the syntax tree (`kb_core::python`), not text: comments and
//! strings are recognised (so a registration inside a docstring is ignored),
//! calls may span lines, and `torch.library` may be reached through `import
//! torch as th`, `import torch.library as tl`, `from torch import library` or
//! `from torch.library import register_fake as rf`.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// A registration with a literal op name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LiteralRegistration {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// `torch.library.register_fake`
    pub function: String,
    /// The literal as written.
    pub literal: String,
}

impl std::fmt::Display for LiteralRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = literal_value(&self.literal);
        let hint = if self.function.ends_with("Library") {
            "use this build's namespace from `._ops` (`ops.name`)".to_string()
        } else {
            let rest = inner.split_once("::").map(|(_, r)| r).unwrap_or(&inner);
            format!("use `add_op_namespace_prefix(\"{rest}\")` from `._ops`")
        };
        write!(
            f,
            "{}:{}:{}: `{}` registers the literal op name {}; {hint} so the op lands in this build's unique namespace",
            self.file.display(),
            self.line,
            self.column,
            self.function,
            self.literal
        )
    }
}

/// The content of a simple string literal (prefix and quotes removed).
fn literal_value(lit: &str) -> String {
    let s = lit.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let s = s
        .strip_prefix("\"\"\"")
        .and_then(|s| s.strip_suffix("\"\"\""))
        .or_else(|| s.strip_prefix("'''").and_then(|s| s.strip_suffix("'''")))
        .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
        .or_else(|| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(s);
    s.to_string()
}

/// Scan Python source text; `file` is only used in the findings.
pub fn scan_source(src: &str, file: &Path) -> Vec<LiteralRegistration> {
    kb_core::python::literal_registrations(src)
        .into_iter()
        .map(|r| LiteralRegistration {
            file: file.to_path_buf(),
            line: r.line,
            column: r.column,
            function: r.function,
            literal: r.literal,
        })
        .collect()
}

/// Scan every `.py`/`.pyi` file of a variant (the one walk, sorted).
/// Files that are not UTF-8 are skipped.
pub fn scan_dir(dir: &Path) -> Result<Vec<LiteralRegistration>, kb_core::walk::WalkError> {
    let mut out = Vec::new();
    for f in kb_core::walk::files(dir, kb_core::walk::Rule::Variant)? {
        if !(f.rel.ends_with(".py") || f.rel.ends_with(".pyi")) {
            continue;
        }
        let bytes =
            kb_core::fsutil::read_regular(&f.path).map_err(|e| kb_core::walk::WalkError {
                path: f.path.clone(),
                kind: kb_core::walk::WalkErrorKind::Io(e),
            })?;
        if let Ok(text) = String::from_utf8(bytes) {
            out.extend(scan_source(&text, &f.path));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(src: &str) -> Vec<(usize, String, String)> {
        scan_source(src, Path::new("x.py"))
            .into_iter()
            .map(|f| (f.line, f.function, f.literal))
            .collect()
    }

    #[test]
    fn literal_names_are_found() {
        let src = r#"
import torch
from ._ops import add_op_namespace_prefix, ops

@torch.library.register_fake("relu::relu_fwd")
def a(x): ...

@torch.library.register_fake(add_op_namespace_prefix("relu_fwd"))
def b(x): ...

@torch.library.custom_op(
    # a comment with "quotes" and torch.library.custom_op("x::y")
    "relu::fused",
    mutates_args=(),
)
def c(x): ...

torch.library.define(add_op_namespace_prefix("g(Tensor x) -> Tensor"))
torch.library.define("relu::g(Tensor x) -> Tensor")
torch.library.impl(qualname="relu::g", types="CPU", func=c)
torch.library.register_kernel(ops.relu.default, "cpu")
"""torch.library.register_fake("in::docstring")"""
"#;
        let found = scan(src);
        assert_eq!(
            found,
            vec![
                (
                    5,
                    "torch.library.register_fake".into(),
                    "\"relu::relu_fwd\"".into()
                ),
                (
                    13,
                    "torch.library.custom_op".into(),
                    "\"relu::fused\"".into()
                ),
                (
                    19,
                    "torch.library.define".into(),
                    "\"relu::g(Tensor x) -> Tensor\"".into()
                ),
                (20, "torch.library.impl".into(), "\"relu::g\"".into()),
            ]
        );
    }

    #[test]
    fn aliases_are_followed() {
        let src = r#"
import torch as th
import torch.library as tl
from torch import library as L
from torch.library import (
    register_fake as rf,
    triton_op,
)
th.library.register_vmap("a::b")
tl.register_torch_dispatch('a::c', None)
L.triton_op(name=f"a::d", mutates_args={})
rf(r"a::e")
triton_op(f"{ns}::ok", mutates_args={})
other.register_fake("not::torch")
"#;
        let found = scan(src);
        let lines: Vec<usize> = found.iter().map(|f| f.0).collect();
        assert_eq!(lines, vec![9, 10, 11, 12]);
        assert_eq!(found[3].1, "rf (torch.library.register_fake)");
    }

    #[test]
    fn message_suggests_the_fix() {
        let f = &scan_source(
            "import torch\ntorch.library.register_fake('relu::fwd')\n",
            Path::new("pkg/x.py"),
        )[0];
        let msg = f.to_string();
        assert!(msg.starts_with("pkg/x.py:2:29:"), "{msg}");
        assert!(msg.contains("add_op_namespace_prefix(\"fwd\")"), "{msg}");
    }

    #[test]
    fn garbage_does_not_panic() {
        for src in [
            "'''",
            "torch.library.register_fake(",
            "\"\\",
            "f'{",
            "é(((\"",
            "r'\\",
        ] {
            let _ = scan(src);
        }
    }
}
