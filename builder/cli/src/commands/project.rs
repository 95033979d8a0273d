//! Commands on the project itself: `check-config`, `list-variants`, `plan`,
//! `update-build`, `create-pyproject`, `clean-pyproject`, `ci-matrix`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use kb_core::config::{self, Backend};
use kb_core::matrix::{host_system, Matrix};
use kb_core::plan::{Plan, Systems};
use kb_core::{Report, Status};
use serde::Serialize;

use super::{load, show_warnings};
use crate::cli::*;
use crate::output::Printer;

#[derive(Serialize)]
struct ConfigReport {
    path: PathBuf,
    valid: bool,
    name: String,
    version: u64,
    framework: &'static str,
    backends: Vec<Backend>,
    variants: usize,
    /// Warnings and notes (with `--json`; on standard error as text).
    diagnostics: Vec<DiagnosticRow>,
}

/// One `build.toml` diagnostic in `check-config --json`.
#[derive(Serialize)]
struct DiagnosticRow {
    severity: &'static str,
    file: PathBuf,
    key: String,
    line: Option<usize>,
    column: Option<usize>,
    message: String,
    help: Option<String>,
}

impl From<&config::Diagnostic> for DiagnosticRow {
    fn from(d: &config::Diagnostic) -> Self {
        DiagnosticRow {
            severity: match d.severity {
                config::Severity::Error => "error",
                config::Severity::Warning => "warning",
                config::Severity::Note => "note",
            },
            file: d.file.clone(),
            key: d.key.clone(),
            line: d.position.map(|p| p.0),
            column: d.position.map(|p| p.1),
            message: d.message.clone(),
            help: d.help.clone(),
        }
    }
}

/// `check-config --json` of a refused file: every diagnostic, exit code 2.
#[derive(Serialize)]
struct RefusedConfig {
    path: PathBuf,
    valid: bool,
    diagnostics: Vec<DiagnosticRow>,
}

impl Report for RefusedConfig {
    fn text(&self) -> String {
        String::new()
    }

    fn status(&self) -> Status {
        Status::Unusable
    }
}

impl Report for ConfigReport {
    fn text(&self) -> String {
        format!(
            "{}: `{}` v{} ({}, backends: {}) is valid; {} variants\n",
            self.path.display(),
            self.name,
            self.version,
            self.framework,
            self.backends
                .iter()
                .map(|b| b.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            self.variants
        )
    }
}

pub fn check_config(dir: Option<&Path>, p: Printer) -> Result<Status> {
    let project = match kb_core::KernelProject::load(dir) {
        Err(errors) if p.json => {
            // The text stays on standard error; standard output gets JSON.
            p.warn(&errors.to_string());
            return Ok(p.report(&RefusedConfig {
                path: config::build_toml_path(dir),
                valid: false,
                diagnostics: errors.0.iter().map(DiagnosticRow::from).collect(),
            }));
        }
        Err(errors) => return Err(errors.into()),
        Ok(project) => {
            show_warnings(&project, p);
            project
        }
    };
    let c = &project.config;
    Ok(p.report(&ConfigReport {
        path: project.build_toml.clone(),
        valid: true,
        diagnostics: project.warnings.iter().map(DiagnosticRow::from).collect(),
        name: c.general.name.clone(),
        version: c.general.version,
        framework: c.framework.name(),
        backends: c.general.backends.clone(),
        variants: project.plan.variants.len(),
    }))
}

fn systems_from(arch: bool, system: Option<String>) -> Systems {
    match (arch, system) {
        (true, _) => Systems::One(host_system()),
        (false, Some(s)) => Systems::One(s),
        (false, None) => Systems::All,
    }
}

#[derive(Serialize)]
struct VariantRow {
    name: String,
    system: Option<String>,
    framework: kb_core::Framework,
    backend: Backend,
    torch: Option<String>,
    toolkit: Option<String>,
    required: bool,
}

#[derive(Serialize)]
#[serde(transparent)]
struct VariantList(Vec<VariantRow>);

impl Report for VariantList {
    fn text(&self) -> String {
        self.0.iter().map(|v| format!("{}\n", v.name)).collect()
    }
}

pub fn list_variants(a: ListVariantsArgs, p: Printer) -> Result<Status> {
    let project = load(a.kernel_dir.as_deref(), p)?;
    let systems = systems_from(a.arch, a.system);
    let plan = match (&systems, project.plan_for(&systems)) {
        // A host the matrix does not cover simply has no variants.
        (Systems::One(s), Err(_)) if a.arch && !Matrix::get().systems.contains(s) => {
            p.warn(&format!("note: this system ({s}) has no build variants"));
            return Ok(p.report(&VariantList(Vec::new())));
        }
        (_, r) => r?,
    };
    let rows = plan
        .variants
        .iter()
        .map(|v| VariantRow {
            name: v.name.clone(),
            system: v.system.clone(),
            framework: v.framework,
            backend: v.backend,
            torch: v.torch.as_ref().map(|t| t.version.to_string()),
            toolkit: v.toolkit.as_ref().map(|t| t.to_string()),
            required: v.required,
        })
        .collect();
    Ok(p.report(&VariantList(rows)))
}

/// The plan; its JSON is the format the Nix layer and CMake consume.
#[derive(Serialize)]
#[serde(transparent)]
struct PlanReport(Plan);

impl Report for PlanReport {
    fn text(&self) -> String {
        let mut out = String::new();
        for v in &self.0.variants {
            out.push_str(&format!("{}\n", v.name));
            for k in &v.kernels {
                let mut extra = String::new();
                if !k.cuda_capabilities.is_empty() {
                    extra = format!(
                        " capabilities: {}",
                        k.cuda_capabilities
                            .iter()
                            .map(|c| c.to_string())
                            .collect::<Vec<_>>()
                            .join(" ")
                    );
                }
                if !k.rocm_archs.is_empty() {
                    extra = format!(" archs: {}", k.rocm_archs.join(" "));
                }
                out.push_str(&format!(
                    "  {} ({}, {} sources){extra}\n",
                    k.name,
                    k.backend,
                    k.src.len()
                ));
            }
        }
        out
    }
}

pub fn plan(a: PlanArgs, p: Printer) -> Result<Status> {
    let project = load(a.kernel_dir.as_deref(), p)?;
    if a.write {
        let report = kb_build::backends::nix::write_plan(&project)?;
        return Ok(p.report(&report));
    }
    let plan = project.plan_for(&systems_from(false, a.system))?;
    Ok(p.report(&PlanReport(plan)))
}

#[derive(Serialize)]
struct UpdateReport {
    path: PathBuf,
    /// `current`, `rewritten` or `would-rewrite`.
    outcome: &'static str,
    changes: Vec<String>,
    /// The rewritten file (`--dry-run`).
    text: Option<String>,
}

impl Report for UpdateReport {
    fn text(&self) -> String {
        self.text.clone().unwrap_or_default()
    }

    fn notes(&self) -> Vec<String> {
        if self.outcome == "current" {
            return vec![format!(
                "{} is already edition {}; nothing to do",
                self.path.display(),
                config::CURRENT_EDITION
            )];
        }
        let mut out: Vec<String> = self.changes.iter().map(|c| format!("  {c}")).collect();
        out.push(format!(
            "{} {} as edition {}",
            if self.outcome == "would-rewrite" {
                "would rewrite"
            } else {
                "rewrote"
            },
            self.path.display(),
            config::CURRENT_EDITION
        ));
        out
    }
}

pub fn update_build(a: UpdateBuildArgs, p: Printer) -> Result<Status> {
    let path = config::build_toml_path(a.kernel_dir.as_deref());
    let bytes = kb_core::fsutil::read_regular(&path)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
    let src = String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{}: the file is not valid UTF-8", path.display()))?;
    let root = kb_core::project::root_of(&path);
    let report = match config::migrate::migrate(&src, &path, &root)? {
        config::migrate::Outcome::Current => UpdateReport {
            path,
            outcome: "current",
            changes: Vec::new(),
            text: None,
        },
        config::migrate::Outcome::Updated { text, changes } => {
            if !a.dry_run {
                kb_core::fsutil::write_atomic(&path, text.as_bytes())
                    .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
            }
            UpdateReport {
                path,
                outcome: if a.dry_run {
                    "would-rewrite"
                } else {
                    "rewritten"
                },
                changes: changes.iter().map(|c| c.to_string()).collect(),
                text: a.dry_run.then_some(text),
            }
        }
    };
    Ok(p.report(&report))
}

#[derive(Serialize)]
struct PyprojectReport {
    variant: String,
    /// Why `variant` is not a variant of this host, when it is not.
    #[serde(skip_serializing_if = "Option::is_none")]
    host_note: Option<String>,
    ops_name: String,
    target: PathBuf,
    written: Vec<PathBuf>,
    unchanged: usize,
}

impl Report for PyprojectReport {
    fn text(&self) -> String {
        String::new()
    }

    fn notes(&self) -> Vec<String> {
        let mut notes: Vec<String> = self
            .host_note
            .iter()
            .map(|n| format!("note: {n}"))
            .collect();
        notes.push(format!(
            "generated the project for {} (ops name {}) in {}: {} file(s) written, {} unchanged",
            self.variant,
            self.ops_name,
            self.target.display(),
            self.written.len(),
            self.unchanged
        ));
        notes
    }
}

pub fn create_pyproject(a: CreatePyprojectArgs, p: Printer) -> Result<Status> {
    let project = load(a.kernel_dir.as_deref(), p)?;
    let plan = &project.plan;
    // CUDA first when nvcc is on PATH, else CPU.
    let prefer = if which::which("nvcc").is_ok() {
        Backend::Cuda
    } else {
        Backend::Cpu
    };
    let choice =
        kb_build::pyproject::choose_variant(plan, a.variant.as_deref(), &host_system(), prefer)?;
    let variant = choice.variant;
    let root = &project.root;
    let target = a.target_dir.clone().unwrap_or_else(|| root.clone());
    let unique = match &a.unique_id {
        Some(id) => {
            kb_core::ops_id::check_unique_id(id)
                .map_err(|e| anyhow::anyhow!("--unique-id: {e}"))?;
            id.clone()
        }
        None => match kb_core::ops_id::git_state(root) {
            Some(g) => g.unique_id(),
            None => kb_build::pyproject::content_unique_id(root, plan),
        },
    };
    let ops =
        kb_core::ops_id::ops_name(&plan.kernel.python_name, variant.backend.as_str(), &unique);
    let same = target.canonicalize().ok() == root.canonicalize().ok();
    let abs_root = root
        .canonicalize()
        .map_err(|e| anyhow::anyhow!("{}: {e}", root.display()))?;
    let generated = kb_build::pyproject::generate(
        plan,
        variant,
        if same { None } else { Some(&abs_root) },
        &ops,
    )?;
    let written = kb_build::pyproject::write(&generated, &target, a.force)?;
    Ok(p.report(&PyprojectReport {
        variant: variant.name.clone(),
        host_note: choice.note,
        ops_name: ops,
        target,
        unchanged: generated.files.len() - written.len(),
        written,
    }))
}

#[derive(Serialize)]
struct CleanReport {
    target: PathBuf,
    dry_run: bool,
    removed: Vec<PathBuf>,
}

impl Report for CleanReport {
    fn text(&self) -> String {
        self.removed
            .iter()
            .map(|f| {
                format!(
                    "{}{}\n",
                    if self.dry_run {
                        "would remove "
                    } else {
                        "removing "
                    },
                    f.display()
                )
            })
            .collect()
    }

    fn notes(&self) -> Vec<String> {
        if self.removed.is_empty() {
            vec![format!("nothing to clean in {}", self.target.display())]
        } else {
            Vec::new()
        }
    }
}

pub fn clean_pyproject(a: CleanPyprojectArgs, p: Printer) -> Result<Status> {
    let project = load(a.kernel_dir.as_deref(), p)?;
    let target = a.target_dir.clone().unwrap_or(project.root.clone());
    let files = kb_build::pyproject::clean_candidates(
        &target,
        &project.plan.kernel.python_package,
        a.ops_id.as_deref(),
    );
    let report = CleanReport {
        target,
        dry_run: a.dry_run,
        removed: files,
    };
    if report.removed.is_empty() || a.dry_run {
        return Ok(p.report(&report));
    }
    if !a.force {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            bail!("refusing to delete without confirmation; pass --force (or --dry-run to list)");
        }
        eprint!("delete {} path(s)? [y/N] ", report.removed.len());
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            bail!("aborted");
        }
    }
    for f in &report.removed {
        let r = if f.is_dir() {
            std::fs::remove_dir_all(f)
        } else {
            std::fs::remove_file(f)
        };
        r.map_err(|e| anyhow::anyhow!("removing {}: {e}", f.display()))?;
    }
    Ok(p.report(&report))
}

pub fn ci_matrix(a: CiMatrixArgs, p: Printer) -> Result<Status> {
    let project = load(a.kernel_dir.as_deref(), p)?;
    let m = kb_build::ci_matrix::run(&project, a.system.as_deref(), a.required_only)?;
    Ok(p.report(&m))
}
