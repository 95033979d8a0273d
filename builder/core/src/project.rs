//! A kernel project: where it is, its `build.toml` and the plan computed
//! from it. Every command that works on a project starts here, so the
//! project root is derived in one place.

use std::path::{Path, PathBuf};

use crate::config::{self, BuildConfig, ConfigErrors, Diagnostic};
use crate::matrix::Matrix;
use crate::plan::{self, Plan, Systems};

#[derive(Debug, Clone)]
pub struct KernelProject {
    /// The directory holding `build.toml`.
    pub root: PathBuf,
    pub build_toml: PathBuf,
    /// The bytes of `build.toml` (the plan records their hash).
    pub source: String,
    pub config: BuildConfig,
    /// Warnings from reading `build.toml` (deprecated keys, ...).
    pub warnings: Vec<Diagnostic>,
    /// The plan for all systems.
    pub plan: Plan,
}

/// The directory holding a `build.toml` (`.` for a bare file name).
pub fn root_of(build_toml: &Path) -> PathBuf {
    build_toml
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

impl KernelProject {
    /// Load the project in `dir` (a directory or its `build.toml`; default
    /// `.`): read and validate `build.toml`, and plan every system.
    pub fn load(dir: Option<&Path>) -> Result<KernelProject, ConfigErrors> {
        Self::load_with(dir, true)
    }

    /// [`KernelProject::load`]; with `check_sources` false the source files
    /// `build.toml` names need not exist (the plan only needs `build.toml`).
    pub fn load_with(
        dir: Option<&Path>,
        check_sources: bool,
    ) -> Result<KernelProject, ConfigErrors> {
        let loaded = config::load_with(dir, check_sources)?;
        let plan = plan::plan(
            &loaded.config,
            Matrix::get(),
            &Systems::All,
            &loaded.path,
            loaded.source.as_bytes(),
        )?;
        Ok(KernelProject {
            root: root_of(&loaded.path),
            build_toml: loaded.path,
            source: loaded.source,
            config: loaded.config,
            warnings: loaded.warnings,
            plan,
        })
    }

    /// The plan restricted to some systems.
    pub fn plan_for(&self, systems: &Systems) -> Result<Plan, ConfigErrors> {
        match systems {
            Systems::All => Ok(self.plan.clone()),
            one => plan::plan(
                &self.config,
                Matrix::get(),
                one,
                &self.build_toml,
                self.source.as_bytes(),
            ),
        }
    }

    /// The kernel's Python package directory.
    pub fn python_package(&self) -> PathBuf {
        self.root.join(&self.plan.kernel.python_package)
    }
}
