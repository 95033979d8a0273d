//! All-or-nothing writing of a set of files into a directory.
//!
//! Everything is checked before anything is written: a file that exists with
//! different content is a conflict unless overwriting is allowed, and a
//! directory (or a file where a directory is needed) is always an error. Then
//! every file is staged as a temporary file next to its destination and the
//! temporaries are renamed into place; if anything fails, the files written
//! so far are restored (or removed) and the directories created are removed.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use kb_core::{bail, Context, Result};

/// What is at a destination before writing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    New,
    Same,
    /// A file with other content (kept for rollback).
    Differs(Vec<u8>),
}

#[derive(Debug, Clone)]
pub struct Entry {
    /// Path relative to the target directory, with `/` separators.
    pub rel: String,
    pub bytes: Vec<u8>,
    pub state: State,
}

/// The outcome of a write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub created: Vec<String>,
    pub overwritten: Vec<String>,
    pub unchanged: Vec<String>,
}

fn rel_path(dir: &Path, rel: &str) -> PathBuf {
    rel.split('/')
        .fold(dir.to_path_buf(), |p, part| p.join(part))
}

/// Inspect every destination. Fails when something other than a regular
/// file (or a symlink to one) is in the way.
pub fn inspect(dir: &Path, files: &BTreeMap<String, Vec<u8>>) -> Result<Vec<Entry>> {
    if dir.exists() && !dir.is_dir() {
        bail!(
            "{} exists and is not a directory; pass a directory to initialize",
            dir.display()
        );
    }
    let mut blocked = Vec::new();
    let mut entries = Vec::new();
    for (rel, bytes) in files {
        let path = rel_path(dir, rel);
        // Every parent inside `dir` must be a directory (or not exist yet).
        let mut parent = PathBuf::new();
        let parts: Vec<&str> = rel.split('/').collect();
        let mut parent_blocked = false;
        for part in &parts[..parts.len() - 1] {
            parent.push(part);
            let p = dir.join(&parent);
            if p.exists() && !p.is_dir() {
                blocked.push(format!(
                    "{} (a file where a directory is needed)",
                    parent.display()
                ));
                parent_blocked = true;
                break;
            }
        }
        if parent_blocked {
            continue;
        }
        let state = match fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::New,
            Err(e) => bail!("{}: cannot inspect: {e}", path.display()),
            Ok(_) if path.is_dir() => {
                blocked.push(format!("{rel} (a directory)"));
                continue;
            }
            Ok(_) => {
                let old =
                    fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))?;
                if old == *bytes {
                    State::Same
                } else {
                    State::Differs(old)
                }
            }
        };
        entries.push(Entry {
            rel: rel.clone(),
            bytes: bytes.clone(),
            state,
        });
    }
    if !blocked.is_empty() {
        blocked.sort();
        blocked.dedup();
        bail!(
            "cannot write the scaffold in {}; these paths are in the way:\n  {}\n  help: move them away (--overwrite only replaces files)",
            dir.display(),
            blocked.join("\n  ")
        );
    }
    Ok(entries)
}

/// Paths that would be replaced.
pub fn conflicts(entries: &[Entry]) -> Vec<&str> {
    entries
        .iter()
        .filter(|e| matches!(e.state, State::Differs(_)))
        .map(|e| e.rel.as_str())
        .collect()
}

#[cfg(unix)]
fn new_file_permissions() -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    fs::Permissions::from_mode(kb_core::fsutil::new_file_mode(false))
}

/// Create `dir` and the parents of every entry, recording what was created.
fn create_dirs(dir: &Path, entries: &[Entry], created: &mut Vec<PathBuf>) -> Result<()> {
    let mut needed: Vec<PathBuf> = vec![dir.to_path_buf()];
    for e in entries {
        let mut p = dir.to_path_buf();
        let parts: Vec<&str> = e.rel.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            p.push(part);
            needed.push(p.clone());
        }
    }
    // Parents of `dir` itself too (e.g. `init a/b/c`).
    let mut ancestors: Vec<PathBuf> = dir
        .ancestors()
        .skip(1)
        .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
        .map(Path::to_path_buf)
        .collect();
    ancestors.reverse();
    for p in ancestors.into_iter().chain(needed) {
        if !p.exists() {
            fs::create_dir(&p)
                .with_context(|| format!("{}: cannot create directory", p.display()))?;
            created.push(p);
        }
    }
    Ok(())
}

fn remove_created_dirs(created: &[PathBuf]) {
    for d in created.iter().rev() {
        let _ = fs::remove_dir(d);
    }
}

/// Write the entries. With `overwrite` false, any conflict aborts before
/// anything is written.
pub fn write(dir: &Path, entries: &[Entry], overwrite: bool) -> Result<Summary> {
    // Never through a symbolic link below the target: it could lead out of it.
    for e in entries {
        let mut p = dir.to_path_buf();
        for part in e.rel.split('/') {
            p.push(part);
            if fs::symlink_metadata(&p).is_ok_and(|m| m.file_type().is_symlink()) {
                bail!(
                    "{} is a symbolic link; init writes only inside {} and does not follow links\nnothing was written\n  help: remove the link or choose another directory",
                    p.display(),
                    dir.display()
                );
            }
        }
    }
    let clobbered = conflicts(entries);
    if !clobbered.is_empty() && !overwrite {
        bail!(
            "{} already has {} scaffold file(s) with other content:\n  {}\nnothing was written\n  help: pass --overwrite to replace these files (files that are not part of the scaffold are kept)",
            dir.display(),
            clobbered.len(),
            clobbered.join("\n  ")
        );
    }
    let mut summary = Summary::default();
    let todo: Vec<&Entry> = entries
        .iter()
        .filter(|e| {
            if e.state == State::Same {
                summary.unchanged.push(e.rel.clone());
                false
            } else {
                true
            }
        })
        .collect();

    let mut created_dirs = Vec::new();
    if let Err(e) = create_dirs(dir, entries, &mut created_dirs) {
        remove_created_dirs(&created_dirs);
        return Err(e);
    }

    // Stage every file as a temporary next to its destination.
    let mut staged = Vec::new();
    for e in &todo {
        let path = rel_path(dir, &e.rel);
        let result = (|| -> std::io::Result<tempfile::NamedTempFile> {
            let parent = path.parent().unwrap_or(dir);
            let mut b = tempfile::Builder::new();
            b.prefix(".kb-init.");
            #[cfg(unix)]
            b.permissions(new_file_permissions());
            let mut tmp = b.tempfile_in(parent)?;
            tmp.write_all(&e.bytes)?;
            tmp.as_file().sync_all()?;
            if let Ok(meta) = fs::metadata(&path) {
                fs::set_permissions(tmp.path(), meta.permissions())?;
            }
            Ok(tmp)
        })();
        match result {
            Ok(tmp) => staged.push((tmp, path, *e)),
            Err(err) => {
                drop(staged);
                remove_created_dirs(&created_dirs);
                bail!("{}: cannot write: {err}", path.display());
            }
        }
    }

    // Move them into place; undo everything on failure.
    let mut done: Vec<(PathBuf, &Entry)> = Vec::new();
    let mut staged: std::collections::VecDeque<_> = staged.into();
    while let Some((tmp, path, e)) = staged.pop_front() {
        if let Err(err) = tmp.persist(&path) {
            staged.clear();
            for (p, prev) in done.iter().rev() {
                match &prev.state {
                    State::Differs(old) => {
                        let _ = kb_core::fsutil::write_atomic(p, old);
                    }
                    _ => {
                        let _ = fs::remove_file(p);
                    }
                }
            }
            drop(err.file);
            remove_created_dirs(&created_dirs);
            bail!(
                "{}: cannot write: {}; nothing was changed",
                path.display(),
                err.error
            );
        }
        match e.state {
            State::Differs(_) => summary.overwritten.push(e.rel.clone()),
            _ => summary.created.push(e.rel.clone()),
        }
        done.push((path, e));
    }
    Ok(summary)
}
