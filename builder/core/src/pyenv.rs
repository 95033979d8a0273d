//! Finding a Python: the cache the local backend provisions environments
//! in, and the interpreters to try for the loader checks and tests.

use std::path::{Path, PathBuf};

use crate::config::Version;

/// `$KERNEL_BUILDER_CACHE`, else `$XDG_CACHE_HOME/kernel-builder`, else
/// `~/.cache/kernel-builder`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KERNEL_BUILDER_CACHE") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("kernel-builder");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    home.join(".cache/kernel-builder")
}

/// Interpreters of the torch environments the local backend has
/// provisioned in the cache, newest torch first.
pub fn provisioned_pythons() -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(cache_dir().join("envs")) else {
        return Vec::new();
    };
    let mut envs: Vec<(Version, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e
                .file_name()
                .to_str()?
                .strip_prefix("torch-")?
                .parse()
                .ok()?;
            Some((version, e.path().join("bin/python")))
        })
        .filter(|(_, python)| python.is_file())
        .collect();
    envs.sort();
    envs.into_iter().rev().map(|(_, python)| python).collect()
}

/// The interpreters to try, in order: `explicit` alone when given; else
/// `python3`, `$VIRTUAL_ENV/bin/python`, `$KB_PYTHON`, `$KB_VENV/bin/python`,
/// then the provisioned environments.
pub fn candidates(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = vec!["python3".into()];
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        out.push(PathBuf::from(v).join("bin/python"));
    }
    out.extend(env_pythons());
    out
}

/// `$KB_PYTHON`, `$KB_VENV/bin/python` (CI's shared torch environment),
/// then the provisioned environments.
pub fn env_pythons() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("KB_PYTHON") {
        out.push(PathBuf::from(p));
    }
    if let Some(v) = std::env::var_os("KB_VENV") {
        out.push(PathBuf::from(v).join("bin/python"));
    }
    out.extend(provisioned_pythons());
    out
}
