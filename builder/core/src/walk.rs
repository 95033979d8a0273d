//! The one walk over the files of a build variant (and of other trees that
//! get published), used by `hash`, `upload`, `verify`, `check-builds` and
//! the build backends, so they all see the same files.
//!
//! [`Rule::Variant`] is the `kernels` loader's rule
//! (`kernels._rust.Digest.hash_variant`, `kernels-data` `variant_files`):
//! every regular file at any depth except `__pycache__` directories and
//! `*.pyc` files; hidden files and `*.pyo` count. Links to files are followed,
//! links to directories are not descended into (so a link loop such as
//! `a -> .` is never entered).
//!
//! Stricter than the loader, it refuses any link (to a file or a directory)
//! that leaves the walked directory, special files (FIFO, socket, device)
//! without opening them, dangling links and names that are not UTF-8, each
//! with an error that names the path.

use std::path::{Path, PathBuf};

/// Which files a walk yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// The loader's rule: the files of a variant directory.
    Variant,
    /// Other published trees (`benchmarks/`): additionally skips hidden
    /// files and directories and `*.pyo`.
    Publish,
}

/// One file found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkFile {
    /// Path relative to the walked directory, with `/` separators.
    pub rel: String,
    /// The path to read (a link inside the tree is read through).
    pub path: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("{}: {kind}", path.display())]
pub struct WalkError {
    pub path: PathBuf,
    pub kind: WalkErrorKind,
}

#[derive(Debug, thiserror::Error)]
pub enum WalkErrorKind {
    #[error("cannot read: {0}")]
    Io(std::io::Error),
    #[error("not a directory")]
    NotADirectory,
    #[error("file name is not valid UTF-8; rename it")]
    NonUtf8,
    #[error("dangling symbolic link ({0}); remove it or fix its target")]
    Dangling(std::io::Error),
    #[error("symbolic link to {} outside the directory; a build must not refer to anything outside itself: copy what it points to into the build instead", .0.display())]
    Outside(PathBuf),
    #[error("is {0}; only regular files, directories and links to them belong in a build")]
    Special(&'static str),
}

impl WalkError {
    fn new(path: &Path, kind: WalkErrorKind) -> WalkError {
        WalkError {
            path: path.to_path_buf(),
            kind,
        }
    }
}

fn skipped_dir(name: &str, rule: Rule) -> bool {
    name == "__pycache__" || (rule == Rule::Publish && name.starts_with('.'))
}

fn skipped_file(name: &str, rule: Rule) -> bool {
    name.ends_with(".pyc")
        || (rule == Rule::Publish && (name.starts_with('.') || name.ends_with(".pyo")))
}

/// The files under `root`, sorted by relative path.
pub fn files(root: &Path, rule: Rule) -> Result<Vec<WalkFile>, WalkError> {
    let meta = std::fs::metadata(root).map_err(|e| WalkError::new(root, WalkErrorKind::Io(e)))?;
    if !meta.is_dir() {
        return Err(WalkError::new(root, WalkErrorKind::NotADirectory));
    }
    let canonical_root = root
        .canonicalize()
        .map_err(|e| WalkError::new(root, WalkErrorKind::Io(e)))?;
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .min_depth(1)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            !(e.file_type().is_dir()
                && e.file_name().to_str().is_some_and(|n| skipped_dir(n, rule)))
        });
    let mut out = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            let io = e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("file system loop"));
            WalkError::new(&path, WalkErrorKind::Io(io))
        })?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str() else {
            return Err(WalkError::new(path, WalkErrorKind::NonUtf8));
        };
        let ft = entry.file_type();
        if ft.is_dir() {
            continue;
        }
        if ft.is_symlink() {
            let target = std::fs::metadata(path)
                .map_err(|e| WalkError::new(path, WalkErrorKind::Dangling(e)))?;
            let resolved = path
                .canonicalize()
                .map_err(|e| WalkError::new(path, WalkErrorKind::Dangling(e)))?;
            if !resolved.starts_with(&canonical_root) {
                // Files or directories: nothing outside the tree is read or published.
                return Err(WalkError::new(path, WalkErrorKind::Outside(resolved)));
            }
            if target.is_dir() {
                // The loader does not descend into linked directories (so a loop
                // such as `a -> .` is never entered).
                continue;
            }
            if let Some(kind) = crate::fsutil::special_kind(&target) {
                return Err(WalkError::new(path, WalkErrorKind::Special(kind)));
            }
        } else if !ft.is_file() {
            let kind = entry
                .metadata()
                .ok()
                .and_then(|m| crate::fsutil::special_kind(&m))
                .unwrap_or("a special file");
            return Err(WalkError::new(path, WalkErrorKind::Special(kind)));
        }
        if skipped_file(name, rule) {
            continue;
        }
        let rel = path
            .strip_prefix(root)
            .unwrap_or(path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        out.push(WalkFile {
            rel,
            path: path.to_path_buf(),
        });
    }
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(p: &Path, s: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }

    fn rels(root: &Path, rule: Rule) -> Vec<String> {
        files(root, rule)
            .unwrap()
            .into_iter()
            .map(|f| f.rel)
            .collect()
    }

    #[test]
    fn loader_rule_and_publish_rule() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        for f in [
            "__init__.py",
            "sub/.keep",
            "old.pyo",
            "x.pyc",
            "__pycache__/a.pyc",
            "sub/__pycache__/b.py",
            ".hidden/inner.txt",
            "d.pyc/inner.txt",
        ] {
            write(&r.join(f), "x");
        }
        assert_eq!(
            rels(r, Rule::Variant),
            [
                ".hidden/inner.txt",
                "__init__.py",
                "d.pyc/inner.txt",
                "old.pyo",
                "sub/.keep"
            ]
        );
        assert_eq!(rels(r, Rule::Publish), ["__init__.py", "d.pyc/inner.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn links_loops_and_special_files() {
        use std::os::unix::fs::symlink;
        let d = tempfile::tempdir().unwrap();
        let v = d.path().join("v");
        write(&v.join("a.py"), "a");
        write(&d.path().join("outside.txt"), "o");
        symlink("a.py", v.join("link.py")).unwrap();
        symlink(".", v.join("loop")).unwrap();
        std::fs::create_dir(v.join("sub")).unwrap();
        symlink("..", v.join("sub/up")).unwrap();
        // Links to directories inside are not descended into, so the loops
        // are not walked.
        assert_eq!(rels(&v, Rule::Variant), ["a.py", "link.py"]);

        // A link to a directory outside (`/`, `..` of the root) is refused.
        for (name, target) in [("root", "/"), ("up", "..")] {
            symlink(target, v.join(name)).unwrap();
            let e = files(&v, Rule::Variant).unwrap_err();
            assert!(matches!(e.kind, WalkErrorKind::Outside(_)), "{e}");
            assert!(e.to_string().contains(name), "{e}");
            std::fs::remove_file(v.join(name)).unwrap();
        }

        symlink("../outside.txt", v.join("out.txt")).unwrap();
        let e = files(&v, Rule::Variant).unwrap_err();
        assert!(matches!(e.kind, WalkErrorKind::Outside(_)), "{e}");
        assert!(e.to_string().contains("out.txt"), "{e}");
        std::fs::remove_file(v.join("out.txt")).unwrap();

        symlink("nowhere", v.join("dangling")).unwrap();
        let e = files(&v, Rule::Variant).unwrap_err();
        assert!(e.to_string().contains("dangling"), "{e}");
        std::fs::remove_file(v.join("dangling")).unwrap();

        let fifo = v.join("metadata.json");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = files(&v, Rule::Variant).unwrap_err();
        assert!(matches!(e.kind, WalkErrorKind::Special("a FIFO")), "{e}");
    }
}
