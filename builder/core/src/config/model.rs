//! The normalized (edition 5) `build.toml` model. Older editions are read into
//! the same types; see `parse.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::Serialize;

pub const CURRENT_EDITION: i64 = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    Cann,
    Cpu,
    Cuda,
    Metal,
    Neuron,
    Rocm,
    Tpu,
    Xpu,
}

impl Backend {
    pub const ALL: [Backend; 8] = [
        Backend::Cann,
        Backend::Cpu,
        Backend::Cuda,
        Backend::Metal,
        Backend::Neuron,
        Backend::Rocm,
        Backend::Tpu,
        Backend::Xpu,
    ];

    /// Backends that can have compiled (`[kernel.*]`) sources.
    pub const COMPILED: [Backend; 5] = [
        Backend::Cpu,
        Backend::Cuda,
        Backend::Metal,
        Backend::Rocm,
        Backend::Xpu,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Cann => "cann",
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
            Backend::Metal => "metal",
            Backend::Neuron => "neuron",
            Backend::Rocm => "rocm",
            Backend::Tpu => "tpu",
            Backend::Xpu => "xpu",
        }
    }

    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|b| b.as_str()).collect()
    }

    pub fn is_compiled(self) -> bool {
        Self::COMPILED.contains(&self)
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Backend {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|b| b.as_str() == s).ok_or(())
    }
}

/// A dotted numeric version such as `2.15`, `13.2` or `2025.3.2`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub Vec<u64>);

impl Version {
    pub fn major_minor(&self) -> Version {
        Version(
            self.0
                .iter()
                .copied()
                .chain(std::iter::repeat(0))
                .take(2)
                .collect(),
        )
    }

    /// Digits joined without dots, as used in variant names (`2.15` -> `215`).
    pub fn compact(&self, parts: usize) -> String {
        self.0.iter().take(parts).map(|p| p.to_string()).collect()
    }
}

impl FromStr for Version {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("empty version".into());
        }
        let parts: Result<Vec<u64>, _> = s
            .split('.')
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 9 {
                    Err(())
                } else {
                    p.parse::<u64>().map_err(|_| ())
                }
            })
            .collect();
        parts
            .map(Version)
            .map_err(|_| format!("`{s}` is not a version like `2.15` or `13.0`"))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s: Vec<String> = self.0.iter().map(|p| p.to_string()).collect();
        f.write_str(&s.join("."))
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Compute capabilities nvcc knows, with the suffixes each accepts.
const KNOWN_CAPABILITIES: &[(&str, &str)] = &[
    ("5.0", ""),
    ("5.2", ""),
    ("5.3", ""),
    ("6.0", ""),
    ("6.1", ""),
    ("6.2", ""),
    ("7.0", ""),
    ("7.2", ""),
    ("7.5", ""),
    ("8.0", ""),
    ("8.6", ""),
    ("8.7", ""),
    ("8.8", ""),
    ("8.9", ""),
    ("9.0", "a"),
    ("10.0", "af"),
    ("10.1", "af"),
    ("10.3", "af"),
    ("11.0", "af"),
    ("12.0", "af"),
    ("12.1", "af"),
];

/// A CUDA capability: `8.0`, `9.0a` (arch-specific), `10.0f` (family), `12.1+PTX`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Capability {
    pub major: u32,
    pub minor: u32,
    pub suffix: Option<char>,
    pub ptx: bool,
}

impl Capability {
    pub fn base(&self) -> (u32, u32) {
        (self.major, self.minor)
    }

    /// `sm_90a` style architecture name.
    pub fn sm(&self) -> String {
        let mut s = format!("{}{}", self.major, self.minor);
        if let Some(c) = self.suffix {
            s.push(c);
        }
        s
    }
}

impl Capability {
    /// Parse the form only (`major.minor`, optional `a`/`f`, optional
    /// `+PTX`), without checking that the capability exists.
    pub fn parse_form(s: &str) -> Result<Capability, String> {
        let bad = || {
            format!(
                "`{}` is not a CUDA capability; use `major.minor` with an optional `a`/`f` suffix and `+PTX`, e.g. `8.0`, `9.0a`, `10.0f`, `12.1+PTX`",
                s.escape_debug()
            )
        };
        let (body, ptx) = match s.strip_suffix("+PTX") {
            Some(b) => (b, true),
            None => (s, false),
        };
        let (body, suffix) = match body.chars().last() {
            Some(c @ ('a' | 'f')) => (&body[..body.len() - 1], Some(c)),
            _ => (body, None),
        };
        let (maj, min) = body.split_once('.').ok_or_else(bad)?;
        let digits = |p: &str, max: usize| {
            !p.is_empty() && p.len() <= max && p.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(maj, 5) || !digits(min, 2) {
            return Err(bad());
        }
        Ok(Capability {
            major: maj.parse().map_err(|_| bad())?,
            minor: min.parse().map_err(|_| bad())?,
            suffix,
            ptx,
        })
    }

    /// Whether nvcc knows this capability. `Err` explains what is wrong:
    /// an unknown capability (it does not exist) or a suffix the
    /// capability does not have.
    pub fn check_known(&self) -> Result<(), CapabilityProblem> {
        let base = format!("{}.{}", self.major, self.minor);
        let Some((_, suffixes)) = KNOWN_CAPABILITIES.iter().find(|(c, _)| *c == base) else {
            return Err(CapabilityProblem::Unknown(format!(
                "compute capability {base} does not exist"
            )));
        };
        if let Some(c) = self.suffix {
            if !suffixes.contains(c) {
                return Err(CapabilityProblem::BadSuffix(format!(
                    "capability {base} has no `{c}` variant (`a` exists for 9.0 and newer, `f` for 10.0 and newer)"
                )));
            }
        }
        Ok(())
    }
}

/// Why a well-formed capability cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapabilityProblem {
    /// No GPU has it: a dead entry (dropped with a warning).
    Unknown(String),
    /// nvcc would reject the architecture (e.g. `sm_80a`).
    BadSuffix(String),
}

/// The capabilities nvcc knows, in order.
pub fn known_capabilities() -> Vec<&'static str> {
    KNOWN_CAPABILITIES.iter().map(|(c, _)| *c).collect()
}

impl FromStr for Capability {
    type Err = String;
    /// Strict: well-formed and known (used for the matrix data).
    fn from_str(s: &str) -> Result<Self, String> {
        let c = Capability::parse_form(s)?;
        match c.check_known() {
            Ok(()) => Ok(c),
            Err(CapabilityProblem::Unknown(m)) => Err(format!(
                "`{s}`: {m}; known capabilities: {}",
                known_capabilities().join(", ")
            )),
            Err(CapabilityProblem::BadSuffix(m)) => Err(format!("`{s}`: {m}")),
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if let Some(c) = self.suffix {
            write!(f, "{c}")?;
        }
        if self.ptx {
            f.write_str("+PTX")?;
        }
        Ok(())
    }
}

impl Serialize for Capability {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Validate a ROCm/AMDGPU target such as `gfx90a` or `gfx942:xnack+`.
pub fn check_rocm_arch(s: &str) -> Result<(), String> {
    let (arch, features) = match s.split_once(':') {
        Some((a, f)) => (a, Some(f)),
        None => (s, None),
    };
    let ok_arch = arch
        .strip_prefix("gfx")
        .map(|rest| {
            (3..=4).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                && rest.as_bytes()[0].is_ascii_digit()
        })
        .unwrap_or(false);
    let ok_features = features
        .map(|f| {
            f.split(':')
                .all(|feat| matches!(feat, "xnack+" | "xnack-" | "sramecc+" | "sramecc-"))
        })
        .unwrap_or(true);
    if ok_arch && ok_features {
        Ok(())
    } else {
        Err(format!(
            "`{s}` is not a ROCm architecture; use an LLVM AMDGPU target such as `gfx90a`, `gfx942` or `gfx1100` (optionally with `:xnack+`/`:sramecc-`)"
        ))
    }
}

/// Kernel names: `^[a-z][-a-z0-9]*[a-z0-9]$`.
pub fn is_valid_kernel_name(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[b.len() - 1] != b'-'
}

/// The longest kernel name whose ops name `_<name>_<backend>_<unique>` fits
/// the 64 characters of an ops id (`ops_id::check_unique_id`) for every
/// backend (`neuron`, 6) and the longest automatic unique id
/// (`<7 hex>_dirty`, 13): 64 - 6 - 13 - 2 separators.
pub const MAX_KERNEL_NAME: usize = 43;

/// Python's reserved words (lowercase ones: kernel names are lowercase).
pub const PYTHON_KEYWORDS: &[&str] = &[
    "and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del", "elif",
    "else", "except", "finally", "for", "from", "global", "if", "import", "in", "is", "lambda",
    "nonlocal", "not", "or", "pass", "raise", "return", "try", "while", "with", "yield",
];

/// Check a kernel name, suggesting a valid one when possible.
pub fn check_kernel_name(s: &str) -> Result<(), String> {
    if is_valid_kernel_name(s) {
        Ok(())
    } else {
        let suggestion: String = s
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect::<String>()
            .trim_matches('-')
            .to_string();
        let mut msg = format!(
            "`{}` is not a valid kernel name: use lowercase letters, digits and `-`, starting with a letter and not ending with `-`",
            s.escape_debug()
        );
        if is_valid_kernel_name(&suggestion) && suggestion != s {
            msg.push_str(&format!(" (for example `{suggestion}`)"));
        }
        Err(msg)
    }
}

/// `[kernel.<name>]` section names. The reference accepts any name; the
/// name only reaches generated files in a CMake comment and in CLI output,
/// so every name that cannot break out of those (no whitespace, quotes,
/// control or shell characters) is accepted, e.g. `_qattn_sm90` or
/// `moe-marlin`.
pub fn check_section_name(s: &str) -> Result<(), String> {
    let b = s.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 64
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` cannot be used as a kernel section name: it reaches generated CMake and command output, so only letters, digits and `_ - . +` are allowed (at most 64)",
            s.escape_debug()
        ))
    }
}

/// Characters allowed in `src`/`include` paths. Everything else (quotes, `$`,
/// backticks, `;`, spaces, control characters) is rejected so that paths can
/// never alter generated CMake, Nix or shell code.
pub fn check_path_chars(s: &str) -> Result<(), String> {
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '+' | '@')))
    {
        return Err(format!(
            "path `{}` contains {:?}; only letters, digits and `_ - . / + @` are allowed in source paths (rename the file)",
            s.escape_debug(),
            c
        ));
    }
    Ok(())
}

/// Compiler flags may contain most characters: the generated CMake passes
/// each as one opaque argument (`cmake_arg` in kb-build). Refused: empty
/// flags, control characters, `;` (a CMake list separator: no CMake
/// construct keeps it inside one compiler argument) and a leading `SHELL:`
/// (CMake would split the rest like a shell command line).
pub fn check_flag(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("empty flag".into());
    }
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(format!(
            "flag `{}` contains the control character {:?}; put each flag in its own list element",
            s.escape_debug(),
            c
        ));
    }
    if s.contains(';') {
        return Err(format!(
            "flag `{}` contains `;`, which CMake treats as a list separator, so the compiler would get several arguments; put each flag in its own list element",
            s.escape_debug()
        ));
    }
    if s.starts_with("SHELL:") {
        return Err(format!(
            "flag `{}` starts with `SHELL:`, which CMake would split like a shell command line; put each flag in its own list element",
            s.escape_debug()
        ));
    }
    Ok(())
}

/// Characters nvcc cannot forward unchanged: it runs the host compiler and
/// its own tools through `sh` without quoting (measured with nvcc 13.2:
/// `-DX=a$b` reaches the compiler as `-DX=a`, a quote fails the build).
const NVCC_UNSAFE: &[char] = &[
    ' ', '"', '\'', '`', '$', '\\', ';', '&', '|', '<', '>', '(', ')',
];

/// `cuda-flags`: arguments of nvcc, which passes them on through a shell.
pub fn check_nvcc_flag(s: &str) -> Result<(), String> {
    check_flag(s)?;
    if let Some(c) = s.chars().find(|c| NVCC_UNSAFE.contains(c)) {
        return Err(format!(
            "flag `{}` contains {:?}, which nvcc passes on through a shell unquoted, so the compiler would get other bytes; remove it",
            s.escape_debug(),
            c
        ));
    }
    Ok(())
}

/// `cxx-flags` of a CUDA kernel: nvcc gets each as `-Xcompiler=<flag>`,
/// which it also splits at every `,`.
pub fn check_nvcc_host_flag(s: &str) -> Result<(), String> {
    check_nvcc_flag(s)?;
    if s.contains(',') {
        return Err(format!(
            "flag `{}` of a CUDA kernel contains `,`: nvcc gets it as `-Xcompiler={}` and splits it at every comma; give each part as its own flag",
            s.escape_debug(),
            s.escape_debug()
        ));
    }
    Ok(())
}

/// Git ref names the Hub accepts as branch names (`git check-ref-format`
/// rules, plus no `refs/` prefix: the Hub takes a short name).
pub fn check_branch(b: &str) -> Result<(), String> {
    let bad = b.is_empty()
        || b.len() > 200
        || b.starts_with(['-', '/', '.'])
        || b.ends_with(['/', '.'])
        || b.ends_with(".lock")
        || b.contains("/.")
        || b.contains(".lock/")
        || b.contains("..")
        || b.contains("//")
        || b.contains("@{")
        || b == "@"
        || b.starts_with("refs/")
        || b.chars().any(|c| {
            c.is_control()
                || c.is_whitespace()
                || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
        });
    if bad {
        Err(format!(
            "`{}` is not a valid branch name; use e.g. `v1`",
            b.escape_debug()
        ))
    } else {
        Ok(())
    }
}

/// `owner/name` repository ids on the Hub.
pub fn check_repo_id(s: &str) -> Result<(), String> {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.len() <= 96
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            && !p.starts_with(['-', '.'])
            && !p.ends_with(['-', '.'])
            && !p.contains("..")
            && !p.contains("--")
    };
    match s.split_once('/') {
        Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(()),
        _ => Err(format!(
            "`{}` is not a Hub repository id; use `owner/name`, e.g. `my-org/my-kernel`",
            s.escape_debug()
        )),
    }
}

/// Licenses: SPDX-like expressions only.
pub fn check_license(s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '+' | ' ' | '(' | ')'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a license identifier; use an SPDX id such as `Apache-2.0` or `MIT`",
            s.escape_debug()
        ))
    }
}

/// `upstream`/`source`: an http(s) or git URL without whitespace or quotes.
pub fn check_url(s: &str) -> Result<(), String> {
    let scheme_ok = ["https://", "http://", "git+https://", "ssh://", "git@"]
        .iter()
        .any(|p| s.starts_with(p));
    let chars_ok = s.chars().all(|c| {
        c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '`' | '$' | '\\' | ';' | '<' | '>')
    });
    if scheme_ok && chars_ok && s.len() <= 512 {
        Ok(())
    } else {
        Err(format!(
            "`{}` is not a repository URL; use e.g. `https://github.com/org/repo`",
            s.escape_debug()
        ))
    }
}

/// Python dependencies the loader accepts: general ones and per backend.
pub const GENERAL_PYTHON_DEPENDS: &[&str] = &["einops", "helion", "tvm-ffi"];
pub fn backend_python_depends(backend: Backend) -> &'static [&'static str] {
    match backend {
        Backend::Cuda => &["nvidia-cutlass-dsl"],
        Backend::Xpu => &["onednn"],
        Backend::Neuron => &["nki"],
        _ => &[],
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct KernelDependency {
    pub repo_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BackendDeps {
    pub python_depends: Vec<String>,
    pub kernel_depends: Vec<KernelDependency>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Hub {
    pub repo_id: Option<String>,
    pub branch: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct General {
    pub name: String,
    pub version: u64,
    pub license: String,
    pub upstream: Option<String>,
    pub source: Option<String>,
    /// Minimum `kernels` loader version.
    pub minver: Option<Version>,
    pub backends: Vec<Backend>,
    pub cuda_minver: Option<Version>,
    pub cuda_maxver: Option<Version>,
    pub hub: Hub,
    pub python_depends: Vec<String>,
    pub kernel_depends: Vec<KernelDependency>,
    /// Per-backend dependencies from `general.<backend>` tables.
    pub backend_deps: BTreeMap<Backend, BackendDeps>,
}

impl General {
    pub fn python_name(&self) -> String {
        self.name.replace('-', "_")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum StableAbi {
    All(Version),
    PerBackend(BTreeMap<Backend, Version>),
}

impl StableAbi {
    pub fn for_backend(&self, backend: Backend) -> Option<&Version> {
        match self {
            StableAbi::All(v) => Some(v),
            StableAbi::PerBackend(m) => m.get(&backend),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Torch {
    pub src: Vec<String>,
    pub include: Vec<String>,
    pub pyext: Vec<String>,
    pub minver: Option<Version>,
    pub maxver: Option<Version>,
    pub stable_abi: Option<StableAbi>,
    pub cxx_flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TorchNoarch {
    pub pyext: Vec<String>,
    pub cuda_capabilities: Option<Vec<Capability>>,
    pub rocm_archs: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TvmFfi {
    pub src: Vec<String>,
    pub include: Vec<String>,
    pub pyext: Vec<String>,
    pub cxx_flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Framework {
    Torch(Torch),
    TorchNoarch(TorchNoarch),
    TvmFfi(TvmFfi),
}

impl Framework {
    pub fn name(&self) -> &'static str {
        match self {
            Framework::Torch(_) => "torch",
            Framework::TorchNoarch(_) => "torch-noarch",
            Framework::TvmFfi(_) => "tvm-ffi",
        }
    }

    pub fn pyext(&self) -> &[String] {
        match self {
            Framework::Torch(t) => &t.pyext,
            Framework::TorchNoarch(t) => &t.pyext,
            Framework::TvmFfi(t) => &t.pyext,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Kernel {
    pub name: String,
    pub backend: Backend,
    pub src: Vec<String>,
    pub include: Vec<String>,
    pub depends: Vec<String>,
    pub cxx_flags: Vec<String>,
    pub cuda_capabilities: Option<Vec<Capability>>,
    pub cuda_flags: Vec<String>,
    pub cuda_minver: Option<Version>,
    pub rocm_archs: Option<Vec<String>>,
    pub hip_flags: Vec<String>,
    pub sycl_flags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildConfig {
    /// Edition the file was written in (3, 4 or 5); the model is always edition 5.
    pub source_edition: i64,
    pub general: General,
    pub framework: Framework,
    /// Kernels by section name (sorted: deterministic everywhere).
    pub kernels: BTreeMap<String, Kernel>,
    /// Directory containing `build.toml`.
    #[serde(skip)]
    pub root: PathBuf,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_parse_and_print() {
        for s in ["8.0", "9.0a", "10.0f", "12.1+PTX", "9.0a+PTX", "7.5"] {
            let c: Capability = s.parse().unwrap();
            assert_eq!(c.to_string(), s);
        }
        assert_eq!("9.0a".parse::<Capability>().unwrap().sm(), "90a");
        for bad in [
            "8",
            "8.0b",
            "9.1",
            "8.0a",
            "x.y",
            "8.0+ptx",
            "",
            "12.1+PTX+PTX",
            "08.00.0",
        ] {
            assert!(
                bad.parse::<Capability>().is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn capability_form_and_existence_are_separate() {
        // Well-formed but nonexistent: a dead entry, not a syntax error.
        for s in ["11.8", "9.1", "99999.0", "11.8a"] {
            let c = Capability::parse_form(s).unwrap();
            assert!(
                matches!(c.check_known(), Err(CapabilityProblem::Unknown(_))),
                "{s}"
            );
        }
        // A suffix the capability lacks would make nvcc fail.
        let c = Capability::parse_form("8.0a").unwrap();
        assert!(matches!(
            c.check_known(),
            Err(CapabilityProblem::BadSuffix(_))
        ));
        for bad in [
            "8", "sm_90", "x.y", "8.0+ptx", "", "8.0b", "1.234", "123456.0",
        ] {
            assert!(Capability::parse_form(bad).is_err(), "{bad}");
        }
        Capability::parse_form("12.0a")
            .unwrap()
            .check_known()
            .unwrap();
    }

    #[test]
    fn section_names() {
        for ok in ["relu_cuda", "_qattn_sm90", "moe-marlin", "a", "k.v2", "x+y"] {
            check_section_name(ok).unwrap();
        }
        for bad in ["", "a b", "a;b", "a\nb", "a\"b", "$x", "é", &"x".repeat(65)] {
            assert!(check_section_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn versions() {
        let v: Version = "2025.3.2".parse().unwrap();
        assert_eq!(v.compact(2), "20253");
        assert!("2.x".parse::<Version>().is_err());
        assert!("".parse::<Version>().is_err());
        assert!("2..1".parse::<Version>().is_err());
        assert!("2.15".parse::<Version>().unwrap() > "2.9".parse::<Version>().unwrap());
    }

    #[test]
    fn rocm_archs() {
        for ok in [
            "gfx90a",
            "gfx942",
            "gfx1100",
            "gfx906:xnack-",
            "gfx90a:sramecc+:xnack-",
        ] {
            check_rocm_arch(ok).unwrap();
        }
        for bad in ["gfx", "sm_80", "gfx90z", "gfx90a:foo", "GFX90A", "gfx12345"] {
            assert!(check_rocm_arch(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn kernel_names() {
        for ok in ["relu", "my-kernel", "a1", "flash-attn3"] {
            check_kernel_name(ok).unwrap();
        }
        for bad in [
            "Relu",
            "-relu",
            "relu-",
            "r",
            "my_kernel",
            "1relu",
            "re lu",
            "re\"lu",
            "re$lu",
        ] {
            assert!(check_kernel_name(bad).is_err(), "{bad}");
        }
        assert!(check_kernel_name("my_kernel")
            .unwrap_err()
            .contains("my-kernel"));
    }

    #[test]
    fn path_chars() {
        check_path_chars("relu_cuda/relu.cu").unwrap();
        for bad in [
            "a b.cu", "a\"b.cu", "$(x).cu", "`x`.cu", "a;b.cu", "a\nb.cu", "a'b",
        ] {
            assert!(check_path_chars(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn repo_ids_licenses_urls() {
        check_repo_id("kernels-community/activation").unwrap();
        for bad in ["noslash", "a/b/c", "a/", "/b", "a/b;rm", "a/b\n"] {
            assert!(check_repo_id(bad).is_err(), "{bad:?}");
        }
        check_license("Apache-2.0").unwrap();
        check_license("MIT OR Apache-2.0").unwrap();
        assert!(check_license("MIT\"; rm -rf /").is_err());
        check_url("https://github.com/org/repo").unwrap();
        assert!(check_url("https://x/$(id)").is_err());
        assert!(check_url("file:///etc/passwd").is_err());
    }
}
