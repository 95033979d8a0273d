//! The unique part of ops names, and the git provenance of kernel sources.
//!
//! One rule for every build path: the kernel's git short commit id, with a
//! `_dirty` suffix when tracked files under the kernel directory have
//! uncommitted changes; outside git a random id.

use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitState {
    /// Full 40-hex commit id.
    pub commit: String,
    pub dirty: bool,
}

impl GitState {
    pub fn unique_id(&self) -> String {
        let short = &self.commit[..7.min(self.commit.len())];
        if self.dirty {
            format!("{short}_dirty")
        } else {
            short.to_string()
        }
    }
}

/// Git state of the repository containing `dir`, restricted to files under
/// `dir`. `None` outside git or in a repository without commits.
pub fn git_state(dir: &Path) -> Option<GitState> {
    let repo = git2::Repository::discover(dir).ok()?;
    let head = repo.head().ok()?.peel_to_commit().ok()?;
    let workdir = repo.workdir()?.canonicalize().ok()?;
    let dir = dir.canonicalize().ok()?;
    let rel = dir.strip_prefix(&workdir).ok()?;
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(false)
        .include_ignored(false)
        .exclude_submodules(true);
    if !rel.as_os_str().is_empty() {
        opts.pathspec(rel.to_string_lossy().as_ref());
    }
    let dirty = repo
        .statuses(Some(&mut opts))
        .map(|s| s.iter().any(|e| e.status() != git2::Status::CURRENT))
        .unwrap_or(true);
    Some(GitState {
        commit: head.id().to_string(),
        dirty,
    })
}

/// A random id for builds outside git: 8 hex digits.
pub fn random_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() as u32)
}

/// An id for builds outside git that depends only on content: 8 hex digits
/// of the SHA-256 of `files` (paths relative to `root`, sorted, each with
/// its bytes; a missing file counts as empty). The same sources give the
/// same id on every run.
pub fn content_id(root: &Path, files: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut files: Vec<&String> = files.iter().collect();
    files.sort();
    files.dedup();
    let mut h = Sha256::new();
    for f in files {
        let bytes = crate::fsutil::read_regular(&root.join(f)).unwrap_or_default();
        h.update((f.len() as u64).to_le_bytes());
        h.update(f.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    let d = h.finalize();
    format!("{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
}

/// `_<python_name>_<backend>_<unique>`.
pub fn ops_name(python_name: &str, backend: &str, unique: &str) -> String {
    format!("_{python_name}_{backend}_{unique}")
}

/// Ops names become C identifiers, Python module names and Torch namespaces.
pub fn check_unique_id(id: &str) -> Result<(), String> {
    if !id.is_empty()
        && id.len() <= 64
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(())
    } else {
        Err(format!(
            "unique id `{}` must be 1-64 letters, digits or `_`",
            id.escape_debug()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_id_follows_content_only() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), "1").unwrap();
        let files = vec!["a".to_string(), "b".to_string()];
        let id = content_id(d.path(), &files);
        assert!(check_unique_id(&id).is_ok(), "{id}");
        assert_eq!(
            id,
            content_id(d.path(), &["b".into(), "a".into(), "a".into()])
        );
        std::fs::write(d.path().join("a"), "2").unwrap();
        assert_ne!(id, content_id(d.path(), &files));
    }

    #[test]
    fn git_state_tracks_commit_and_dirty_files_under_dir() {
        let d = tempfile::tempdir().unwrap();
        assert!(git_state(d.path()).is_none());
        let repo = git2::Repository::init(d.path()).unwrap();
        std::fs::create_dir_all(d.path().join("k")).unwrap();
        std::fs::write(d.path().join("k/a.cu"), "1").unwrap();
        std::fs::write(d.path().join("other.txt"), "1").unwrap();
        assert!(git_state(d.path()).is_none(), "no commit yet");
        let mut index = repo.index().unwrap();
        index.add_path(Path::new("k/a.cu")).unwrap();
        index.add_path(Path::new("other.txt")).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = git2::Signature::now("t", "t@example.com").unwrap();
        let oid = repo
            .commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
            .unwrap();
        let s = git_state(&d.path().join("k")).unwrap();
        assert_eq!(
            s,
            GitState {
                commit: oid.to_string(),
                dirty: false
            }
        );
        assert_eq!(s.unique_id(), oid.to_string()[..7]);
        // Untracked files do not make a tree dirty; changes elsewhere do not count.
        std::fs::write(d.path().join("k/new.cu"), "x").unwrap();
        std::fs::write(d.path().join("other.txt"), "2").unwrap();
        assert!(!git_state(&d.path().join("k")).unwrap().dirty);
        assert!(git_state(d.path()).unwrap().dirty);
        std::fs::write(d.path().join("k/a.cu"), "2").unwrap();
        let s = git_state(&d.path().join("k")).unwrap();
        assert!(s.dirty);
        assert!(s.unique_id().ends_with("_dirty"));
    }

    #[test]
    fn ids() {
        assert_eq!(ops_name("relu", "cuda", "abc1234"), "_relu_cuda_abc1234");
        assert_eq!(random_id().len(), 8);
        check_unique_id("abc_dirty").unwrap();
        assert!(check_unique_id("a-b").is_err());
        assert!(check_unique_id("a;b").is_err());
    }
}
