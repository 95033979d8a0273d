//! Finding a Python: the cache the local backend provisions environments
//! in, and the interpreters to try for the loader checks and tests.

use std::path::{Path, PathBuf};

use crate::config::Version;

/// `$KERNEL_BUILDER_CACHE`, else `$XDG_CACHE_HOME/kernel-builder`, else
/// `~/.cache/kernel-builder`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KERNEL_BUILDER_CACHE") {
        // Absolute: the Pythons it is handed to run elsewhere.
        let d = PathBuf::from(d);
        return std::path::absolute(&d).unwrap_or(d);
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

/// Variables that make a Python load code from places the tool did not
/// choose (a `PYTHONPATH` holding `.`, a startup file, another home).
const UNSAFE_PYTHON_VARS: &[&str] = &[
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PYTHONINSPECT",
];

/// Isolate the Pythons a command may start, directly or through its
/// children (CMake, ninja, pip and the scripts they run): the variables
/// above removed, `PYTHONSAFEPATH=1` (Python 3.11+: neither the current
/// directory nor a script's directory is put on `sys.path`) and
/// `PYTHONNOUSERSITE=1`.
pub fn isolate_children(cmd: &mut std::process::Command) -> &mut std::process::Command {
    for v in UNSAFE_PYTHON_VARS {
        cmd.env_remove(v);
    }
    cmd.env("PYTHONSAFEPATH", "1").env("PYTHONNOUSERSITE", "1")
}

/// The one way kernel-builder starts a Python interpreter: in isolated mode
/// (`-I`: neither the current nor the script's directory nor the user site
/// on `sys.path`, `PYTHON*` variables ignored), writing no bytecode (`-B`),
/// its children isolated too ([`isolate_children`]), and `/` as the working
/// directory unless the caller picks another. A `json.py` or `concurrent.py`
/// in the user's current directory is never imported.
pub fn python_command(python: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(python);
    c.args(["-I", "-B"]);
    isolate_children(&mut c);
    c.current_dir("/");
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module planted in the current directory or on `PYTHONPATH` shadows
    /// nothing in a Python started by [`python_command`].
    #[test]
    fn python_never_imports_from_the_current_directory() {
        let Ok(python) = which_python() else {
            panic!("python3 is needed for this test (the fast suite's machines have it)");
        };
        let d = tempfile::tempdir().unwrap();
        let marker = d.path().join("imported");
        for m in ["json", "concurrent"] {
            std::fs::write(
                d.path().join(format!("{m}.py")),
                format!(
                    "open({:?}, 'a').write('{m}\\n')\n",
                    marker.to_str().unwrap()
                ),
            )
            .unwrap();
        }
        let script = "import json, concurrent.futures, sys; print(json.__file__)";
        // Unprotected, the planted module wins: the test can fail.
        let plain = std::process::Command::new(&python)
            .args(["-c", script])
            .current_dir(d.path())
            .env_remove("PYTHONSAFEPATH")
            .output()
            .unwrap();
        assert!(marker.exists(), "{plain:?}");
        std::fs::remove_file(&marker).unwrap();

        let out = python_command(&python)
            .args(["-c", script])
            .current_dir(d.path())
            .env("PYTHONPATH", d.path())
            .output()
            .unwrap();
        // `current_dir` and `PYTHONPATH` set after python_command still do not help:
        // `-I` leaves both off sys.path.
        assert!(out.status.success(), "{out:?}");
        assert!(!marker.exists(), "a planted module was imported");
        let out = python_command(&python)
            .args(["-c", "import os; print(os.getcwd())"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "/");
    }

    fn which_python() -> Result<PathBuf, ()> {
        std::env::var_os("PATH")
            .and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join("python3"))
                    .find(|p| p.is_file())
            })
            .ok_or(())
    }
}
