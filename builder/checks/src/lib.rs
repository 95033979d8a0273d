//! Checks on built variants: ABI (`check-abi`), layout and compliance
//! (`check-builds`), file digests (`hash`), op-namespace hygiene of the Python
//! sources, and the loader check (`verify`).
//!
//! Every check is a plain function over a variant directory so the build can
//! call it right after producing a variant; each `run` function checks a
//! `[DIR]` argument and returns a report (`kb_core::Report`).

pub mod abi;
pub mod compliance;
pub mod files;
pub mod hash;
pub mod layout;
pub mod ops_namespace;
pub mod verify;

mod scripts;

use std::fmt;
use std::path::{Path, PathBuf};

pub use kb_core::fsutil::display_path;
pub use kb_core::variant::{Framework, VariantName};

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

impl std::error::Error for InputError {}

impl From<InputError> for kb_core::Error {
    fn from(e: InputError) -> Self {
        kb_core::Error::Input {
            path: e.path,
            message: e.message,
        }
    }
}

impl From<kb_core::walk::WalkError> for InputError {
    fn from(e: kb_core::walk::WalkError) -> Self {
        InputError {
            path: e.path,
            message: e.kind.to_string(),
        }
    }
}

impl From<kb_core::metadata::MetadataError> for InputError {
    fn from(e: kb_core::metadata::MetadataError) -> Self {
        let path = e.path().to_path_buf();
        let full = e.to_string();
        let message = full
            .strip_prefix(&format!("{}: ", path.display()))
            .unwrap_or(&full)
            .to_string();
        InputError { path, message }
    }
}

/// The directory the report names variants relative to.
pub fn report_base(dir: &Path, target: &Target) -> PathBuf {
    match target {
        Target::Variant(v) => v.parent().map(Path::to_path_buf).unwrap_or_default(),
        Target::File(f) => f.parent().map(Path::to_path_buf).unwrap_or_default(),
        _ => dir.to_path_buf(),
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
