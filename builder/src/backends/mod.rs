//! Build backends: the local (host toolchain) backend and the Nix backend,
//! and what both do to assemble a variant directory.

pub mod glibc_compat;
pub mod local;
pub mod nix;
pub mod toolchain;

use std::path::Path;

use serde_json::{json, Value};

use crate::config::Backend;
use crate::plan::{Plan, Variant};

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
            let mut perm = std::fs::metadata(&to)?.permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&to, perm)?;
        }
    }
    Ok(())
}

/// Move the directory `new` to `dest` in one step. On Linux an existing
/// `dest` is exchanged with `renameat2(RENAME_EXCHANGE)`, so readers see the
/// old or the new variant, never a mix or nothing; `new` then holds the old
/// variant and the caller removes it. Elsewhere the old one is renamed aside.
pub fn exchange_dirs(new: &Path, dest: &Path) -> std::io::Result<()> {
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
    build_info: Value,
) -> Value {
    let k = &plan.kernel;
    let mut m = serde_json::Map::new();
    m.insert("name".into(), json!(k.name));
    m.insert("id".into(), json!(ops_name));
    m.insert("version".into(), json!(k.version));
    m.insert("license".into(), json!(k.license));
    if let Some(u) = &k.upstream {
        m.insert("upstream".into(), json!(u));
    }
    if let Some(s) = &k.source {
        m.insert("source".into(), json!(s));
    }
    m.insert("python-depends".into(), json!(v.python_depends));
    m.insert("kernel-depends".into(), json!(v.kernel_depends));
    let mut backend = json!({ "type": v.backend.as_str() });
    if matches!(v.backend, Backend::Cuda | Backend::Rocm) {
        backend["archs"] = json!(v.archs);
    }
    m.insert("backend".into(), backend);
    let mut builder = json!({ "version": env!("CARGO_PKG_VERSION") });
    if let Some(c) = option_env!("KB_BUILDER_COMMIT").filter(|c| c.len() == 40) {
        builder["commit"] = json!(c);
        builder["dirty"] = json!(option_env!("KB_BUILDER_DIRTY") == Some("1"));
    }
    let mut prov = json!({ "kernel-builder": builder });
    if let Some(kp) = kernel {
        prov["kernel"] = json!({ "commit": kp.commit, "dirty": kp.dirty });
    }
    m.insert("provenance".into(), prov);
    m.insert("build-info".into(), build_info);
    Value::Object(m)
}
