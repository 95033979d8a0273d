//! The Python the heavier tests run with: `KB_PYTHON`, `KB_VENV/bin/python`,
//! then the torch environments kernel-builder provisioned (what CI uses).

use std::path::PathBuf;
use std::process::Command;

pub fn candidates() -> Vec<PathBuf> {
    kb_core::pyenv::env_pythons()
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
