//! `check-builds`: the layout of each variant directory and a compliance
//! report (which required variants of the matrix are present per backend
//! and system).
//!
//! A variant directory (current layout) is the package itself:
//! `__init__.py`, `_ops.py`, the other Python files, the native module
//! `<id>.abi3.so` and `metadata.json`, whose `id` is also the op namespace
//! `_ops.py` points at. The old nested `<python_name>/` compatibility
//! directory must be gone.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kb_core::report::Status;
use kb_core::KernelProject;
use serde::Serialize;

use super::{
    display_path, hash, ops_namespace, resolve_target, Framework, InputError, Target, VariantName,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a variant directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issue {
    pub severity: Severity,
    /// File or directory inside the variant the issue is about.
    pub path: Option<String>,
    pub message: String,
}

impl Issue {
    fn error(path: Option<&str>, message: impl Into<String>) -> Issue {
        Issue {
            severity: Severity::Error,
            path: path.map(str::to_string),
            message: message.into(),
        }
    }
    fn warning(path: Option<&str>, message: impl Into<String>) -> Issue {
        Issue {
            severity: Severity::Warning,
            path: path.map(str::to_string),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Issue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match &self.path {
            Some(p) => write!(f, "{sev}: {p}: {}", self.message),
            None => write!(f, "{sev}: {}", self.message),
        }
    }
}

/// The layout report of one variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VariantLayout {
    pub variant: String,
    #[serde(skip)]
    pub dir: PathBuf,
    pub issues: Vec<Issue>,
}

impl VariantLayout {
    pub fn has_errors(&self) -> bool {
        self.issues.iter().any(|i| i.severity == Severity::Error)
    }
}

/// Backend types the loader accepts in `metadata.json`.
const BACKEND_TYPES: &[&str] = &[
    "cann", "cpu", "cuda", "metal", "neuron", "rocm", "tpu", "xpu",
];

/// Allowed `python-depends` (the loader's list): general, then per backend.
const GENERAL_PYTHON_DEPENDS: &[&str] = &["einops", "helion", "tvm-ffi"];
const BACKEND_PYTHON_DEPENDS: &[(&str, &str)] = &[
    ("cuda", "nvidia-cutlass-dsl"),
    ("xpu", "onednn"),
    ("neuron", "nki"),
];

pub fn is_kernel_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

pub fn is_python_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `torch.ops.<name>` occurrences in `_ops.py` (read with the Python parser).
#[cfg(test)]
fn torch_ops_namespaces(src: &str) -> BTreeSet<String> {
    kb_core::python::ops_module(src)
        .map(|m| m.namespaces)
        .unwrap_or_default()
}

/// Check the layout of one variant directory. `python_name` comes from
/// `build.toml` when known (otherwise from `metadata.json`).
pub fn check_variant_layout(dir: &Path, python_name: Option<&str>) -> VariantLayout {
    let variant = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut issues = Vec::new();
    let vname = match VariantName::parse(&variant) {
        Ok(v) => Some(v),
        Err(e) => {
            issues.push(Issue::error(None, e));
            None
        }
    };
    let noarch = vname.as_ref().is_some_and(|v| v.is_noarch());

    if !dir.join("__init__.py").is_file() {
        issues.push(Issue::error(
            Some("__init__.py"),
            "missing: the variant directory must be the Python package itself (flat layout)",
        ));
    }

    // metadata.json
    use kb_core::metadata::MetadataError;
    let meta: Option<serde_json::Map<String, serde_json::Value>> =
        match kb_core::metadata::read_value(dir) {
            Ok(m) => Some(m),
            Err(MetadataError::Read { source, .. }) => {
                issues.push(Issue::error(
                    Some("metadata.json"),
                    format!("cannot read ({source}); every variant needs one"),
                ));
                None
            }
            Err(MetadataError::Json { message, .. }) => {
                issues.push(Issue::error(
                    Some("metadata.json"),
                    format!("invalid JSON: {message}"),
                ));
                None
            }
            Err(_) => {
                issues.push(Issue::error(
                    Some("metadata.json"),
                    "expected a JSON object",
                ));
                None
            }
        };
    let mut id: Option<String> = None;
    let mut meta_python_name: Option<String> = None;
    if let Some(m) = &meta {
        let md = Some("metadata.json");
        match m.get("name").and_then(|v| v.as_str()) {
            Some(n) if is_kernel_name(n) => meta_python_name = Some(n.replace('-', "_")),
            Some(n) => issues.push(Issue::error(
                md,
                format!("`name` \"{n}\" is not a valid kernel name (lowercase letters, digits and `-`, starting with a letter)"),
            )),
            None => issues.push(Issue::error(md, "`name` (string) is required")),
        }
        match m.get("id").and_then(|v| v.as_str()) {
            Some(i) if is_python_identifier(i) => id = Some(i.to_string()),
            Some(i) => issues.push(Issue::error(
                md,
                format!("`id` \"{i}\" is not a valid Python module name"),
            )),
            None => issues.push(Issue::error(md, "`id` (string) is required")),
        }
        if !m.get("version").is_some_and(|v| v.is_u64()) {
            issues.push(Issue::error(
                md,
                "`version` (non-negative integer) is required",
            ));
        }
        if !m.get("license").is_some_and(|v| v.is_string()) {
            issues.push(Issue::error(md, "`license` (string) is required"));
        }
        let backend_type = m
            .get("backend")
            .and_then(|b| b.get("type"))
            .and_then(|t| t.as_str());
        match backend_type {
            None => issues.push(Issue::error(
                md,
                "`backend.type` is required (e.g. {\"type\": \"cuda\", \"archs\": [...]})",
            )),
            Some(t) if !BACKEND_TYPES.contains(&t) => issues.push(Issue::error(
                md,
                format!(
                    "`backend.type` \"{t}\" is unknown; one of {}",
                    BACKEND_TYPES.join(", ")
                ),
            )),
            Some(t) => {
                if let Some(expected) = vname.as_ref().and_then(|v| v.backend()) {
                    if expected != t {
                        issues.push(Issue::error(
                            md,
                            format!("`backend.type` is \"{t}\" but the variant name `{variant}` is a {expected} variant"),
                        ));
                    }
                }
                // Noarch (pure-Python) variants compile nothing: no archs to list.
                let noarch = vname.as_ref().is_some_and(|v| v.is_noarch());
                if matches!(t, "cuda" | "rocm") && !noarch {
                    let archs = m
                        .get("backend")
                        .and_then(|b| b.get("archs"))
                        .and_then(|a| a.as_array());
                    match archs {
                        Some(a) if !a.is_empty() && a.iter().all(|x| x.is_string()) => {}
                        _ => issues.push(Issue::error(
                            md,
                            format!("`backend.archs` must list the {t} architectures compiled into the build"),
                        )),
                    }
                }
            }
        }
        match m.get("python-depends") {
            Some(serde_json::Value::Array(deps)) => {
                for d in deps {
                    let Some(d) = d.as_str() else {
                        issues.push(Issue::error(
                            md,
                            "`python-depends` must be a list of strings",
                        ));
                        continue;
                    };
                    let ok = GENERAL_PYTHON_DEPENDS.contains(&d)
                        || BACKEND_PYTHON_DEPENDS
                            .iter()
                            .any(|(b, p)| *p == d && backend_type == Some(*b));
                    if !ok {
                        issues.push(Issue::error(
                            md,
                            format!("`python-depends` entry \"{d}\" is not allowed for this backend by the loader"),
                        ));
                    }
                }
            }
            Some(_) => issues.push(Issue::error(md, "`python-depends` must be a list")),
            None => issues.push(Issue::error(
                md,
                "`python-depends` (list, may be empty) is required by the loader",
            )),
        }
        if let Some(kd) = m.get("kernel-depends") {
            if !kd.is_array() {
                issues.push(Issue::error(md, "`kernel-depends` must be a list"));
            }
        }
        if m.contains_key("digest") {
            match hash::check_digest(dir) {
                Ok(mismatches) => {
                    for mm in mismatches {
                        issues.push(Issue::error(md, format!("digest: {mm}")));
                    }
                }
                Err(e) => issues.push(Issue::error(md, format!("digest: {}", e.message))),
            }
        }
    }

    let python_name = python_name.map(str::to_string).or(meta_python_name.clone());
    if let (Some(pn), Some(mn)) = (python_name.as_deref(), meta_python_name.as_deref()) {
        if pn != mn {
            issues.push(Issue::error(
                Some("metadata.json"),
                format!("`name` gives the module name `{mn}` but build.toml's kernel is `{pn}`"),
            ));
        }
    }

    // Leftover nested compatibility directory.
    if let Some(pn) = &python_name {
        let nested = dir.join(pn);
        if nested.is_dir() {
            issues.push(Issue::error(
                Some(pn),
                format!("leftover nested compatibility directory `{pn}/`: the current layout is flat; remove it"),
            ));
        }
    }

    // Native modules at the top level.
    let files = match kb_core::walk::files(dir, kb_core::walk::Rule::Variant) {
        Ok(f) => f,
        Err(e) => {
            issues.push(Issue::error(None, e.to_string()));
            Vec::new()
        }
    };
    let mut natives: Vec<String> = files
        .iter()
        .filter(|f| !f.rel.contains('/'))
        .map(|f| f.rel.clone())
        .filter(|n| super::files::is_native_name(n))
        .collect();
    natives.sort();
    let tvm = vname.as_ref().map(|v| v.framework) == Some(Framework::TvmFfi);
    if let Some(id) = &id {
        if let Some(pn) = &python_name {
            if !id.starts_with(&format!("_{pn}_")) {
                issues.push(Issue::warning(
                    Some("metadata.json"),
                    format!("`id` \"{id}\" does not follow `_{pn}_<backend>_<unique>`"),
                ));
            }
        }
        if !noarch {
            let expected = super::files::expected_native_modules(vname.as_ref(), id);
            if !natives.iter().any(|n| expected.contains(n)) {
                issues.push(Issue::error(
                    Some(&expected[0]),
                    format!("missing: the native module must be named after the `id` in metadata.json (`{}`)", expected[0]),
                ));
            }
        }
        for n in &natives {
            let stem = n.split('.').next().unwrap_or(n);
            let is_module = n.ends_with(".abi3.so")
                || n.ends_with(".pyd")
                || n.contains(".cpython-")
                || (stem.starts_with('_') && n.ends_with(".so"));
            if !is_module {
                continue;
            }
            if n.contains(".cpython-") {
                issues.push(Issue::error(
                    Some(n),
                    "version-specific extension module: kernels must be abi3 (`<id>.abi3.so`)",
                ));
            } else if stem != id {
                issues.push(Issue::error(
                    Some(n),
                    format!("native module name does not match the `id` \"{id}\" in metadata.json"),
                ));
            }
        }
        for f in super::files::python_files_mentioning(dir, id) {
            issues.push(Issue::error(
                Some(&f),
                format!("hard-codes this build's ops id `{id}`; every build has its own id, so use `ops` / `add_op_namespace_prefix` from `._ops`"),
            ));
        }
        // _ops.py
        let ops_path = dir.join("_ops.py");
        let ops_src = kb_core::fsutil::read_regular(&ops_path)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        match ops_src.map(|src| kb_core::python::ops_module(&src)) {
            None if noarch => issues.push(Issue::warning(
                Some("_ops.py"),
                "missing: without it Python code cannot build op names with add_op_namespace_prefix",
            )),
            None => issues.push(Issue::error(Some("_ops.py"), "missing")),
            Some(Err(e)) => issues.push(Issue::error(
                Some("_ops.py"),
                format!("line {e}"),
            )),
            Some(Ok(ops)) if tvm => {
                // tvm-ffi: `ops` is the module tvm_ffi.load_module opens.
                let so = format!("{id}.so");
                if !ops
                    .tvm_ffi_loads
                    .iter()
                    .any(|l| l == &so || l.ends_with(&format!("/{so}")))
                {
                    issues.push(Issue::error(
                        Some("_ops.py"),
                        format!("does not load `{so}` with `tvm_ffi.load_module` (the `id` in metadata.json)"),
                    ));
                }
            }
            Some(Ok(ops)) => {
                let spaces = &ops.namespaces;
                if !spaces.contains(id) {
                    issues.push(Issue::error(
                        Some("_ops.py"),
                        format!("does not expose `ops = torch.ops.{id}` (the `id` in metadata.json)"),
                    ));
                }
                for other in spaces.iter().filter(|s| *s != id) {
                    issues.push(Issue::error(
                        Some("_ops.py"),
                        format!("refers to `torch.ops.{other}`, but this build's namespace is `{id}`"),
                    ));
                }
                if !ops.defines_prefix_function {
                    issues.push(Issue::error(
                        Some("_ops.py"),
                        "does not define `add_op_namespace_prefix`",
                    ));
                } else if !ops
                    .prefix_literals
                    .iter()
                    .any(|l| l.contains(&format!("{id}::")))
                {
                    issues.push(Issue::error(
                        Some("_ops.py"),
                        format!("`add_op_namespace_prefix` does not prefix with `{id}::`"),
                    ));
                }
            }
        }
    } else if noarch && !natives.is_empty() {
        issues.push(Issue::warning(
            Some(&natives[0]),
            "noarch variants should not contain native code",
        ));
    }

    // Literal op names in Python registrations.
    match ops_namespace::scan_dir(dir) {
        Ok(found) => {
            for f in found {
                let rel = display_path(&f.file, dir);
                let msg = f.to_string();
                let msg = msg
                    .strip_prefix(&format!("{}:", f.file.display()))
                    .map(|m| format!("line {m}"))
                    .unwrap_or(msg);
                issues.push(Issue::error(Some(&rel), msg));
            }
        }
        Err(e) => issues.push(Issue::error(None, format!("cannot scan Python files: {e}"))),
    }

    // Bytecode.
    if dir.join("__pycache__").exists() {
        issues.push(Issue::warning(
            Some("__pycache__"),
            "bytecode in the build; it is not part of the digest and should not be shipped",
        ));
    }

    VariantLayout {
        variant,
        dir: dir.to_path_buf(),
        issues,
    }
}

/// Required variants per (backend, system) and which of them are present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compliance {
    pub backend: String,
    /// Nix system, or `noarch`.
    pub system: String,
    pub present: Vec<String>,
    pub missing: Vec<String>,
}

impl Compliance {
    pub fn compliant(&self) -> bool {
        self.missing.is_empty()
    }
}

/// The compliance report of a kernel project against its plan.
pub fn compliance(plan: &kb_core::plan::Plan, present: &BTreeSet<String>) -> Vec<Compliance> {
    let mut groups: BTreeMap<(String, String), (Vec<String>, Vec<String>)> = BTreeMap::new();
    for v in plan.variants.iter().filter(|v| v.required) {
        let key = (
            v.backend.as_str().to_string(),
            v.system.clone().unwrap_or_else(|| "noarch".into()),
        );
        let entry = groups.entry(key).or_default();
        if present.contains(&v.name) {
            entry.0.push(v.name.clone());
        } else {
            entry.1.push(v.name.clone());
        }
    }
    groups
        .into_iter()
        .map(|((backend, system), (present, missing))| Compliance {
            backend,
            system,
            present,
            missing,
        })
        .collect()
}

/// The `check-builds` report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildsReport {
    pub variants: Vec<VariantLayout>,
    pub compliance: Option<Vec<Compliance>>,
    /// Variants present that the current matrix does not plan.
    pub unplanned: Vec<String>,
    pub layout_ok: bool,
    pub compliant: Option<bool>,
}

/// `kernel-builder check-builds DIR`; `project` is the kernel project the
/// target is part of (see [`Target::project_root`]), when it has one.
pub fn run(dir: &Path, project: Option<&KernelProject>) -> Result<BuildsReport, InputError> {
    let target = resolve_target(dir, false)?;
    let plan = project.map(|p| &p.plan);
    let python_name = plan.map(|p| p.kernel.python_name.clone());
    let variants: Vec<VariantLayout> = target
        .variants()
        .iter()
        .map(|v| check_variant_layout(v, python_name.as_deref()))
        .collect();
    let present: BTreeSet<String> = variants.iter().map(|v| v.variant.clone()).collect();
    let (comp, unplanned) = match plan {
        Some(p) => {
            let planned: BTreeSet<&str> = p.variants.iter().map(|v| v.name.as_str()).collect();
            (
                Some(compliance(p, &present)),
                present
                    .iter()
                    .filter(|n| !planned.contains(n.as_str()))
                    .cloned()
                    .collect(),
            )
        }
        None => (None, Vec::new()),
    };
    let layout_ok = !variants.iter().any(|v| v.has_errors());
    let compliant = comp.as_ref().map(|c| c.iter().all(|c| c.compliant()));
    Ok(BuildsReport {
        variants,
        compliance: comp,
        unplanned,
        layout_ok,
        compliant,
    })
}

impl kb_core::Report for BuildsReport {
    fn text(&self) -> String {
        render_text(self)
    }

    fn status(&self) -> Status {
        if self.layout_ok && self.compliant != Some(false) {
            Status::Ok
        } else {
            Status::Findings
        }
    }
}

fn render_text(r: &BuildsReport) -> String {
    let mut s = String::new();
    for v in &r.variants {
        let status = if v.has_errors() { "FAIL " } else { "ok   " };
        s.push_str(&format!("{status} {}\n", v.variant));
        for i in &v.issues {
            s.push_str(&format!("      {i}\n"));
        }
    }
    match &r.compliance {
        None => s.push_str("no build.toml found: layout checked, compliance not assessed\n"),
        Some(groups) => {
            s.push_str("compliance (required variants of the matrix):\n");
            for g in groups {
                let total = g.present.len() + g.missing.len();
                if g.compliant() {
                    s.push_str(&format!(
                        "  ok    {} {}: {}/{} required variants present\n",
                        g.backend,
                        g.system,
                        g.present.len(),
                        total
                    ));
                } else {
                    s.push_str(&format!(
                        "  MISSING {} {}: {}/{} present; missing {}\n",
                        g.backend,
                        g.system,
                        g.present.len(),
                        total,
                        g.missing.join(", ")
                    ));
                }
            }
            if !r.unplanned.is_empty() {
                s.push_str(&format!(
                    "  note: not in the current matrix: {}\n",
                    r.unplanned.join(", ")
                ));
            }
        }
    }
    s.push_str(&format!(
        "layout: {}; compliance: {}\n",
        if r.layout_ok { "ok" } else { "errors" },
        match r.compliant {
            Some(true) => "compliant",
            Some(false) => "NOT compliant (required variants missing)",
            None => "not assessed",
        }
    ));
    s
}

/// Layout check of every variant of a target (for the build integration).
pub fn check_target(target: &Target, python_name: Option<&str>) -> Vec<VariantLayout> {
    target
        .variants()
        .iter()
        .map(|v| check_variant_layout(v, python_name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_kernel_name("relu"));
        assert!(is_kernel_name("flash-attn2"));
        assert!(!is_kernel_name("Relu"));
        assert!(!is_kernel_name("relu-"));
        assert!(!is_kernel_name("r"));
        assert!(is_python_identifier("_relu_cpu_abc1234"));
        assert!(!is_python_identifier("1abc"));
        assert!(!is_python_identifier("a-b"));
        let ns = torch_ops_namespaces(
            "import torch\nops = torch.ops._relu_cpu_1\nx = torch.ops.other.y\n",
        );
        assert_eq!(
            ns.into_iter().collect::<Vec<_>>(),
            vec!["_relu_cpu_1", "other"]
        );
    }
}
