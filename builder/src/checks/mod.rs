//! Checks on built variants: ABI (`check-abi`), layout and compliance
//! (`check-builds`), file digests (`hash`), op-namespace hygiene of the Python
//! sources, and the loader check (`verify`).
//!
//! Every check is a plain function over a variant directory so the build can
//! call it right after producing a variant; the `command` functions wrap them
//! for the CLI.

pub mod abi;
pub mod compliance;
pub mod hash;
pub mod layout;
pub mod ops_namespace;
pub mod verify;

use std::fmt;
use std::path::{Path, PathBuf};

/// What a `[DIR]` argument of the check commands pointed at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A kernel project (or any directory with a `build/` directory).
    Project {
        root: PathBuf,
        variants: Vec<PathBuf>,
    },
    /// A directory holding variants (`build/`).
    BuildDir {
        dir: PathBuf,
        variants: Vec<PathBuf>,
    },
    /// One variant directory.
    Variant(PathBuf),
    /// A single file (only meaningful for `check-abi`).
    File(PathBuf),
}

impl Target {
    /// The variant directories, sorted by name.
    pub fn variants(&self) -> Vec<PathBuf> {
        match self {
            Target::Project { variants, .. } | Target::BuildDir { variants, .. } => {
                variants.clone()
            }
            Target::Variant(v) => vec![v.clone()],
            Target::File(_) => Vec::new(),
        }
    }

    /// The kernel project root, if the target is (inside) one: a project, its
    /// `build/` directory, or a variant in `<root>/build/`.
    pub fn project_root(&self) -> Option<PathBuf> {
        let has_toml = |p: &Path| p.join("build.toml").is_file();
        match self {
            Target::Project { root, .. } => Some(root.clone()).filter(|r| has_toml(r)),
            Target::BuildDir { dir, .. } => dir
                .canonicalize()
                .ok()
                .and_then(|d| d.parent().map(Path::to_path_buf))
                .filter(|r| has_toml(r)),
            Target::Variant(_) | Target::File(_) => None,
        }
    }
}

/// An input that cannot be checked at all (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub path: PathBuf,
    pub message: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// Does this directory look like one build variant (rather than a directory
/// of variants)?
pub fn looks_like_variant(dir: &Path) -> bool {
    dir.join("metadata.json").is_file()
        || dir.join("__init__.py").is_file()
        || dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| VariantName::parse(n).is_ok())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let rd = std::fs::read_dir(dir).map_err(|e| InputError {
        path: dir.to_path_buf(),
        message: format!("cannot read directory: {e}"),
    })?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && n != "__pycache__")
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Resolve a `[DIR]` argument: a kernel project (its `build/*/`), a `build/`
/// directory, a variant directory, or (when `allow_file`) a single file.
pub fn resolve_target(path: &Path, allow_file: bool) -> Result<Target, InputError> {
    let meta = std::fs::metadata(path).map_err(|e| InputError {
        path: path.to_path_buf(),
        message: format!("cannot access: {e}"),
    })?;
    if meta.is_file() {
        if allow_file {
            return Ok(Target::File(path.to_path_buf()));
        }
        return Err(InputError {
            path: path.to_path_buf(),
            message: "expected a directory (a kernel project, its build/ directory or a variant)"
                .into(),
        });
    }
    let build = path.join("build");
    if build.is_dir() && !looks_like_variant(path) {
        let variants = subdirs(&build)?;
        if variants.is_empty() {
            return Err(InputError {
                path: build,
                message: "no build variants in this directory; build the kernel first".into(),
            });
        }
        return Ok(Target::Project {
            root: path.to_path_buf(),
            variants,
        });
    }
    if looks_like_variant(path) {
        return Ok(Target::Variant(path.to_path_buf()));
    }
    let variants: Vec<PathBuf> = subdirs(path)?
        .into_iter()
        .filter(|d| looks_like_variant(d))
        .collect();
    if variants.is_empty() {
        return Err(InputError {
            path: path.to_path_buf(),
            message: "no build variants found: expected a kernel project with build/<variant>/, \
                      a build/ directory, or a variant directory"
                .into(),
        });
    }
    Ok(Target::BuildDir {
        dir: path.to_path_buf(),
        variants,
    })
}

/// The framework part of a variant name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariantFramework {
    /// `torch<M><m>[-cxx11|-cxx98]`
    Torch {
        major: u32,
        minor: u32,
        cxx11: Option<bool>,
    },
    /// `torch-stable-abi<M><m>`
    TorchStableAbi { major: u32, minor: u32 },
    /// `tvm-ffi<M><m>`
    TvmFfi { major: u32, minor: u32 },
    /// `torch-<backend>` (no compiled code)
    TorchNoarch,
}

/// A parsed variant directory name, following the loader's grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantName {
    pub framework: VariantFramework,
    /// `cpu`, `cu132`, `rocm72`, `xpu20253`, `metal`; for noarch variants the
    /// backend name (`cpu`, `cuda`, `universal`, ...).
    pub compute: String,
    /// `x86_64`, `aarch64`; `None` for noarch variants.
    pub arch: Option<String>,
    /// `linux`, `darwin`, `windows`; `None` for noarch variants.
    pub os: Option<String>,
}

fn split_version(digits: &str) -> Option<(u32, u32)> {
    // One digit of major version, the rest is the minor (the loader's rule).
    if digits.len() < 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (ma, mi) = digits.split_at(1);
    Some((ma.parse().ok()?, mi.parse().ok()?))
}

impl VariantName {
    pub fn parse(s: &str) -> Result<VariantName, String> {
        let bad = || {
            format!(
                "`{s}` is not a variant name (expected e.g. `torch215-cxx11-cu132-x86_64-linux`, \
                 `torch215-cpu-aarch64-darwin`, `torch-stable-abi211-cpu-x86_64-linux`, \
                 `tvm-ffi01-cu132-x86_64-linux` or `torch-cpu`)"
            )
        };
        let parts: Vec<&str> = s.split('-').collect();
        let arch_parts =
            |rest: &[&str]| -> Result<(String, Option<String>, Option<String>), String> {
                match rest {
                    [compute, arch, os]
                        if !compute.is_empty() && !arch.is_empty() && !os.is_empty() =>
                    {
                        Ok((
                            compute.to_string(),
                            Some(arch.to_string()),
                            Some(os.to_string()),
                        ))
                    }
                    _ => Err(bad()),
                }
            };
        if let Some(rest) = s.strip_prefix("torch-stable-abi") {
            let mut it = rest.splitn(2, '-');
            let ver = it.next().unwrap_or("");
            let (major, minor) = split_version(ver).ok_or_else(bad)?;
            let tail: Vec<&str> = it.next().unwrap_or("").split('-').collect();
            let (compute, arch, os) = arch_parts(&tail)?;
            return Ok(VariantName {
                framework: VariantFramework::TorchStableAbi { major, minor },
                compute,
                arch,
                os,
            });
        }
        if parts[0] == "torch" {
            if parts.len() < 2 || parts[1..].iter().any(|p| p.is_empty()) {
                return Err(bad());
            }
            return Ok(VariantName {
                framework: VariantFramework::TorchNoarch,
                compute: parts[1..].join("-"),
                arch: None,
                os: None,
            });
        }
        if let Some(ver) = parts[0].strip_prefix("torch") {
            let (major, minor) = split_version(ver).ok_or_else(bad)?;
            let (cxx11, rest) = match parts.get(1) {
                Some(&"cxx11") => (Some(true), &parts[2..]),
                Some(&"cxx98") => (Some(false), &parts[2..]),
                _ => (None, &parts[1..]),
            };
            let (compute, arch, os) = arch_parts(rest)?;
            return Ok(VariantName {
                framework: VariantFramework::Torch {
                    major,
                    minor,
                    cxx11,
                },
                compute,
                arch,
                os,
            });
        }
        if parts[0] == "tvm" && parts.len() >= 2 {
            if let Some(ver) = parts[1].strip_prefix("ffi") {
                let (major, minor) = split_version(ver).ok_or_else(bad)?;
                let (compute, arch, os) = arch_parts(&parts[2..])?;
                return Ok(VariantName {
                    framework: VariantFramework::TvmFfi { major, minor },
                    compute,
                    arch,
                    os,
                });
            }
        }
        Err(bad())
    }

    /// The backend (`cpu`, `cuda`, `rocm`, `xpu`, `metal`, ...) this variant
    /// is for, as `metadata.json` spells `backend.type`. `None` for the
    /// legacy `torch-universal`.
    pub fn backend(&self) -> Option<&str> {
        let c = self.compute.as_str();
        if self.framework == VariantFramework::TorchNoarch {
            return match c {
                "universal" => None,
                "npu" => Some("cann"),
                other => Some(other),
            };
        }
        let numeric_after = |p: &str| {
            c.strip_prefix(p)
                .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
        };
        if numeric_after("cu") {
            Some("cuda")
        } else if numeric_after("rocm") {
            Some("rocm")
        } else if numeric_after("xpu") {
            Some("xpu")
        } else if numeric_after("cann") {
            Some("cann")
        } else {
            Some(c)
        }
    }

    /// The toolkit version digits of the compute tag (`cu132` -> `132`).
    pub fn toolkit_digits(&self) -> Option<&str> {
        ["cu", "rocm", "xpu", "cann"]
            .iter()
            .find_map(|p| self.compute.strip_prefix(p))
            .filter(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()))
    }

    pub fn is_noarch(&self) -> bool {
        self.framework == VariantFramework::TorchNoarch
    }
}

/// Display a path relative to `base` when it is inside it.
pub fn display_path(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_names() {
        let v = VariantName::parse("torch215-cxx11-cu132-x86_64-linux").unwrap();
        assert_eq!(
            v.framework,
            VariantFramework::Torch {
                major: 2,
                minor: 15,
                cxx11: Some(true)
            }
        );
        assert_eq!(v.backend(), Some("cuda"));
        assert_eq!(v.toolkit_digits(), Some("132"));
        assert_eq!(v.arch.as_deref(), Some("x86_64"));
        let v = VariantName::parse("torch215-metal-aarch64-darwin").unwrap();
        assert_eq!(v.backend(), Some("metal"));
        assert_eq!(v.os.as_deref(), Some("darwin"));
        let v = VariantName::parse("torch-stable-abi211-rocm72-x86_64-linux").unwrap();
        assert_eq!(
            v.framework,
            VariantFramework::TorchStableAbi {
                major: 2,
                minor: 11
            }
        );
        assert_eq!(v.backend(), Some("rocm"));
        let v = VariantName::parse("tvm-ffi01-xpu20253-x86_64-linux").unwrap();
        assert_eq!(v.backend(), Some("xpu"));
        let v = VariantName::parse("torch-cpu").unwrap();
        assert!(v.is_noarch());
        assert_eq!(v.backend(), Some("cpu"));
        assert_eq!(
            VariantName::parse("torch-universal").unwrap().backend(),
            None
        );
        for bad in [
            "torch",
            "torch2-cpu-x86_64-linux",
            "torch215-cxx11-cpu-x86_64",
            "relu",
            "tvm-ffi-cpu-x86_64-linux",
            "torch215-cxx11-cpu-x86_64-linux-extra",
        ] {
            assert!(VariantName::parse(bad).is_err(), "{bad}");
        }
    }
}
