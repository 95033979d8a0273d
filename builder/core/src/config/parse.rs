//! Reads `build.toml` (editions 3, 4 and 5) into the edition-5 model.
//!
//! We walk the `toml_edit` tree ourselves instead of using serde so that every
//! error carries the key path and a line:column, unknown keys get a
//! "did you mean", and all problems in a file are reported at once.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use toml_edit::{Document, Item, TableLike, Value};

use super::diag::{did_you_mean, ConfigErrors, Diagnostic, Reporter, Severity};
use super::model::*;

const TOP_KEYS: &[&str] = &["general", "torch", "torch-noarch", "tvm-ffi", "kernel"];
const GENERAL_V5: &[&str] = &[
    "name",
    "version",
    "edition",
    "license",
    "upstream",
    "source",
    "minver",
    "backends",
    "cuda",
    "hub",
    "kernel-depends",
    "neuron",
    "python-depends",
    "tpu",
    "xpu",
];
/// Keys of the formats without `edition` (the reference's v3 and v4, plus
/// the older `general.cuda.capabilities` / `general.rocm` that
/// `update-build` moves into the kernels).
const GENERAL_LEGACY: &[&str] = &[
    "name",
    "version",
    "license",
    "upstream",
    "source",
    "backends",
    "cuda",
    "hub",
    "neuron",
    "python-depends",
    "rocm",
    "xpu",
];
/// `[torch]` (every edition: the reference's v4 already has `cxx-flags`
/// and a single-version `stable-abi`).
const TORCH_KEYS: &[&str] = &[
    "include",
    "minver",
    "maxver",
    "pyext",
    "src",
    "stable-abi",
    "cxx-flags",
];
/// `[torch-noarch]`: the reference spells the list keys with underscores
/// (`cuda_capabilities`, `rocm_archs`); kernel-builder also reads the
/// kebab-case spelling used everywhere else in build.toml.
const NOARCH_KEYS: &[&str] = &[
    "pyext",
    "cuda-capabilities",
    "cuda_capabilities",
    "rocm-archs",
    "rocm_archs",
];
const TVM_KEYS: &[&str] = &["include", "pyext", "src", "cxx-flags"];
/// Backends with tvm-ffi variants (reference `nix-builder/versions.nix`:
/// build sets with `tvmFfiVersion` exist for cpu, cuda and xpu).
const TVM_FFI_BACKENDS: &[Backend] = &[Backend::Cpu, Backend::Cuda, Backend::Xpu];
const KERNEL_COMMON: &[&str] = &["backend", "depends", "src", "include", "cxx-flags"];

fn kernel_backend_keys(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Cuda => &["cuda-capabilities", "cuda-flags", "cuda-minver"],
        Backend::Rocm => &["rocm-archs", "hip-flags"],
        Backend::Xpu => &["sycl-flags"],
        _ => &[],
    }
}

/// A parsed configuration plus the warnings produced while reading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: BuildConfig,
    pub warnings: Vec<Diagnostic>,
    pub path: PathBuf,
    pub source: String,
}

/// Locate `build.toml` for a kernel directory argument (a directory or the file itself).
pub fn build_toml_path(dir: Option<&Path>) -> PathBuf {
    let dir = dir.unwrap_or(Path::new("."));
    if dir.is_file() || dir.extension().is_some_and(|e| e == "toml") {
        dir.to_path_buf()
    } else {
        dir.join("build.toml")
    }
}

fn io_error(path: &Path, message: String, help: &str) -> ConfigErrors {
    ConfigErrors(vec![Diagnostic {
        severity: Severity::Error,
        file: path.to_path_buf(),
        key: String::new(),
        position: None,
        message,
        help: Some(help.to_string()),
    }])
}

/// Load and validate the `build.toml` of a kernel directory, checking the file system.
pub fn load(dir: Option<&Path>) -> Result<Loaded, ConfigErrors> {
    load_with(dir, true)
}

/// [`load`]; with `check_fs` false the source paths `build.toml` names need
/// not exist (only `build.toml` is at hand, as in the Nix plan derivation).
pub fn load_with(dir: Option<&Path>, check_fs: bool) -> Result<Loaded, ConfigErrors> {
    let path = build_toml_path(dir);
    // Never open a FIFO, socket or device (reading one would block forever);
    // a directory or a dangling link is named as such.
    let source = match crate::fsutil::read_regular(&path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            io_error(
                &path,
                "the file is not valid UTF-8".into(),
                "save build.toml as UTF-8",
            )
        })?,
        Err(e)
            if e.kind() == std::io::ErrorKind::NotFound
                && std::fs::symlink_metadata(&path).is_err() =>
        {
            return Err(io_error(
                &path,
                "no build.toml here".into(),
                "pass the kernel project directory, or create a project with `kernel-builder init`",
            ))
        }
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::InvalidInput
            ) =>
        {
            return Err(io_error(
                &path,
                e.to_string(),
                "build.toml must be a regular file (or a link to one)",
            ))
        }
        Err(e) => {
            return Err(io_error(
                &path,
                format!("cannot read: {e}"),
                "check the file's permissions",
            ))
        }
    };
    let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root
    };
    let (config, warnings) = parse_str(&source, &path, &root, check_fs)?;
    Ok(Loaded {
        config,
        warnings,
        path,
        source,
    })
}

/// Parse `src` (the contents of `file`). With `check_fs`, source paths must
/// exist under `root`.
pub fn parse_str(
    src: &str,
    file: &Path,
    root: &Path,
    check_fs: bool,
) -> Result<(BuildConfig, Vec<Diagnostic>), ConfigErrors> {
    let mut r = Reporter::new(file, src);
    let doc = match Document::parse(src.to_string()) {
        Ok(d) => d,
        Err(e) => {
            let msg = e.message().trim().to_string();
            r.error(
                "",
                e.span(),
                format!("invalid TOML: {msg}"),
                "fix the TOML syntax at this position",
            );
            return Err(ConfigErrors(r.diagnostics));
        }
    };
    let mut w = Walker { r, root, check_fs };
    let config = w.document(doc.as_table());
    let Walker { r, .. } = w;
    let (errors, warnings): (Vec<_>, Vec<_>) = r
        .diagnostics
        .into_iter()
        .partition(|d| d.severity == Severity::Error);
    match config {
        Some(c) if errors.is_empty() => Ok((c, warnings)),
        _ => Err(ConfigErrors(errors)),
    }
}

struct Walker<'a> {
    r: Reporter<'a>,
    root: &'a Path,
    check_fs: bool,
}

fn kind(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::Value(v) => value_kind(v),
    }
}

fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::InlineTable(_) => "an inline table",
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Spans of an item: for tables, prefer the header/key.
fn item_span(item: &Item) -> Option<Range<usize>> {
    match item {
        Item::Table(t) => t.span(),
        Item::Value(v) => v.span(),
        Item::ArrayOfTables(a) => a.span(),
        Item::None => None,
    }
}

impl<'a> Walker<'a> {
    fn key_span(&self, t: &dyn TableLike, key: &str) -> Option<Range<usize>> {
        t.get_key_value(key)
            .and_then(|(k, v)| k.span().or_else(|| item_span(v)))
    }

    fn unknown_keys(&mut self, t: &dyn TableLike, path: &str, allowed: &[&str], context: &str) {
        self.unknown_keys_shown(t, path, allowed, allowed, context)
    }

    /// Like `unknown_keys`, accepting `accept` but suggesting only `shown`.
    fn unknown_keys_shown(
        &mut self,
        t: &dyn TableLike,
        path: &str,
        accept: &[&str],
        shown: &[&str],
        context: &str,
    ) {
        let allowed = shown;
        let keys: Vec<(String, Option<Range<usize>>)> = t
            .iter()
            .map(|(k, _)| (k.to_string(), self.key_span(t, k)))
            .collect();
        for (k, span) in keys {
            if accept.contains(&k.as_str()) {
                continue;
            }
            let help = match did_you_mean(&k, accept) {
                Some(s) => format!(
                    "did you mean `{s}`? Known keys{context}: {}",
                    allowed.join(", ")
                ),
                None => format!("remove it; known keys{context}: {}", allowed.join(", ")),
            };
            self.r.error(&join(path, &k), span, "unknown key", help);
        }
    }

    fn table<'d>(&mut self, item: &'d Item, path: &str) -> Option<&'d dyn TableLike> {
        match item.as_table_like() {
            Some(t) => Some(t),
            None => {
                self.r.error(
                    path,
                    item_span(item),
                    format!("expected a table, found {}", kind(item)),
                    format!("write it as a `[{path}]` section"),
                );
                None
            }
        }
    }

    fn string(
        &mut self,
        t: &dyn TableLike,
        path: &str,
        key: &str,
        example: &str,
    ) -> Option<(String, Option<Range<usize>>)> {
        let item = t.get(key)?;
        let p = join(path, key);
        match item.as_str() {
            Some(s) => Some((s.to_string(), item_span(item))),
            None => {
                self.r.error(
                    &p,
                    item_span(item),
                    format!("expected a string, found {}", kind(item)),
                    format!("for example `{key} = {example}`"),
                );
                None
            }
        }
    }

    fn required_string(
        &mut self,
        t: &dyn TableLike,
        path: &str,
        key: &str,
        example: &str,
        table_span: Option<Range<usize>>,
    ) -> Option<(String, Option<Range<usize>>)> {
        if t.get(key).is_none() {
            self.r.error(
                &join(path, key),
                table_span,
                "missing required key",
                format!("add `{key} = {example}` to the `[{path}]` section"),
            );
            return None;
        }
        self.string(t, path, key, example)
    }

    fn integer(
        &mut self,
        t: &dyn TableLike,
        path: &str,
        key: &str,
        example: &str,
    ) -> Option<(i64, Option<Range<usize>>)> {
        let item = t.get(key)?;
        match item.as_integer() {
            Some(i) => Some((i, item_span(item))),
            None => {
                self.r.error(
                    &join(path, key),
                    item_span(item),
                    format!("expected an integer, found {}", kind(item)),
                    format!("for example `{key} = {example}`"),
                );
                None
            }
        }
    }

    /// A list of strings with the span of each element.
    fn strings(
        &mut self,
        t: &dyn TableLike,
        path: &str,
        key: &str,
        example: &str,
    ) -> Option<Vec<(String, Option<Range<usize>>)>> {
        let item = t.get(key)?;
        let p = join(path, key);
        let Some(arr) = item.as_array() else {
            self.r.error(
                &p,
                item_span(item),
                format!("expected a list of strings, found {}", kind(item)),
                format!("for example `{key} = {example}`"),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, v) in arr.iter().enumerate() {
            match v.as_str() {
                Some(s) => out.push((s.to_string(), v.span())),
                None => {
                    ok = false;
                    self.r.error(
                        &format!("{p}[{i}]"),
                        v.span(),
                        format!("expected a string, found {}", value_kind(v)),
                        format!("for example `{key} = {example}`"),
                    );
                }
            }
        }
        ok.then_some(out)
    }

    fn version(
        &mut self,
        t: &dyn TableLike,
        path: &str,
        key: &str,
        parts: std::ops::RangeInclusive<usize>,
        example: &str,
    ) -> Option<Version> {
        let (s, span) = self.string(t, path, key, example)?;
        match s.parse::<Version>() {
            Ok(v) if parts.contains(&v.0.len()) => Some(v),
            Ok(_) => {
                self.r.error(
                    &join(path, key),
                    span,
                    format!("`{s}` has the wrong number of components"),
                    format!("use a version like {example}"),
                );
                None
            }
            Err(e) => {
                self.r.error(
                    &join(path, key),
                    span,
                    e,
                    format!("use a version like {example}"),
                );
                None
            }
        }
    }

    fn flags(&mut self, t: &dyn TableLike, path: &str, key: &str) -> Vec<String> {
        self.flags_with(t, path, key, check_flag)
    }

    fn flags_with(
        &mut self,
        t: &dyn TableLike,
        path: &str,
        key: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Vec<String> {
        let Some(list) = self.strings(t, path, key, "[\"-O3\"]") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, (s, span)) in list.into_iter().enumerate() {
            match check(&s) {
                Ok(()) => out.push(s),
                Err(e) => self
                    .r
                    .error(&format!("{}[{i}]", join(path, key)), span, e, ""),
            }
        }
        out
    }

    /// Validate source/include paths: relative, inside the kernel directory,
    /// safe characters, existing (files for `src`, directories for `include`).
    fn paths(&mut self, t: &dyn TableLike, path: &str, key: &str, want_dir: bool) -> Vec<String> {
        let example = if want_dir {
            "[\"include\"]"
        } else {
            "[\"kernel/relu.cu\"]"
        };
        let Some(list) = self.strings(t, path, key, example) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, (s, span)) in list.into_iter().enumerate() {
            let p = format!("{}[{i}]", join(path, key));
            if let Err(msg) = self.check_path(&s, want_dir) {
                self.r.error(&p, span, msg.0, msg.1);
                continue;
            }
            if !seen.insert(s.clone()) {
                self.r.warning(
                    &p,
                    span,
                    format!("`{s}` is listed twice"),
                    "remove the duplicate",
                );
                continue;
            }
            out.push(s);
        }
        out
    }

    fn check_path(&self, s: &str, want_dir: bool) -> Result<(), (String, String)> {
        if s.is_empty() {
            return Err(("empty path".into(), "remove the empty entry".into()));
        }
        let pb = Path::new(s);
        if pb.is_absolute() || s.starts_with('~') {
            return Err((
                format!("`{}` is an absolute path", s.escape_debug()),
                "use a path relative to the directory of build.toml".into(),
            ));
        }
        if pb.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err((
                format!("`{}` contains `..`", s.escape_debug()),
                "sources must stay inside the kernel directory; move or copy the file into it"
                    .into(),
            ));
        }
        check_path_chars(s).map_err(|e| (e, String::new()))?;
        if !self.check_fs {
            return Ok(());
        }
        let full = self.root.join(pb);
        let meta = std::fs::metadata(&full).map_err(|_| {
            (
                format!("`{s}` does not exist"),
                format!(
                    "create it, or fix the path (relative to {})",
                    self.root.display()
                ),
            )
        })?;
        if want_dir && !meta.is_dir() {
            return Err((
                format!("`{s}` is not a directory"),
                "`include` lists directories".into(),
            ));
        }
        if !want_dir && meta.is_dir() {
            return Err((
                format!("`{s}` is a directory"),
                "`src` lists files; name each source file".into(),
            ));
        }
        let canon_root =
            std::fs::canonicalize(self.root).map_err(|e| (e.to_string(), String::new()))?;
        let canon = std::fs::canonicalize(&full).map_err(|e| (e.to_string(), String::new()))?;
        if !canon.starts_with(&canon_root) {
            return Err((
                format!(
                    "`{s}` resolves to {} (a symlink out of the kernel directory)",
                    canon.display()
                ),
                "builds only see the kernel directory; copy the file into it instead of linking"
                    .into(),
            ));
        }
        Ok(())
    }

    fn pyext(&mut self, t: &dyn TableLike, path: &str) -> Vec<String> {
        let Some(list) = self.strings(t, path, "pyext", "[\"py\", \"pyi\"]") else {
            return vec!["py".into(), "pyi".into()];
        };
        let mut out = Vec::new();
        for (i, (s, span)) in list.into_iter().enumerate() {
            if s.is_empty()
                || s.len() > 16
                || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                self.r.error(
                    &format!("{path}.pyext[{i}]"),
                    span,
                    format!("`{}` is not a file extension", s.escape_debug()),
                    "list extensions without the dot, e.g. `[\"py\", \"pyi\", \"json\"]`",
                );
            } else {
                out.push(s);
            }
        }
        out
    }

    /// A capability list. Malformed entries and suffixes nvcc rejects are
    /// errors; well-formed capabilities that do not exist are dead entries
    /// (warning, dropped). `owner` names what is left without capabilities
    /// when every entry was dropped.
    fn capabilities(
        &mut self,
        t: &dyn TableLike,
        path: &str,
        key: &str,
        owner: &str,
    ) -> Option<Vec<Capability>> {
        let list = self.strings(t, path, key, "[\"8.0\", \"9.0a\", \"12.0+PTX\"]")?;
        let full = join(path, key);
        let mut out = Vec::new();
        let mut dropped = Vec::new();
        let mut malformed = false;
        for (i, (s, span)) in list.into_iter().enumerate() {
            let ek = format!("{full}[{i}]");
            let c = match Capability::parse_form(&s) {
                Ok(c) => c,
                Err(e) => {
                    malformed = true;
                    self.r.error(&ek, span, e, "");
                    continue;
                }
            };
            match c.check_known() {
                Ok(()) if out.contains(&c) => self.r.warning(
                    &ek,
                    span,
                    format!("`{s}` is listed twice"),
                    "remove the duplicate",
                ),
                Ok(()) => out.push(c),
                Err(CapabilityProblem::Unknown(m)) => {
                    self.r.warning(
                        &ek,
                        span,
                        format!("`{}`: {m}, so it is ignored", s.escape_debug()),
                        format!(
                            "remove it, or fix it to the capability you meant (known: {})",
                            known_capabilities().join(", ")
                        ),
                    );
                    dropped.push(s);
                }
                Err(CapabilityProblem::BadSuffix(m)) => {
                    malformed = true;
                    self.r.error(
                        &ek,
                        span,
                        format!("`{}`: {m}", s.escape_debug()),
                        "nvcc rejects this architecture; drop the suffix or pick a capability that has it",
                    );
                }
            }
        }
        if out.is_empty() && !malformed {
            let span = self.key_span(t, key);
            if dropped.is_empty() {
                self.r.error(
                    &full,
                    span,
                    "empty capability list",
                    "remove the key to build for all capabilities of each CUDA toolkit",
                );
            } else {
                self.r.error(
                    &full,
                    span,
                    format!(
                        "{owner} has no CUDA capability left: none of [{}] exists",
                        dropped.join(", ")
                    ),
                    format!(
                        "list capabilities that exist ({}), or remove the key to build for all capabilities of each CUDA toolkit",
                        known_capabilities().join(", ")
                    ),
                );
            }
            return None;
        }
        Some(out)
    }

    fn rocm_archs(&mut self, t: &dyn TableLike, path: &str, key: &str) -> Option<Vec<String>> {
        let list = self.strings(t, path, key, "[\"gfx90a\", \"gfx942\"]")?;
        let mut out: Vec<String> = Vec::new();
        let mut malformed = false;
        for (i, (s, span)) in list.into_iter().enumerate() {
            match check_rocm_arch(&s) {
                Ok(()) if out.contains(&s) => {}
                Ok(()) => out.push(s),
                Err(e) => {
                    malformed = true;
                    self.r
                        .error(&format!("{}[{i}]", join(path, key)), span, e, "")
                }
            }
        }
        if out.is_empty() && !malformed {
            self.r.error(
                &join(path, key),
                self.key_span(t, key),
                "empty architecture list",
                "remove the key to build for all default ROCm architectures",
            );
            return None;
        }
        Some(out)
    }

    fn python_depends(
        &mut self,
        t: &dyn TableLike,
        path: &str,
        backend: Option<Backend>,
    ) -> Vec<String> {
        let Some(list) = self.strings(t, path, "python-depends", "[\"einops\"]") else {
            return Vec::new();
        };
        let allowed: Vec<&str> = match backend {
            None => GENERAL_PYTHON_DEPENDS.to_vec(),
            Some(b) => backend_python_depends(b).to_vec(),
        };
        let mut out = Vec::new();
        for (i, (s, span)) in list.into_iter().enumerate() {
            if allowed.contains(&s.as_str()) {
                if !out.contains(&s) {
                    out.push(s);
                }
                continue;
            }
            let scope = backend.map(|b| format!("for {b} ")).unwrap_or_default();
            let mut help = if allowed.is_empty() {
                format!("no Python dependencies are allowed {scope}(the loader rejects others)")
            } else {
                format!("allowed {scope}: {}", allowed.join(", "))
            };
            if backend.is_none() {
                if let Some(b) = Backend::ALL
                    .into_iter()
                    .find(|b| backend_python_depends(*b).contains(&s.as_str()))
                {
                    help =
                        format!("`{s}` is {b}-specific: move it to `[general.{b}] python-depends`");
                }
            }
            self.r.error(
                &format!("{path}.python-depends[{i}]"),
                span,
                format!("`{}` is not an allowed Python dependency", s.escape_debug()),
                help,
            );
        }
        out
    }

    fn kernel_depends(&mut self, t: &dyn TableLike, path: &str) -> Vec<KernelDependency> {
        let Some(item) = t.get("kernel-depends") else {
            return Vec::new();
        };
        let p = join(path, "kernel-depends");
        let Some(arr) = item.as_array() else {
            self.r.error(&p, item_span(item), format!("expected a list of inline tables, found {}", kind(item)), "for example `kernel-depends = [{ repo-id = \"kernels-community/activation\", version = 1 }]`");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, v) in arr.iter().enumerate() {
            let ep = format!("{p}[{i}]");
            let Some(it) = v.as_inline_table() else {
                self.r.error(
                    &ep,
                    v.span(),
                    format!("expected an inline table, found {}", value_kind(v)),
                    "write `{ repo-id = \"org/name\", version = 1 }`",
                );
                continue;
            };
            let tl: &dyn TableLike = it;
            self.unknown_keys(
                tl,
                &ep,
                &["repo-id", "version", "revision"],
                " in a kernel dependency",
            );
            let repo = self.required_string(tl, &ep, "repo-id", "\"org/name\"", v.span());
            if let Some((s, span)) = &repo {
                if let Err(e) = check_repo_id(s) {
                    self.r.error(&join(&ep, "repo-id"), span.clone(), e, "");
                }
            }
            let version = self.integer(tl, &ep, "version", "1");
            let revision = self.string(tl, &ep, "revision", "\"main\"");
            match (&version, &revision) {
                (Some(_), Some(_)) => self.r.error(
                    &ep,
                    v.span(),
                    "`version` and `revision` are mutually exclusive",
                    "keep one of them",
                ),
                (None, None) if tl.get("version").is_none() && tl.get("revision").is_none() => {
                    self.r.error(
                        &ep,
                        v.span(),
                        "a kernel dependency needs `version` or `revision`",
                        "add `version = 1` (the major version branch) or `revision = \"<commit>\"`",
                    )
                }
                _ => {}
            }
            if let Some((rev, span)) = &revision {
                if rev.is_empty()
                    || !rev.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/')
                    })
                {
                    self.r.error(
                        &join(&ep, "revision"),
                        span.clone(),
                        format!("`{}` is not a git revision", rev.escape_debug()),
                        "use a branch name, tag or commit id",
                    );
                }
            }
            if let (Some((repo_id, _)), true) = (repo, version.is_some() != revision.is_some()) {
                out.push(KernelDependency {
                    repo_id,
                    version: version.and_then(|(v, _)| u64::try_from(v).ok()),
                    revision: revision.map(|(r, _)| r),
                });
            }
        }
        out
    }

    fn document(&mut self, root: &dyn TableLike) -> Option<BuildConfig> {
        self.unknown_keys(root, "", TOP_KEYS, " at the top level");

        let Some(general_item) = root.get("general") else {
            self.r.error(
                "general",
                Some(0..0),
                "missing `[general]` section",
                "add `[general]` with `name`, `version`, `license`, `backends` and `edition = 5`",
            );
            return None;
        };
        let general_t = self.table(general_item, "general")?;
        let general_span = item_span(general_item);

        // Edition detection.
        let edition = match general_t.get("edition") {
            None => None,
            Some(item) => match item.as_integer() {
                Some(CURRENT_EDITION) => Some(CURRENT_EDITION),
                Some(n) => {
                    self.r.error("general.edition", item_span(item), format!("edition {n} is not supported (this kernel-builder reads edition {CURRENT_EDITION})"), if n > CURRENT_EDITION { "upgrade kernel-builder" } else { "remove the `edition` key and run `kernel-builder update-build`" });
                    return None;
                }
                None => {
                    self.r.error(
                        "general.edition",
                        item_span(item),
                        format!("expected an integer, found {}", kind(item)),
                        "write `edition = 5`",
                    );
                    return None;
                }
            },
        };
        let legacy = edition.is_none();

        // Frameworks: exactly one.
        let present: Vec<&str> = ["torch", "torch-noarch", "tvm-ffi"]
            .into_iter()
            .filter(|k| root.get(k).is_some())
            .collect();
        if present.len() > 1 {
            let span = self.key_span(root, present[1]);
            self.r.error(
                present[1],
                span,
                format!(
                    "more than one framework section: {}",
                    present
                        .iter()
                        .map(|p| format!("[{p}]"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "keep exactly one of [torch], [torch-noarch] or [tvm-ffi]",
            );
            return None;
        }
        let source_edition = if !legacy {
            5
        } else {
            let v4_markers = root.get("torch-noarch").is_some()
                || general_t.get("rocm").is_some()
                || general_t
                    .get("cuda")
                    .and_then(|c| c.as_table_like())
                    .is_some_and(|c| c.get("capabilities").is_some())
                || general_t.get("source").is_some()
                || ["torch", "tvm-ffi"].iter().any(|f| {
                    root.get(f)
                        .and_then(|c| c.as_table_like())
                        .is_some_and(|c| {
                            c.get("stable-abi").is_some() || c.get("cxx-flags").is_some()
                        })
                });
            let v3_markers = present.is_empty()
                || general_t.get("license").is_none()
                || general_t.get("version").is_none();
            if v4_markers || !v3_markers {
                4
            } else {
                3
            }
        };
        if present.is_empty() && !legacy {
            self.r.error("", Some(0..0), "no framework section", "add `[torch]` (compiled Torch extension), `[torch-noarch]` (pure Python) or `[tvm-ffi]`");
            return None;
        }

        let general = self.general(general_t, legacy, general_span.clone());

        // Legacy general.cuda.capabilities / general.rocm.archs are moved by the upgrade.
        let mut legacy_caps: Option<Vec<Capability>> = None;
        let mut legacy_archs: Option<Vec<String>> = None;
        if legacy {
            if let Some(c) = general_t.get("cuda").and_then(|c| c.as_table_like()) {
                legacy_caps =
                    self.capabilities(c, "general.cuda", "capabilities", "`general.cuda`");
            }
            if let Some(item) = general_t.get("rocm") {
                if let Some(t) = self.table(item, "general.rocm") {
                    self.unknown_keys(t, "general.rocm", &["archs"], " in [general.rocm]");
                    legacy_archs = self.rocm_archs(t, "general.rocm", "archs");
                }
            }
        }

        let framework = match present.first().copied() {
            Some("torch") => self.torch(root.get("torch").unwrap(), legacy),
            Some("tvm-ffi") => self.tvm_ffi(root.get("tvm-ffi").unwrap()),
            Some(_) => self.torch_noarch(root.get("torch-noarch").unwrap()),
            None => Some(Framework::TorchNoarch(TorchNoarch {
                pyext: vec!["py".into(), "pyi".into()],
                cuda_capabilities: None,
                rocm_archs: None,
            })),
        };

        let mut kernels = BTreeMap::new();
        if let Some(item) = root.get("kernel") {
            if let Some(kt) = self.table(item, "kernel") {
                let names: Vec<String> = kt.iter().map(|(k, _)| k.to_string()).collect();
                for name in names {
                    let kitem = kt.get(&name).unwrap();
                    let p = format!("kernel.{name}");
                    if let Err(e) = check_section_name(&name) {
                        let span = self.key_span(kt, &name);
                        self.r
                            .error(&p, span, e, "rename the section, e.g. `[kernel.relu_cuda]`");
                        continue;
                    }
                    if let Some(k) = self.kernel(kitem, &name, general.as_ref()) {
                        kernels.insert(name, k);
                    }
                }
            }
        }

        let mut general = general?;
        let mut framework = framework?;

        // Upgrade legacy fields in memory.
        if legacy {
            match &mut framework {
                Framework::TorchNoarch(n) => {
                    // Both places set: ambiguous metadata, refuse.
                    for (moved, own, from, to) in [
                        (
                            legacy_caps.is_some(),
                            n.cuda_capabilities.is_some(),
                            "general.cuda.capabilities",
                            "torch-noarch.cuda-capabilities",
                        ),
                        (
                            legacy_archs.is_some(),
                            n.rocm_archs.is_some(),
                            "general.rocm.archs",
                            "torch-noarch.rocm-archs",
                        ),
                    ] {
                        if moved && own {
                            self.r.error(
                                from,
                                general_span.clone(),
                                format!("set both here and in `{to}`"),
                                format!("keep only `{to}`"),
                            );
                        }
                    }
                    if n.cuda_capabilities.is_none() {
                        n.cuda_capabilities = legacy_caps.clone();
                    }
                    if n.rocm_archs.is_none() {
                        n.rocm_archs = legacy_archs.clone();
                    }
                }
                _ => {
                    for k in kernels.values_mut() {
                        if k.backend == Backend::Cuda && k.cuda_capabilities.is_none() {
                            k.cuda_capabilities = legacy_caps.clone();
                        }
                        if k.backend == Backend::Rocm && k.rocm_archs.is_none() {
                            k.rocm_archs = legacy_archs.clone();
                        }
                    }
                }
            }
            self.r.warning("general.edition", general_span.clone(), format!("this file uses the edition-{source_edition} format (no `general.edition`); it was upgraded to edition {CURRENT_EDITION} in memory"), "run `kernel-builder update-build` to rewrite it (comments and formatting are kept)");
        }

        self.cross_checks(&mut general, &framework, &kernels, general_t, root);
        if self.r.has_errors() {
            return None;
        }
        Some(BuildConfig {
            source_edition,
            general,
            framework,
            kernels,
            root: self.root.to_path_buf(),
        })
    }

    fn general(
        &mut self,
        t: &dyn TableLike,
        legacy: bool,
        span: Option<Range<usize>>,
    ) -> Option<General> {
        let allowed = if legacy { GENERAL_LEGACY } else { GENERAL_V5 };
        self.unknown_keys(
            t,
            "general",
            allowed,
            if legacy {
                " in a pre-edition-5 [general]"
            } else {
                " in [general]"
            },
        );

        let name = self.required_string(t, "general", "name", "\"my-kernel\"", span.clone());
        if let Some((n, s)) = &name {
            if let Err(e) = check_kernel_name(n) {
                self.r.error(
                    "general.name",
                    s.clone(),
                    e,
                    "the name becomes the Python package name (with `-` replaced by `_`)",
                );
            } else if n.len() > MAX_KERNEL_NAME {
                self.r.error(
                    "general.name",
                    s.clone(),
                    format!(
                        "`{n}` is {} characters long; the ops name `_<name>_<backend>_<commit>_dirty` must fit in 64, so at most {MAX_KERNEL_NAME} are allowed",
                        n.len()
                    ),
                    "choose a shorter name (a longer one builds only from a clean Git tree)",
                );
            } else if PYTHON_KEYWORDS.contains(&n.replace('-', "_").as_str()) {
                // The loader imports the package with importlib, so the kernel
                // still builds and loads; only `import <name>` does not parse.
                self.r.warning(
                    "general.name",
                    s.clone(),
                    format!(
                        "`{}` is a Python keyword: `import {}` and the scaffold's `def` do not parse (the loader still imports it)",
                        n.replace('-', "_"),
                        n.replace('-', "_")
                    ),
                    format!("choose another name, e.g. `{n}-kernel`"),
                );
            }
        }
        let version = match t.get("version") {
            None if legacy => Some(1),
            None => {
                self.r.error(
                    "general.version",
                    span.clone(),
                    "missing required key",
                    "add `version = 1` (the kernel's major version)",
                );
                None
            }
            // 0 is valid (the reference reads an unsigned integer; version-0
            // kernels are exempt from the loader's API compatibility promise).
            Some(_) => match self.integer(t, "general", "version", "1") {
                Some((v, _)) if v >= 0 => Some(v as u64),
                Some((_, s)) => {
                    self.r.error(
                        "general.version",
                        s,
                        "the version must not be negative",
                        "use `version = 1` for a first release (`0` for an unstable API)",
                    );
                    None
                }
                None => None,
            },
        };
        let license = match t.get("license") {
            None if legacy => {
                self.r.error("general.license", span.clone(), "missing `license` (required since edition 4)", "add e.g. `license = \"Apache-2.0\"` to [general], then run `kernel-builder update-build`");
                None
            }
            _ => self.required_string(t, "general", "license", "\"Apache-2.0\"", span.clone()),
        };
        if let Some((l, s)) = &license {
            if let Err(e) = check_license(l) {
                self.r.error("general.license", s.clone(), e, "");
            }
        }
        let url = |w: &mut Self, key: &str| -> Option<String> {
            let (u, s) = w.string(t, "general", key, "\"https://github.com/org/repo\"")?;
            match check_url(&u) {
                Ok(()) => Some(u),
                Err(e) => {
                    w.r.error(&format!("general.{key}"), s, e, "");
                    None
                }
            }
        };
        let upstream = url(self, "upstream");
        let source = url(self, "source");
        let minver = if legacy {
            None
        } else {
            self.version(
                t,
                "general",
                "minver",
                3..=3,
                "\"0.17.0\" (minimum kernels loader version)",
            )
        };

        let mut backends = Vec::new();
        match self.strings(t, "general", "backends", "[\"cpu\", \"cuda\"]") {
            None if t.get("backends").is_none() => {
                self.r.error(
                    "general.backends",
                    span.clone(),
                    "missing required key",
                    format!(
                        "add e.g. `backends = [\"cuda\"]`; known backends: {}",
                        Backend::names().join(", ")
                    ),
                );
            }
            None => {}
            Some(list) => {
                if list.is_empty() {
                    let s = self.key_span(t, "backends");
                    self.r.error(
                        "general.backends",
                        s,
                        "no backends listed",
                        format!("list at least one of: {}", Backend::names().join(", ")),
                    );
                }
                for (i, (b, s)) in list.into_iter().enumerate() {
                    match b.parse::<Backend>() {
                        Ok(be) if backends.contains(&be) => self.r.warning(
                            &format!("general.backends[{i}]"),
                            s,
                            format!("`{b}` is listed twice"),
                            "remove the duplicate",
                        ),
                        Ok(be) => backends.push(be),
                        Err(()) => {
                            let names = Backend::names();
                            let help = match did_you_mean(&b, &names) {
                                Some(m) => format!(
                                    "did you mean `{m}`? Known backends: {}",
                                    names.join(", ")
                                ),
                                None => format!("known backends: {}", names.join(", ")),
                            };
                            self.r.error(
                                &format!("general.backends[{i}]"),
                                s,
                                format!("unknown backend `{}`", b.escape_debug()),
                                help,
                            );
                        }
                    }
                }
            }
        }

        let mut cuda_minver = None;
        let mut cuda_maxver = None;
        let mut backend_deps: BTreeMap<Backend, BackendDeps> = BTreeMap::new();
        for b in [Backend::Cuda, Backend::Neuron, Backend::Tpu, Backend::Xpu] {
            let key = b.as_str();
            let Some(item) = t.get(key) else { continue };
            let p = format!("general.{key}");
            let Some(bt) = self.table(item, &p) else {
                continue;
            };
            let allowed: &[&str] = match (b, legacy) {
                (Backend::Cuda, false) => &["minver", "maxver", "kernel-depends", "python-depends"],
                (Backend::Cuda, true) => &["capabilities", "minver", "maxver", "python-depends"],
                (Backend::Tpu, _) => &["python-depends"],
                (_, false) => &["kernel-depends", "python-depends"],
                (_, true) => &["python-depends"],
            };
            self.unknown_keys(bt, &p, allowed, &format!(" in [{p}]"));
            if b == Backend::Cuda {
                cuda_minver = self.version(bt, &p, "minver", 2..=2, "\"12.8\"");
                cuda_maxver = self.version(bt, &p, "maxver", 2..=2, "\"13.0\"");
                if let (Some(lo), Some(hi)) = (&cuda_minver, &cuda_maxver) {
                    if lo > hi {
                        let s = self.key_span(bt, "maxver");
                        self.r.error(
                            &format!("{p}.maxver"),
                            s,
                            format!("maxver {hi} is lower than minver {lo}"),
                            "no CUDA toolkit can satisfy both bounds; fix one of them",
                        );
                    }
                }
            }
            let deps = BackendDeps {
                python_depends: self.python_depends(bt, &p, Some(b)),
                kernel_depends: self.kernel_depends(bt, &p),
            };
            if deps != BackendDeps::default() {
                backend_deps.insert(b, deps);
            }
        }

        let mut hub = Hub::default();
        if let Some(item) = t.get("hub") {
            if let Some(ht) = self.table(item, "general.hub") {
                self.unknown_keys(
                    ht,
                    "general.hub",
                    &["repo-id", "branch"],
                    " in [general.hub]",
                );
                if let Some((r, s)) =
                    self.string(ht, "general.hub", "repo-id", "\"my-org/my-kernel\"")
                {
                    match check_repo_id(&r) {
                        Ok(()) => hub.repo_id = Some(r),
                        Err(e) => self.r.error("general.hub.repo-id", s, e, ""),
                    }
                }
                if let Some((b, s)) = self.string(ht, "general.hub", "branch", "\"v1\"") {
                    let ok = b.bytes().all(|c| {
                        c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'/')
                    }) && check_branch(&b).is_ok();
                    if ok {
                        hub.branch = Some(b);
                    } else {
                        self.r.error(
                            "general.hub.branch",
                            s,
                            format!("`{}` is not a valid branch name", b.escape_debug()),
                            "use letters, digits and `- _ . /`, not starting with `refs/`, `-`, `/` or `.` nor ending with `.lock`, `/` or `.`, e.g. `v1`",
                        );
                    }
                }
            }
        }

        let python_depends = self.python_depends(t, "general", None);
        let kernel_depends = if legacy {
            Vec::new()
        } else {
            self.kernel_depends(t, "general")
        };

        Some(General {
            name: name?.0,
            version: version?,
            license: license?.0,
            upstream,
            source,
            minver,
            backends,
            cuda_minver,
            cuda_maxver,
            hub,
            python_depends,
            kernel_depends,
            backend_deps,
        })
    }

    /// `[torch-noarch]` (every edition): `pyext` and the metadata lists, each
    /// in the reference's spelling (`cuda_capabilities`) or kebab-case.
    fn torch_noarch(&mut self, item: &Item) -> Option<Framework> {
        let t = self.table(item, "torch-noarch")?;
        self.unknown_keys(t, "torch-noarch", NOARCH_KEYS, " in [torch-noarch]");
        let list_key = |w: &mut Self, kebab: &'static str, snake: &'static str| match (
            t.get(kebab).is_some(),
            t.get(snake).is_some(),
        ) {
            (true, true) => {
                let span = w.key_span(t, snake);
                w.r.error(
                    &format!("torch-noarch.{snake}"),
                    span,
                    format!("`{snake}` and `{kebab}` are the same key"),
                    "keep one of them",
                );
                None
            }
            (_, true) => Some(snake),
            (true, _) => Some(kebab),
            _ => None,
        };
        let caps_key = list_key(self, "cuda-capabilities", "cuda_capabilities");
        let archs_key = list_key(self, "rocm-archs", "rocm_archs");
        Some(Framework::TorchNoarch(TorchNoarch {
            pyext: self.pyext(t, "torch-noarch"),
            cuda_capabilities: caps_key
                .and_then(|k| self.capabilities(t, "torch-noarch", k, "`[torch-noarch]`")),
            rocm_archs: archs_key.and_then(|k| self.rocm_archs(t, "torch-noarch", k)),
        }))
    }

    fn torch(&mut self, item: &Item, legacy: bool) -> Option<Framework> {
        let t = self.table(item, "torch")?;
        self.unknown_keys(t, "torch", TORCH_KEYS, " in [torch]");
        let minver = self.version(t, "torch", "minver", 2..=2, "\"2.14\"");
        let maxver = self.version(t, "torch", "maxver", 2..=2, "\"2.15\"");
        if let (Some(lo), Some(hi)) = (&minver, &maxver) {
            if lo > hi {
                let s = self.key_span(t, "maxver");
                self.r.error(
                    "torch.maxver",
                    s,
                    format!("maxver {hi} is lower than minver {lo}"),
                    "no Torch version can satisfy both bounds; fix one of them",
                );
            }
        }
        let stable_abi = match t.get("stable-abi") {
            None => None,
            Some(sa) if sa.is_str() => self
                .version(t, "torch", "stable-abi", 2..=2, "\"2.11\"")
                .map(StableAbi::All),
            Some(sa) if sa.is_table_like() && !legacy => {
                let st = sa.as_table_like().unwrap();
                let mut m = BTreeMap::new();
                let keys: Vec<String> = st.iter().map(|(k, _)| k.to_string()).collect();
                for k in keys {
                    match k.parse::<Backend>() {
                        Ok(b) => {
                            if let Some(v) =
                                self.version(st, "torch.stable-abi", &k, 2..=2, "\"2.11\"")
                            {
                                m.insert(b, v);
                            }
                        }
                        Err(()) => {
                            let s = self.key_span(st, &k);
                            self.r.error(
                                &format!("torch.stable-abi.{k}"),
                                s,
                                format!("unknown backend `{}`", k.escape_debug()),
                                format!("known backends: {}", Backend::names().join(", ")),
                            );
                        }
                    }
                }
                Some(StableAbi::PerBackend(m))
            }
            Some(sa) => {
                self.r.error(
                    "torch.stable-abi",
                    item_span(sa),
                    format!(
                        "expected a Torch version string{}, found {}",
                        if legacy {
                            ""
                        } else {
                            " or a per-backend table"
                        },
                        kind(sa)
                    ),
                    "for example `stable-abi = \"2.11\"` or `stable-abi = { cuda = \"2.11\" }`",
                );
                None
            }
        };
        Some(Framework::Torch(Torch {
            src: self.paths(t, "torch", "src", false),
            include: self.paths(t, "torch", "include", true),
            pyext: self.pyext(t, "torch"),
            minver,
            maxver,
            stable_abi,
            cxx_flags: self.flags(t, "torch", "cxx-flags"),
        }))
    }

    fn tvm_ffi(&mut self, item: &Item) -> Option<Framework> {
        let t = self.table(item, "tvm-ffi")?;
        self.unknown_keys(t, "tvm-ffi", TVM_KEYS, " in [tvm-ffi]");
        if t.get("src").is_none() {
            let s = item_span(item);
            self.r.error(
                "tvm-ffi.src",
                s,
                "missing required key",
                "list the binding sources, e.g. `src = [\"tvm-ffi/binding.cpp\"]`",
            );
        }
        Some(Framework::TvmFfi(TvmFfi {
            src: self.paths(t, "tvm-ffi", "src", false),
            include: self.paths(t, "tvm-ffi", "include", true),
            pyext: self.pyext(t, "tvm-ffi"),
            cxx_flags: self.flags(t, "tvm-ffi", "cxx-flags"),
        }))
    }

    fn kernel(&mut self, item: &Item, name: &str, general: Option<&General>) -> Option<Kernel> {
        let p = format!("kernel.{name}");
        let t = self.table(item, &p)?;
        let span = item_span(item);
        let (bname, bspan) = self.required_string(t, &p, "backend", "\"cuda\"", span.clone())?;
        let Ok(backend) = bname.parse::<Backend>() else {
            let names = Backend::names();
            let help = match did_you_mean(&bname, &names) {
                Some(m) => format!("did you mean `{m}`?"),
                None => format!("known backends: {}", names.join(", ")),
            };
            self.r.error(
                &format!("{p}.backend"),
                bspan,
                format!("unknown backend `{}`", bname.escape_debug()),
                help,
            );
            return None;
        };
        if !backend.is_compiled() {
            self.r.error(
                &format!("{p}.backend"),
                bspan.clone(),
                format!("`{backend}` kernels cannot be compiled by kernel-builder"),
                "use `[torch-noarch]` for pure-Python kernels on this backend",
            );
        }
        if let Some(g) = general {
            // Dead configuration, not a broken build: the reference accepts it
            // and builds nothing from this section.
            if backend.is_compiled() && !g.backends.contains(&backend) {
                self.r.warning(
                    &format!("{p}.backend"),
                    bspan,
                    format!("backend `{backend}` is not listed in `general.backends`, so this kernel is never built"),
                    format!("add \"{backend}\" to `general.backends`, or remove this kernel"),
                );
            }
        }
        let mut allowed: Vec<&str> = KERNEL_COMMON.to_vec();
        allowed.extend_from_slice(kernel_backend_keys(backend));
        // Keys of other backends get a precise message instead of "unknown".
        let keys: Vec<String> = t.iter().map(|(k, _)| k.to_string()).collect();
        for k in &keys {
            if allowed.contains(&k.as_str()) {
                continue;
            }
            if let Some(owner) = Backend::COMPILED
                .into_iter()
                .find(|b| kernel_backend_keys(*b).contains(&k.as_str()))
            {
                let s = self.key_span(t, k);
                self.r.error(
                    &format!("{p}.{k}"),
                    s,
                    format!(
                        "`{k}` only applies to {owner} kernels; this kernel's backend is {backend}"
                    ),
                    "remove it, or move it to a kernel with the matching backend",
                );
            }
        }
        let other_backend_keys: Vec<&str> = Backend::COMPILED
            .into_iter()
            .flat_map(kernel_backend_keys)
            .copied()
            .collect();
        let filtered: Vec<&str> = allowed
            .iter()
            .chain(other_backend_keys.iter())
            .copied()
            .collect();
        self.unknown_keys_shown(
            t,
            &p,
            &filtered,
            &allowed,
            &format!(" in a {backend} kernel"),
        );

        if t.get("src").is_none() {
            self.r.error(
                &format!("{p}.src"),
                span.clone(),
                "missing required key",
                "list the kernel's sources, e.g. `src = [\"relu_cuda/relu.cu\"]`",
            );
        }
        let src = self.paths(t, &p, "src", false);
        let include = self.paths(t, &p, "include", true);

        let mut depends = Vec::new();
        match self.strings(t, &p, "depends", "[\"torch\"]") {
            None if t.get("depends").is_none() => self.r.error(
                &format!("{p}.depends"),
                span.clone(),
                "missing required key",
                "add `depends = [\"torch\"]` (or `[]` for kernels without Torch headers)",
            ),
            None => {}
            Some(list) => {
                for (i, (d, s)) in list.into_iter().enumerate() {
                    // data/depends.toml is the one list of known dependencies.
                    let known = &super::depends::get().dependency;
                    let names: Vec<&str> = known.keys().map(String::as_str).collect();
                    match known.get(&d) {
                        Some(dep) if !dep.applies_to(backend) => self.r.error(
                            &format!("{p}.depends[{i}]"),
                            s,
                            format!(
                                "`{d}` is a {} dependency; this kernel's backend is {backend}",
                                dep.backends
                                    .iter()
                                    .map(|b| b.as_str())
                                    .collect::<Vec<_>>()
                                    .join("/")
                            ),
                            "remove it",
                        ),
                        Some(_) if depends.contains(&d) => {}
                        Some(_) => depends.push(d),
                        None => {
                            let help = match did_you_mean(&d, &names) {
                                Some(m) => {
                                    format!("did you mean `{m}`? Known: {}", names.join(", "))
                                }
                                None => format!("known dependencies: {}", names.join(", ")),
                            };
                            self.r.error(
                                &format!("{p}.depends[{i}]"),
                                s,
                                format!("unknown dependency `{}`", d.escape_debug()),
                                help,
                            );
                        }
                    }
                }
            }
        }

        let is = |b: Backend| backend == b;
        let cuda_capabilities = if is(Backend::Cuda) {
            self.capabilities(t, &p, "cuda-capabilities", &format!("kernel `{name}`"))
        } else {
            None
        };
        let cuda_minver = if is(Backend::Cuda) {
            self.version(t, &p, "cuda-minver", 2..=2, "\"12.8\"")
        } else {
            None
        };
        let rocm_archs = if is(Backend::Rocm) {
            self.rocm_archs(t, &p, "rocm-archs")
        } else {
            None
        };
        Some(Kernel {
            name: name.to_string(),
            backend,
            src,
            include,
            depends,
            cxx_flags: if is(Backend::Cuda) {
                self.flags_with(t, &p, "cxx-flags", check_nvcc_host_flag)
            } else {
                self.flags(t, &p, "cxx-flags")
            },
            cuda_capabilities,
            cuda_flags: if is(Backend::Cuda) {
                self.flags_with(t, &p, "cuda-flags", check_nvcc_flag)
            } else {
                Vec::new()
            },
            cuda_minver,
            rocm_archs,
            hip_flags: if is(Backend::Rocm) {
                self.flags(t, &p, "hip-flags")
            } else {
                Vec::new()
            },
            sycl_flags: if is(Backend::Xpu) {
                self.flags(t, &p, "sycl-flags")
            } else {
                Vec::new()
            },
        })
    }

    /// Rules spanning several sections.
    fn cross_checks(
        &mut self,
        general: &mut General,
        framework: &Framework,
        kernels: &BTreeMap<String, Kernel>,
        general_t: &dyn TableLike,
        root: &dyn TableLike,
    ) {
        let bspan = self.key_span(general_t, "backends");
        match framework {
            Framework::Torch(t) => {
                // The reference builds a backend without a compiled kernel
                // (tpu, neuron and cann never have one) as the pure-Python
                // variant `torch-<backend>`; so does kernel-builder.
                for b in &general.backends {
                    if b.is_compiled() && kernels.values().any(|k| k.backend == *b) {
                        continue;
                    }
                    let (why, help) = if b.is_compiled() {
                        (
                            "has no `[kernel.*]` section",
                            format!("add a kernel with `backend = \"{b}\"` to compile for it, or drop the backend if the Python code does not support it"),
                        )
                    } else {
                        (
                            "cannot have compiled kernels",
                            "drop the backend if the Python code does not support it".to_string(),
                        )
                    };
                    self.r.note(
                        "general.backends",
                        bspan.clone(),
                        format!("backend `{b}` {why}: it gets the pure-Python variant `torch-{b}` (the `[torch]` bindings are not compiled for it)"),
                        help,
                    );
                }
                if let Some(StableAbi::PerBackend(m)) = &t.stable_abi {
                    let sa = root
                        .get("torch")
                        .and_then(|t| t.as_table_like())
                        .and_then(|t| t.get("stable-abi"))
                        .and_then(|t| t.as_table_like());
                    for b in m.keys().filter(|b| !general.backends.contains(b)) {
                        let s = sa.and_then(|st| self.key_span(st, b.as_str()));
                        self.r.warning(
                            &format!("torch.stable-abi.{b}"),
                            s,
                            format!("backend `{b}` is not listed in `general.backends`, so this entry is unused"),
                            format!("add \"{b}\" to `general.backends` or remove this entry"),
                        );
                    }
                }
            }
            Framework::TvmFfi(_) => {
                let names: Vec<&str> = TVM_FFI_BACKENDS.iter().map(|b| b.as_str()).collect();
                for b in general
                    .backends
                    .iter()
                    .filter(|b| !TVM_FFI_BACKENDS.contains(b))
                {
                    self.r.warning(
                        "general.backends",
                        bspan.clone(),
                        format!(
                            "tvm-ffi kernels have no `{b}` variants, so this backend is ignored"
                        ),
                        format!(
                            "tvm-ffi builds exist for {}; drop `{b}`, or use `[torch]`",
                            names.join(", ")
                        ),
                    );
                }
                if !general.backends.is_empty()
                    && !general
                        .backends
                        .iter()
                        .any(|b| TVM_FFI_BACKENDS.contains(b))
                {
                    self.r.error(
                        "general.backends",
                        bspan.clone(),
                        "no backend of this kernel has tvm-ffi variants: nothing would be built",
                        format!("list at least one of {}", names.join(", ")),
                    );
                }
            }
            Framework::TorchNoarch(_) => {
                if let Some((name, _)) = kernels.iter().next() {
                    let s = root
                        .get("kernel")
                        .and_then(|k| k.as_table_like())
                        .and_then(|k| self.key_span(k, name));
                    self.r.error(&format!("kernel.{name}"), s, "[torch-noarch] kernels are pure Python and cannot have `[kernel.*]` sections", "switch to `[torch]` to compile sources, or remove the section");
                }
            }
        }
        for (b, _) in general.backend_deps.iter() {
            if !general.backends.contains(b) {
                let s = self.key_span(general_t, b.as_str());
                self.r.warning(&format!("general.{b}"), s, format!("backend `{b}` is not listed in `general.backends`; these dependencies are unused"), format!("add \"{b}\" to `general.backends` or remove the table"));
            }
        }
        general.backends.sort();
    }
}
