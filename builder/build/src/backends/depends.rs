//! Provisioning of `depends` entries (`kb_core::config::depends`, data/depends.toml)
//! for local builds: a tree the user points at (`KERNEL_BUILDER_DEP_<NAME>`),
//! or one download per dependency into the toolchain cache, verified against
//! the pinned hash the Nix layer's fixed-output derivation uses too.

use std::io::Read;
use std::path::{Path, PathBuf};

use kb_core::config::depends::{Dependency, FetchKind};
use kb_core::config::Version;
use kb_core::{bail, err, Context, Error, Result};
use sha2::{Digest, Sha256};

use super::toolchain::{cache_dir, run_logged, ENV_MARKER as MARKER};

/// The root of dependency `name` for a variant with `toolkit`: the
/// directory its environment variable names, or the cached, verified
/// download. Downloads and unpacking use `python`'s standard library (the
/// system CA store; no links or paths out of the tree).
pub fn provide(
    name: &str,
    dep: &Dependency,
    toolkit: Option<&Version>,
    python: &Path,
    log: &Path,
) -> Result<PathBuf> {
    if let Some(var) = &dep.env {
        if let Some(d) = std::env::var_os(var) {
            let d = PathBuf::from(d);
            if !d.is_dir() {
                bail!(
                    "{var}={} is not a directory; point it at a source tree of `{name}` or unset it to let kernel-builder download it",
                    d.display()
                );
            }
            return Ok(d);
        }
    }
    let how = dep.how_to_provide(name);
    let fetch = dep.fetch_for(toolkit).ok_or_else(|| {
        err!(
            "`{name}` has no source for toolkit {} in data/depends.toml; {how}",
            toolkit.map(|t| t.to_string()).unwrap_or_default()
        )
    })?;
    let hash = fetch
        .pinned_hash()
        .map_err(|why| err!("`{name}` cannot be downloaded and verified: {why}; {how}"))?;
    let tag: String = hash
        .trim_start_matches("sha256-")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    let version = dep.version.as_deref().unwrap_or("0");
    let base = cache_dir().join("deps");
    let dir = base.join(format!("{name}-{version}-{tag}"));
    let root_of = |d: &Path| match &fetch.root {
        Some(r) => d.join(r),
        None => d.to_path_buf(),
    };
    if std::fs::read_to_string(dir.join(MARKER)).is_ok_and(|m| m.trim() == hash) {
        return Ok(root_of(&dir));
    }
    std::fs::create_dir_all(&base).map_err(|e| Error::io(&base, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}-"))
        .tempdir_in(&base)
        .map_err(|e| Error::io(&base, e))?;
    let script = tmp.path().join("fetch_dependency.py");
    std::fs::write(&script, crate::scripts::FETCH_DEPENDENCY).map_err(|e| Error::io(&script, e))?;
    let fetcher = |args: &[&std::ffi::OsStr], what: &str| -> Result<()> {
        run_logged(
            kb_core::pyenv::python_command(python)
                .arg(&script)
                .args(args),
            log,
            what,
        )
    };
    let file = tmp.path().join("download");
    fetcher(
        &["download".as_ref(), fetch.url.as_ref(), file.as_os_str()],
        &format!("downloading {name} from {}", fetch.url),
    )?;
    let tree = tmp.path().join("tree");
    match fetch.kind {
        FetchKind::Wheel => {
            let got = file_sha256(&file)?;
            if got != hash {
                bail!(
                    "{} has sha256 {got}, data/depends.toml pins {hash} for `{name}`; not used",
                    fetch.url
                );
            }
            fetcher(
                &["unpack".as_ref(), file.as_os_str(), tree.as_os_str()],
                &format!("unpacking {name}"),
            )?;
        }
        FetchKind::Archive => {
            let raw = tmp.path().join("raw");
            fetcher(
                &["unpack".as_ref(), file.as_os_str(), raw.as_os_str()],
                &format!("unpacking {name}"),
            )?;
            // Like Nix's fetchzip: strip the single top-level directory.
            let entries: Vec<PathBuf> = std::fs::read_dir(&raw)
                .map_err(|e| Error::io(&raw, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            let top = match entries.as_slice() {
                [one] if one.is_dir() && !one.is_symlink() => one.clone(),
                _ => raw.clone(),
            };
            let got = nar_hash(&top)?;
            if got != hash {
                bail!(
                    "{} unpacks to a tree with hash {got}, data/depends.toml pins {hash} for `{name}`; not used",
                    fetch.url
                );
            }
            std::fs::rename(&top, &tree).map_err(|e| Error::io(&tree, e))?;
        }
    }
    if !root_of(&tree).is_dir() {
        bail!(
            "{} has no `{}` directory; data/depends.toml's `root` for `{name}` is wrong",
            fetch.url,
            fetch.root.as_deref().unwrap_or(".")
        );
    }
    // The marker holds the hash the tree was verified against.
    std::fs::write(tree.join(MARKER), hash).map_err(|e| Error::io(&tree, e))?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&tree, &dir).with_context(|| format!("installing {}", dir.display()))?;
    Ok(root_of(&dir))
}

/// sha256 of the NAR serialisation of `path` (the hash Nix computes for a
/// fixed-output `fetchzip`/`fetchFromGitHub`), as SRI (`sha256-<base64>`).
/// Symlinks are serialised as links, never followed. Hand-written: the
/// format is a few lines (Eelco Dolstra's thesis, fig. 5.2), and no small
/// maintained crate only hashes a tree.
pub fn nar_hash(path: &Path) -> Result<String> {
    use base64::Engine;
    let mut h = Sha256::new();
    nar_str(&mut h, b"nix-archive-1");
    nar_node(&mut h, path)?;
    Ok(format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(h.finalize())
    ))
}

fn nar_str(h: &mut Sha256, s: &[u8]) {
    h.update((s.len() as u64).to_le_bytes());
    h.update(s);
    let pad = (8 - s.len() % 8) % 8;
    h.update(&[0u8; 8][..pad]);
}

fn nar_node(h: &mut Sha256, path: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    nar_str(h, b"(");
    nar_str(h, b"type");
    let ft = meta.file_type();
    if ft.is_symlink() {
        nar_str(h, b"symlink");
        nar_str(h, b"target");
        let target = std::fs::read_link(path).map_err(|e| Error::io(path, e))?;
        nar_str(h, target.as_os_str().as_bytes());
    } else if ft.is_dir() {
        nar_str(h, b"directory");
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(path)
            .and_then(|rd| rd.map(|e| e.map(|e| e.file_name())).collect())
            .map_err(|e| Error::io(path, e))?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for n in names {
            nar_str(h, b"entry");
            nar_str(h, b"(");
            nar_str(h, b"name");
            nar_str(h, n.as_bytes());
            nar_str(h, b"node");
            nar_node(h, &path.join(&n))?;
            nar_str(h, b")");
        }
    } else if ft.is_file() {
        nar_str(h, b"regular");
        if meta.permissions().mode() & 0o111 != 0 {
            nar_str(h, b"executable");
            nar_str(h, b"");
        }
        nar_str(h, b"contents");
        let len = meta.len();
        h.update(len.to_le_bytes());
        let read = hash_file(h, path)?;
        if read != len {
            bail!("{} changed while it was hashed", path.display());
        }
        let pad = ((8 - len % 8) % 8) as usize;
        h.update(&[0u8; 8][..pad]);
    } else {
        bail!(
            "{}: not a file, directory or symlink (cannot be hashed)",
            path.display()
        );
    }
    nar_str(h, b")");
    Ok(())
}

/// Feed a regular file to `h`; returns the number of bytes read.
fn hash_file(h: &mut Sha256, path: &Path) -> Result<u64> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut buf = vec![0u8; 1 << 16];
    let mut read = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            return Ok(read);
        }
        h.update(&buf[..n]);
        read += n as u64;
    }
}

/// sha256 (hex) of a file.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut h = Sha256::new();
    hash_file(&mut h, path)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), "hello\n").unwrap();
        std::fs::write(root.join("sub/run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            root.join("sub/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("../a.txt", root.join("sub/link")).unwrap();
        std::fs::write(root.join("empty"), "").unwrap();
    }

    #[test]
    fn nar_hash_known_answer() {
        // Expected value from `nix-store --dump d | sha256sum` (Nix 2.8) on the same tree.
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("d");
        tree(&root);
        let want = "sha256-/9lR57+rX1DmyMNPyW+LBkJCfgbnoygP71LZvzlK+KY=";
        assert_eq!(nar_hash(&root).unwrap(), want);
        std::fs::write(root.join("empty"), "x").unwrap();
        assert_ne!(nar_hash(&root).unwrap(), want);
    }

    #[test]
    fn file_sha256_known_answer() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, "abc").unwrap();
        assert_eq!(
            file_sha256(&f).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn special_files_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("p");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = nar_hash(d.path()).unwrap_err().to_string();
        assert!(e.contains("not a file, directory or symlink"), "{e}");
    }

    #[test]
    fn unpinned_dependencies_say_how_to_provide_them() {
        let mut dep = kb_core::config::depends::get().dependency["cutlass_4_5"].clone();
        assert!(dep.fetch[0].pinned_hash().is_err());
        // A variable no caller sets, so the cached/override paths are not taken.
        dep.env = Some("KB_TEST_DEP_NEVER_SET".into());
        let d = tempfile::tempdir().unwrap();
        let log = d.path().join("log");
        let e = provide("cutlass_4_5", &dep, None, Path::new("/nonexistent"), &log)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot be downloaded and verified"), "{e}");
        assert!(e.contains("KB_TEST_DEP_NEVER_SET=/path"), "{e}");
        assert!(!log.exists(), "nothing was run");
    }
}
