//! Builds and what surrounds them: `build`, `build-and-copy`,
//! `build-and-upload`, `upload`, `devshell`, `testshell`, `toolchain`,
//! `doctor`, `nix install-variant`, `nix plan-file`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use kb_build::backends::{self, nix, BuildOptions};
use kb_core::{KernelProject, Report, Status};
use kb_hub::{RepoType as HubRepoType, UploadOptions};
use serde::Serialize;

use super::{dir_or_cwd, load};
use crate::cli::*;
use crate::output::{Printer, Reporter};

fn build_options(a: &BuildArgs) -> BuildOptions {
    BuildOptions {
        variants: a.variants.clone(),
        max_jobs: a.max_jobs,
        cores: a.cores,
        print_build_logs: a.print_build_logs,
        local: a.local,
        no_glibc_compat: a.no_glibc_compat,
        defer_loader_check: a.defer_loader_check,
    }
}

/// Build, then fill the kernel card into `build/CARD.md` (uploaded as the
/// Hub README) when the kernel has a `CARD.md`.
pub fn build(a: &BuildArgs, p: Printer) -> Result<Status> {
    let project = load(a.kernel_dir.as_deref(), p)?;
    let reporter = Reporter::new(p.quiet, !a.print_build_logs);
    let report = backends::build(&project, &build_options(a), &reporter)?;
    let status = p.report(&report);
    if project.root.join("CARD.md").is_file() {
        match kb_author::card::fill_card(&project.root, None) {
            Ok(card) => {
                for w in &card.warnings {
                    p.warn(&format!("warning: {w}"));
                }
                p.note(&format!("filled the kernel card: {}", card.path.display()));
            }
            Err(e) => p.warn(&format!("warning: could not fill CARD.md: {e}")),
        }
    }
    Ok(status)
}

/// Build (checks run as part of every variant build), then upload `build/`.
pub fn build_and_upload(a: BuildAndUploadArgs, p: Printer) -> Result<Status> {
    if a.build.defer_loader_check {
        anyhow::bail!("--defer-loader-check is for local edit loops: an upload needs the loader check; drop the flag");
    }
    let status = build(&a.build, p)?;
    if status != Status::Ok {
        return Ok(status);
    }
    upload(a.build.kernel_dir.as_deref(), &a.hub, p)
}

pub fn upload(dir: Option<&Path>, a: &HubArgs, p: Printer) -> Result<Status> {
    let options = UploadOptions {
        repo_id: a.repo_id.clone(),
        branch: a.branch.clone(),
        private: a.private,
        repo_type: match a.repo_type {
            RepoType::Kernel => HubRepoType::Kernel,
            RepoType::Model => HubRepoType::Model,
        },
        create_pr: a.create_pr,
        allow_dirty: a.allow_dirty,
        allow_noncompliant: a.allow_noncompliant,
        compliance_check: Some(kb_checks::compliance::problems),
    };
    let reporter = Reporter::new(p.quiet, false);
    let summary = kb_hub::upload(&options, &dir_or_cwd(dir), &reporter)?;
    Ok(p.report(&summary))
}

/// `devshell` / `testshell`: replace this process with `nix develop`.
pub fn shell(a: ShellArgs, test: bool, p: Printer) -> Result<Status> {
    let project = load(a.kernel_dir.as_deref(), p)?;
    let reporter = Reporter::new(p.quiet, false);
    let options = nix::ShellOptions {
        variant: a.variant,
        max_jobs: a.max_jobs,
        cores: a.cores,
        print_build_logs: a.print_build_logs,
    };
    let mut cmd = nix::shell_command(&project, &options, test, &reporter)?;
    p.note(&format!(
        "entering the {} shell of {} (exit it to return)",
        if test { "test" } else { "development" },
        project.root.display()
    ));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = cmd.exec();
        anyhow::bail!("cannot run nix develop: {e}")
    }
    #[cfg(not(unix))]
    {
        let status = cmd
            .status()
            .map_err(|e| anyhow::anyhow!("cannot run nix develop: {e}"))?;
        Ok(if status.success() {
            Status::Ok
        } else {
            Status::Findings
        })
    }
}

pub fn toolchain(a: ToolchainArgs, p: Printer) -> Result<Status> {
    let reporter = Reporter::new(p.quiet, false);
    let options = backends::toolchain::ToolchainOptions {
        torch: a.torch,
        cuda: a.cuda,
    };
    let report = backends::toolchain::provision(&options, &reporter)?;
    Ok(p.report(&report))
}

pub fn doctor(a: DoctorArgs, p: Printer) -> Result<Status> {
    let report = kb_build::doctor::run(&dir_or_cwd(a.kernel_dir.as_deref()));
    Ok(p.report(&report))
}

pub fn install_variant(a: InstallVariantArgs, p: Printer) -> Result<Status> {
    let project = load(a.kernel_dir.as_deref(), p)?;
    let options = nix::InstallVariantOptions {
        variant: a.variant,
        unique_id: a.unique_id,
        build_dir: a.build_dir,
        out: a.out,
    };
    let report = nix::install_variant(&project, &options)?;
    Ok(p.report(&report))
}

/// `kernel-plan.json` as the flake reads it (the text is the file itself),
/// or where it was written (`--out`).
#[derive(Serialize)]
#[serde(untagged)]
enum PlanFile {
    Printed(serde_json::Value),
    Written { written: PathBuf },
}

impl Report for PlanFile {
    fn text(&self) -> String {
        match self {
            PlanFile::Printed(v) => {
                let mut s = serde_json::to_string_pretty(v).expect("serializes");
                s.push('\n');
                s
            }
            PlanFile::Written { .. } => String::new(),
        }
    }
}

/// `nix plan-file`: the plan file of a kernel, e.g. computed inside the Nix
/// sandbox from build.toml alone when the kernel commits none.
pub fn plan_file(a: PlanFileArgs, p: Printer) -> Result<Status> {
    let project = KernelProject::load_with(a.kernel_dir.as_deref(), !a.no_source_checks)?;
    for w in &project.warnings {
        p.warn(&w.to_string());
    }
    if let Some(out) = a.out {
        nix::write_plan_file_to(&out, &project.plan)?;
        return Ok(p.report(&PlanFile::Written { written: out }));
    }
    let json: serde_json::Value = serde_json::from_str(&nix::plan_file_json(&project.plan))?;
    Ok(p.report(&PlanFile::Printed(json)))
}
