//! `metadata.json` of a build variant: the one typed model, read and written
//! only here. Every key is optional when reading (what a valid file needs is
//! checked by `check-builds`); keys this model does not know are kept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::digest::{Algorithm, FileDigests};

pub const FILE: &str = "metadata.json";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The ops id: the op namespace and the native module's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python_depends: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_depends: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_info: Option<BuildInfo>,
    /// Keys this model does not know, kept as they are.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<DigestRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// `cpu`, `cuda`, `rocm`, `xpu`, `metal`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// CUDA capabilities or ROCm architectures compiled into the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archs: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Provenance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_builder: Option<BuilderProvenance>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<SourceProvenance>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuilderProvenance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceProvenance {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dirty: Option<bool>,
}

/// `build-info.kind` of builds by the Nix backend.
pub const KIND_NIX: &str = "nix";
/// `build-info.kind` of builds by the local backend, whose `compliant` is
/// measured by the checks recorded next to it.
pub const KIND_LOCAL: &str = "local";

/// How the variant was built and whether it is Hub-compliant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildInfo {
    /// [`KIND_NIX`] or [`KIND_LOCAL`] (older local builds: `development`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compliant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why the build is not compliant (empty: it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toolchain: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abi_findings: Option<Vec<Value>>,
    /// Why the get_kernel check did not run, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub get_kernel_check: Option<String>,
    /// What each compliance check concluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checks: Option<ComplianceChecks>,
    /// What the local backend's glibc compatibility layer did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub glibc_compat: Option<GlibcCompat>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `build-info.checks`: the outcome of each check behind `compliant`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ComplianceChecks {
    pub abi: AbiCheck,
    /// `passed` or `failed: ...`.
    pub layout: String,
    /// `passed`, `failed: ...` or `not run: ...`.
    pub loader: String,
    /// `matches the plan`, `mismatch: ...` or `unknown`.
    pub toolchain: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AbiCheck {
    /// `manylinux_2_28, Python 3.9 limited API (abi3)[, Torch stable ABI X.Y]`.
    pub target: String,
    /// `passed`, `<n> finding(s)` or `error: ...`.
    pub result: String,
}

/// `build-info.glibc-compat`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct GlibcCompat {
    pub enabled: bool,
    /// Why it is off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The manylinux policy it targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// The host libraries whose version definitions were read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libraries: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub symver_directives: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_threaded_replaced: Option<bool>,
    /// The bindings the module carries (`dlopen@GLIBC_2.2.5 (was GLIBC_2.34)`).
    #[serde(default)]
    pub bound_in_module: Vec<String>,
}

impl GlibcCompat {
    pub fn off(why: impl Into<String>) -> GlibcCompat {
        GlibcCompat {
            enabled: false,
            why: Some(why.into()),
            ..GlibcCompat::default()
        }
    }
}

/// The recorded `digest`: algorithm and relative path -> base64 hash.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestRecord {
    pub algorithm: String,
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

impl DigestRecord {
    pub fn new(algorithm: Algorithm, files: FileDigests) -> DigestRecord {
        DigestRecord {
            algorithm: algorithm.as_str().to_string(),
            files,
        }
    }

    pub fn algorithm(&self) -> Option<Algorithm> {
        Algorithm::parse(&self.algorithm)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetadataError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: invalid JSON: {message}", path.display())]
    Json { path: PathBuf, message: String },
    #[error("{}: expected a JSON object", path.display())]
    NotAnObject { path: PathBuf },
    #[error("{}: key `{key}`: {message}", path.display())]
    Field {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl MetadataError {
    pub fn path(&self) -> &Path {
        match self {
            MetadataError::Read { path, .. }
            | MetadataError::Json { path, .. }
            | MetadataError::NotAnObject { path }
            | MetadataError::Field { path, .. }
            | MetadataError::Write { path, .. } => path,
        }
    }
}

/// The path of a variant's `metadata.json`.
pub fn path(variant: &Path) -> PathBuf {
    variant.join(FILE)
}

/// The raw JSON object of `metadata.json` (for validation that reports
/// every problem of a file).
pub fn read_value(variant: &Path) -> Result<Map<String, Value>, MetadataError> {
    let path = path(variant);
    let bytes = crate::fsutil::read_regular(&path).map_err(|source| MetadataError::Read {
        path: path.clone(),
        source,
    })?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| MetadataError::Json {
        path: path.clone(),
        message: e.to_string(),
    })?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(MetadataError::NotAnObject { path }),
    }
}

impl Metadata {
    /// Interpret a JSON object; a key of the wrong type is an error naming it.
    pub fn from_value(value: Map<String, Value>, path: &Path) -> Result<Metadata, MetadataError> {
        serde_path_to_error::deserialize(Value::Object(value)).map_err(|e| MetadataError::Field {
            path: path.to_path_buf(),
            key: e.path().to_string(),
            message: e.inner().to_string(),
        })
    }

    /// Read a variant's `metadata.json`.
    pub fn read(variant: &Path) -> Result<Metadata, MetadataError> {
        let value = read_value(variant)?;
        Metadata::from_value(value, &path(variant))
    }

    /// The file's text: pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("metadata serializes");
        text.push('\n');
        text
    }

    /// Write a variant's `metadata.json` atomically.
    pub fn write(&self, variant: &Path) -> Result<(), MetadataError> {
        let path = path(variant);
        crate::fsutil::write_atomic(&path, self.to_json().as_bytes())
            .map_err(|source| MetadataError::Write { path, source })
    }

    /// The backend type (`backend.type`).
    pub fn backend_type(&self) -> Option<&str> {
        self.backend.as_ref().map(|b| b.kind.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_unknown_keys_and_puts_the_digest_last() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join(FILE),
            r#"{"name": "relu", "id": "_relu_cpu_1", "version": 2, "custom": {"a": 1},
                "backend": {"type": "cuda", "archs": ["8.0"]},
                "build-info": {"kind": "nix", "compliant": true, "new-key": 1}}"#,
        )
        .unwrap();
        let mut m = Metadata::read(d.path()).unwrap();
        assert_eq!(m.backend_type(), Some("cuda"));
        assert_eq!(m.extra["custom"]["a"], 1);
        m.digest = Some(DigestRecord::new(Algorithm::Sha256, FileDigests::new()));
        m.write(d.path()).unwrap();
        let v = read_value(d.path()).unwrap();
        let keys: Vec<&String> = v.keys().collect();
        assert_eq!(keys.first().unwrap().as_str(), "name");
        assert_eq!(keys.last().unwrap().as_str(), "digest");
        assert_eq!(v["build-info"]["new-key"], 1);
        assert_eq!(Metadata::read(d.path()).unwrap(), m);
    }

    #[test]
    fn wrong_types_name_the_key() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(FILE), r#"{"version": "1"}"#).unwrap();
        let e = Metadata::read(d.path()).unwrap_err().to_string();
        assert!(e.contains("key `version`"), "{e}");
        std::fs::write(d.path().join(FILE), "[]").unwrap();
        assert!(matches!(
            Metadata::read(d.path()),
            Err(MetadataError::NotAnObject { .. })
        ));
    }
}
