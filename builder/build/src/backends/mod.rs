//! Build backends: the local (host toolchain) backend and the Nix backend,
//! and what both do to assemble a variant directory.

pub mod children;
pub mod depends;
pub mod glibc_compat;
pub mod jobpool;
pub mod local;
pub mod nix;
pub mod pch;
pub mod toolchain;
pub mod worklock;

use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;

use kb_core::config::Backend;
use kb_core::metadata::{
    BackendInfo, BuildInfo, BuilderProvenance, Metadata, Provenance, SourceProvenance,
};
use kb_core::plan::{Plan, Variant};
use kb_core::progress::Progress;
use kb_core::report::{Report, Status};
use kb_core::{KernelProject, Result};
use serde::Serialize;

/// What `build` builds and how.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Named variants; empty: every variant of this host.
    pub variants: Vec<String>,
    /// Parallel build jobs.
    pub max_jobs: Option<usize>,
    /// CPU cores per build job.
    pub cores: Option<usize>,
    /// Stream the full build logs (through [`Progress::log`]).
    pub print_build_logs: bool,
    /// Use the host toolchain even when Nix is usable.
    pub local: bool,
    /// Local builds: leave glibc symbol versions as the host links them
    /// (no `glibc_compat` layer; for debugging).
    pub no_glibc_compat: bool,
    /// Local builds: skip the loader check for a fast edit loop. The build is
    /// then recorded as not Hub-compliant ("loader check not run: deferred").
    pub defer_loader_check: bool,
}

/// What a build did, by backend.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "backend", rename_all = "kebab-case")]
pub enum BuildReport {
    Local(local::LocalReport),
    Nix(nix::NixBuildReport),
}

impl Report for BuildReport {
    fn text(&self) -> String {
        match self {
            BuildReport::Local(r) => local::summary(&r.variants),
            BuildReport::Nix(r) => r.text(),
        }
    }

    fn status(&self) -> Status {
        match self {
            BuildReport::Local(r) if r.failed() > 0 || r.requested_skips => Status::Findings,
            _ => Status::Ok,
        }
    }

    fn notes(&self) -> Vec<String> {
        match self {
            BuildReport::Local(r) if r.failed() > 0 || r.requested_skips => vec![format!(
                "error: {} variant(s) failed{}",
                r.failed(),
                if r.requested_skips {
                    ", requested variants were skipped"
                } else {
                    ""
                }
            )],
            _ => Vec::new(),
        }
    }
}

/// Build with Nix when it is usable and the kernel has a flake; otherwise
/// (or with `--local`) build with the host toolchain, saying why.
pub fn build(
    project: &KernelProject,
    options: &BuildOptions,
    progress: &dyn Progress,
) -> Result<BuildReport> {
    if options.local {
        return Ok(BuildReport::Local(local::build(
            project, options, progress,
        )?));
    }
    let has_flake = project.root.join("flake.nix").is_file();
    match nix::nix_available() {
        Ok(_) if has_flake => Ok(BuildReport::Nix(nix::build(project, options, progress)?)),
        Ok(_) => {
            progress.warn("note: this kernel has no flake.nix (`kernel-builder init` writes one); building with the host toolchain");
            Ok(BuildReport::Local(local::build(
                project, options, progress,
            )?))
        }
        Err(problem) => {
            let why = problem.to_string();
            let first = why.lines().next().unwrap_or_default();
            let mut note = format!("note: not using Nix: {first}");
            for line in why.lines().skip(1) {
                note.push_str(&format!("\n  {}", line.trim()));
            }
            progress.warn(&note);
            progress.warn("note: building with the host toolchain (Hub compliance is checked per variant); pass --local to skip this check");
            Ok(BuildReport::Local(local::build(
                project, options, progress,
            )?))
        }
    }
}

/// A test fixture kernel (`builder/cli/tests/fixtures/<name>`).
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../cli/tests/fixtures")
        .join(name)
}

/// Copy the package's Python (and other `pyext`) files into a variant,
/// skipping bytecode, hidden files, extension modules and `_ops.py` (which
/// the build generates). Copies are writable even from a read-only store.
pub fn copy_package(src: &Path, dest: &Path, pyext: &[String]) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(src)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        let n = name.to_string_lossy();
        if n == "__pycache__" || n == "_ops.py" || n.ends_with(".so") || n.starts_with('.') {
            continue;
        }
        let p = e.path();
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_package(&p, &dest.join(&name), pyext)?;
        } else if ft.is_file()
            && p.extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| pyext.iter().any(|e| e == x))
        {
            std::fs::create_dir_all(dest)?;
            let to = dest.join(&name);
            std::fs::copy(&p, &to)?;
            // Writable for the owner even from a read-only store, otherwise
            // what the umask allows (never world-writable by default).
            use std::os::unix::fs::PermissionsExt;
            let exec = std::fs::metadata(&p)?.permissions().mode() & 0o111 != 0;
            let mode = kb_core::fsutil::new_file_mode(exec) | 0o200;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

/// Move the directory `new` to `dest` in one step. On Linux an existing
/// `dest` is exchanged with `renameat2(RENAME_EXCHANGE)`, so readers see the
/// old or the new variant, never a mix or nothing; `new` then holds the old
/// variant and the caller removes it. Elsewhere the old one is renamed aside.
pub fn exchange_dirs(new: &Path, dest: &Path) -> std::io::Result<()> {
    // Renames cannot cross filesystems (EXDEV): then the new directory is
    // first copied next to `dest`, and that copy is swapped in.
    if let Some(parent) = dest.parent() {
        use std::os::unix::fs::MetadataExt;
        if std::fs::metadata(new)?.dev() != std::fs::metadata(parent)?.dev() {
            let incoming = parent.join(format!(
                ".{}.incoming",
                dest.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            ));
            if incoming.exists() {
                std::fs::remove_dir_all(&incoming)?;
            }
            copy_tree(new, &incoming)?;
            exchange_dirs(&incoming, dest)?;
            if incoming.exists() {
                std::fs::remove_dir_all(&incoming)?;
            }
            return std::fs::remove_dir_all(new);
        }
    }
    if !dest.exists() {
        return std::fs::rename(new, dest);
    }
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let a = CString::new(new.as_os_str().as_bytes())?;
        let b = CString::new(dest.as_os_str().as_bytes())?;
        // SAFETY: two valid NUL-terminated paths relative to AT_FDCWD.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                a.as_ptr(),
                libc::AT_FDCWD,
                b.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
    }
    let aside = new.with_file_name(format!(
        ".{}.old",
        new.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let _ = std::fs::remove_dir_all(&aside);
    std::fs::rename(dest, &aside)?;
    std::fs::rename(new, dest)?;
    std::fs::rename(&aside, new)
}

/// Copy a staged tree (directories and regular files only).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let t = e.file_type()?;
        let dest = to.join(e.file_name());
        if t.is_dir() {
            copy_tree(&e.path(), &dest)?;
        } else if t.is_file() {
            std::fs::copy(e.path(), &dest)?;
        } else {
            return Err(std::io::Error::other(format!(
                "{} is not a regular file or directory",
                e.path().display()
            )));
        }
    }
    Ok(())
}

/// Kernel source provenance: full commit id and dirty flag.
pub struct KernelProvenance<'a> {
    pub commit: &'a str,
    pub dirty: bool,
}

/// `metadata.json` of a variant (without `digest`): what the loader reads,
/// plus provenance and `build-info` (how it was built, and whether it is
/// Hub-compliant).
pub fn variant_metadata(
    plan: &Plan,
    v: &Variant,
    ops_name: &str,
    kernel: Option<KernelProvenance>,
    build_info: BuildInfo,
) -> Metadata {
    let k = &plan.kernel;
    let builder = match option_env!("KB_BUILDER_COMMIT").filter(|c| c.len() == 40) {
        Some(c) => BuilderProvenance {
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            commit: Some(c.to_string()),
            dirty: Some(option_env!("KB_BUILDER_DIRTY") == Some("1")),
        },
        None => BuilderProvenance {
            version: Some(env!("CARGO_PKG_VERSION").to_string()),
            ..BuilderProvenance::default()
        },
    };
    Metadata {
        name: Some(k.name.clone()),
        id: Some(ops_name.to_string()),
        version: Some(k.version),
        license: Some(k.license.clone()),
        upstream: k.upstream.clone(),
        source: k.source.clone(),
        python_depends: Some(v.python_depends.clone()),
        kernel_depends: Some(
            v.kernel_depends
                .iter()
                .map(|d| serde_json::to_value(d).expect("serializes"))
                .collect(),
        ),
        backend: Some(BackendInfo {
            kind: v.backend.as_str().to_string(),
            archs: matches!(v.backend, Backend::Cuda | Backend::Rocm).then(|| v.archs.clone()),
        }),
        provenance: Some(Provenance {
            kernel_builder: Some(builder),
            kernel: kernel.map(|kp| SourceProvenance {
                commit: Some(kp.commit.to_string()),
                dirty: Some(kp.dirty),
            }),
        }),
        build_info: Some(build_info),
        ..Metadata::default()
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    use super::exchange_dirs;

    /// Built Python files: owner-writable, otherwise the umask (they were
    /// 0666 from a read-only source).
    #[test]
    fn copied_package_files_follow_the_umask() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(src.join("a.py"), "x").unwrap();
        std::fs::set_permissions(src.join("a.py"), std::fs::Permissions::from_mode(0o444)).unwrap();
        super::copy_package(&src, &d.path().join("out"), &["py".into()]).unwrap();
        let mode = std::fs::metadata(d.path().join("out/a.py"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, (0o666 & !kb_core::fsutil::umask()) | 0o200);
    }

    /// `build/` on another filesystem than the staging directory (here
    /// tmpfs /dev/shm vs the disk holding target/): the install copies, then
    /// swaps (a rename used to fail with EXDEV).
    #[test]
    fn exchange_across_filesystems() {
        let stage_fs = tempfile::tempdir_in("/dev/shm").expect("/dev/shm (tmpfs) is needed");
        let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target");
        std::fs::create_dir_all(&target).unwrap();
        let build_fs = tempfile::tempdir_in(&target).unwrap();
        assert_ne!(
            std::fs::metadata(stage_fs.path()).unwrap().dev(),
            std::fs::metadata(build_fs.path()).unwrap().dev(),
            "the test needs two filesystems"
        );
        let dest = build_fs.path().join("build/v");
        for (round, content) in ["first", "second"].into_iter().enumerate() {
            let new = stage_fs.path().join(format!("stage{round}/v"));
            std::fs::create_dir_all(new.join("sub")).unwrap();
            std::fs::write(new.join("sub/a.py"), content).unwrap();
            std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
            exchange_dirs(&new, &dest).unwrap();
            assert_eq!(
                std::fs::read_to_string(dest.join("sub/a.py")).unwrap(),
                content
            );
            assert!(!new.exists());
        }
        let left: Vec<_> = std::fs::read_dir(dest.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("v")]);
    }
}
