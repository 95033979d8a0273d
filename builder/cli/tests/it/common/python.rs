//! The Python the heavier tests run with: `KB_PYTHON`, `KB_VENV/bin/python`,
//! then the torch environments kernel-builder provisioned (what CI uses).
//! Included with `#[path = "common/python.rs"] mod test_python;`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub fn candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os("KB_PYTHON") {
        c.push(PathBuf::from(p));
    }
    if let Some(v) = std::env::var_os("KB_VENV") {
        c.push(PathBuf::from(v).join("bin/python"));
    }
    c.extend(kernel_builder::backends::toolchain::provisioned_pythons());
    c
}

/// The first candidate in which `import <imports>` succeeds.
pub fn with_imports(imports: &str) -> Option<PathBuf> {
    candidates().into_iter().find(|p| {
        p.is_file()
            && Command::new(p)
                .args(["-c", &format!("import {imports}")])
                .output()
                .is_ok_and(|o| o.status.success())
    })
}

/// Virtual environments of the candidates (for files inside site-packages).
pub fn venvs() -> Vec<PathBuf> {
    candidates()
        .into_iter()
        .filter_map(|p| p.parent()?.parent().map(PathBuf::from))
        .collect()
}
