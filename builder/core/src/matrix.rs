//! The variant matrix (`data/matrix.toml`), embedded at compile time. The Nix
//! layer reads the same file, so both agree by construction.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::config::{Backend, Capability, Version};

pub const MATRIX_TOML: &str = include_str!("../../../data/matrix.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawMatrix {
    schema: u32,
    systems: Vec<String>,
    torch: BTreeMap<String, RawFramework>,
    #[serde(rename = "tvm-ffi")]
    tvm_ffi: BTreeMap<String, RawFramework>,
    cuda: BTreeMap<String, RawCuda>,
    rocm: BTreeMap<String, RawRocm>,
    xpu: BTreeMap<String, RawSource>,
    entry: Vec<RawEntry>,
    noarch: RawNoarch,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawFramework {
    release: String,
    #[serde(default)]
    cxx_standard: Option<u32>,
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCuda {
    capabilities: Vec<String>,
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRocm {
    archs: Vec<String>,
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSource {
    #[allow(dead_code)]
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    framework: String,
    version: String,
    backend: String,
    toolkit: Option<String>,
    systems: Vec<String>,
    required: bool,
    source: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNoarch {
    backends: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MatrixFramework {
    Torch,
    TvmFfi,
}

#[derive(Debug, Clone)]
pub struct FrameworkRelease {
    pub version: Version,
    pub release: String,
    pub cxx_standard: u32,
}

#[derive(Debug, Clone)]
pub struct Entry {
    pub framework: MatrixFramework,
    pub version: Version,
    pub backend: Backend,
    pub toolkit: Option<Version>,
    pub systems: Vec<String>,
    pub required: bool,
    pub source: String,
}

#[derive(Debug)]
pub struct Matrix {
    pub systems: Vec<String>,
    pub torch: BTreeMap<Version, FrameworkRelease>,
    pub tvm_ffi: BTreeMap<Version, FrameworkRelease>,
    pub cuda: BTreeMap<Version, Vec<Capability>>,
    pub rocm: BTreeMap<Version, Vec<String>>,
    pub xpu: Vec<Version>,
    pub entries: Vec<Entry>,
    pub noarch_backends: Vec<Backend>,
}

impl Matrix {
    /// The embedded matrix. It is validated by the test suite, so a failure
    /// here is a packaging bug.
    pub fn get() -> &'static Matrix {
        static M: OnceLock<Matrix> = OnceLock::new();
        M.get_or_init(|| Matrix::parse(MATRIX_TOML).expect("embedded data/matrix.toml is valid"))
    }

    pub fn parse(text: &str) -> Result<Matrix, String> {
        let raw: RawMatrix = toml::from_str(text).map_err(|e| e.to_string())?;
        if raw.schema != 1 {
            return Err(format!("unsupported matrix schema {}", raw.schema));
        }
        let ver = |s: &str| s.parse::<Version>();
        let backend = |s: &str| {
            s.parse::<Backend>()
                .map_err(|_| format!("unknown backend `{s}`"))
        };
        let fw = |m: BTreeMap<String, RawFramework>| -> Result<BTreeMap<Version, FrameworkRelease>, String> {
            m.into_iter()
                .map(|(k, v)| {
                    let version = ver(&k)?;
                    Ok((version.clone(), FrameworkRelease { version, release: v.release, cxx_standard: v.cxx_standard.unwrap_or(17) }))
                })
                .collect()
        };
        let torch = fw(raw.torch)?;
        let tvm_ffi = fw(raw.tvm_ffi)?;
        let mut cuda = BTreeMap::new();
        for (k, v) in raw.cuda {
            let caps: Result<Vec<Capability>, String> =
                v.capabilities.iter().map(|c| c.parse()).collect();
            cuda.insert(ver(&k)?, caps?);
        }
        let mut rocm = BTreeMap::new();
        for (k, v) in raw.rocm {
            for a in &v.archs {
                crate::config::check_rocm_arch(a)?;
            }
            rocm.insert(ver(&k)?, v.archs);
        }
        let xpu: Result<Vec<Version>, String> = raw.xpu.keys().map(|k| ver(k)).collect();
        let xpu = xpu?;
        let mut entries = Vec::new();
        for e in raw.entry {
            let framework = match e.framework.as_str() {
                "torch" => MatrixFramework::Torch,
                "tvm-ffi" => MatrixFramework::TvmFfi,
                other => return Err(format!("unknown framework `{other}`")),
            };
            let version = ver(&e.version)?;
            let known = match framework {
                MatrixFramework::Torch => torch.contains_key(&version),
                MatrixFramework::TvmFfi => tvm_ffi.contains_key(&version),
            };
            if !known {
                return Err(format!(
                    "entry refers to unknown {} version {version}",
                    e.framework
                ));
            }
            let b = backend(&e.backend)?;
            let toolkit = e.toolkit.as_deref().map(ver).transpose()?;
            let toolkit_ok = match (b, &toolkit) {
                (Backend::Cuda, Some(t)) => cuda.contains_key(t),
                (Backend::Rocm, Some(t)) => rocm.contains_key(t),
                (Backend::Xpu, Some(t)) => xpu.contains(t),
                (Backend::Cpu | Backend::Metal, None) => true,
                _ => false,
            };
            if !toolkit_ok {
                return Err(format!(
                    "entry {} {} {}: missing or unknown toolkit {:?}",
                    e.framework, e.version, e.backend, e.toolkit
                ));
            }
            for s in &e.systems {
                if !raw.systems.contains(s) {
                    return Err(format!("entry uses unknown system `{s}`"));
                }
            }
            entries.push(Entry {
                framework,
                version,
                backend: b,
                toolkit,
                systems: e.systems,
                required: e.required,
                source: e.source,
            });
        }
        let noarch_backends: Result<Vec<Backend>, String> =
            raw.noarch.backends.iter().map(|b| backend(b)).collect();
        Ok(Matrix {
            systems: raw.systems,
            torch,
            tvm_ffi,
            cuda,
            rocm,
            xpu,
            entries,
            noarch_backends: noarch_backends?,
        })
    }
}

/// The compute part of a variant name: `cpu`, `cu132`, `rocm72`, `xpu20253`, `metal`.
pub fn compute_tag(backend: Backend, toolkit: Option<&Version>) -> String {
    match (backend, toolkit) {
        (Backend::Cuda, Some(v)) => format!("cu{}", v.compact(2)),
        (Backend::Rocm, Some(v)) => format!("rocm{}", v.compact(2)),
        (Backend::Xpu, Some(v)) => format!("xpu{}", v.compact(2)),
        (b, _) => b.as_str().to_string(),
    }
}

/// The system this binary runs on, in Nix notation.
pub fn host_system() -> String {
    let arch = std::env::consts::ARCH;
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    format!("{arch}-{os}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_matrix_is_valid_and_current() {
        let m = Matrix::parse(MATRIX_TOML).unwrap();
        assert!(m.torch.contains_key(&"2.15".parse().unwrap()));
        assert!(m.torch.contains_key(&"2.14".parse().unwrap()));
        assert!(m.entries.iter().any(|e| e.required));
        let caps = &m.cuda[&"13.2".parse().unwrap()];
        assert_eq!(caps.last().unwrap().to_string(), "12.1+PTX");
    }

    #[test]
    fn compute_tags() {
        assert_eq!(
            compute_tag(Backend::Cuda, Some(&"13.2".parse().unwrap())),
            "cu132"
        );
        assert_eq!(
            compute_tag(Backend::Rocm, Some(&"7.2".parse().unwrap())),
            "rocm72"
        );
        assert_eq!(
            compute_tag(Backend::Xpu, Some(&"2025.3.2".parse().unwrap())),
            "xpu20253"
        );
        assert_eq!(compute_tag(Backend::Metal, None), "metal");
    }

    #[test]
    fn bad_matrices_are_rejected() {
        let bad = MATRIX_TOML.replace("toolkit = \"13.2\"", "toolkit = \"99.9\"");
        assert!(Matrix::parse(&bad).unwrap_err().contains("unknown toolkit"));
        let bad = MATRIX_TOML.replacen(
            "systems = [\"x86_64-linux\"]",
            "systems = [\"riscv-linux\"]",
            1,
        );
        assert!(Matrix::parse(&bad).is_err());
    }
}
