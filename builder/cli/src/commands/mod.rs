//! Dispatch: each command turns its clap arguments into the library's typed
//! options, calls the library and hands the report to the printer. Grouped
//! by area: [`project`] (build.toml and the plan), [`build`] (builds, shells,
//! toolchain, upload), [`checks`] (checks of built variants), [`author`]
//! (init, card, skills).

mod author;
mod build;
mod checks;
mod project;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::CommandFactory;
use kb_core::{KernelProject, Status};

use crate::cli::{Cli, Command, NixCommand, SkillsCommand};
use crate::output::Printer;

pub fn run(command: Command, p: Printer) -> Result<Status> {
    match command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "kernel-builder", &mut std::io::stdout());
            Ok(Status::Ok)
        }
        Command::CheckConfig(a) => project::check_config(a.kernel_dir.as_deref(), p),
        Command::ListVariants(a) => project::list_variants(a, p),
        Command::Plan(a) => project::plan(a, p),
        Command::UpdateBuild(a) => project::update_build(a, p),
        Command::CreatePyproject(a) => project::create_pyproject(a, p),
        Command::CleanPyproject(a) => project::clean_pyproject(a, p),
        Command::CiMatrix(a) => project::ci_matrix(a, p),
        Command::Build(a) | Command::BuildAndCopy(a) => build::build(&a, p),
        Command::BuildAndUpload(a) => build::build_and_upload(a, p),
        Command::Upload(a) => build::upload(a.kernel_dir.as_deref(), &a.hub, p),
        Command::Devshell(a) => build::shell(a, false, p),
        Command::Testshell(a) => build::shell(a, true, p),
        Command::Toolchain(a) => build::toolchain(a, p),
        Command::Doctor(a) => build::doctor(a, p),
        Command::Nix {
            command: NixCommand::InstallVariant(a),
        } => build::install_variant(a, p),
        Command::Nix {
            command: NixCommand::PlanFile(a),
        } => build::plan_file(a, p),
        Command::CheckAbi(a) => checks::check_abi(a, p),
        Command::CheckBuilds(a) => checks::check_builds(a, p),
        Command::Hash(a) => checks::hash(a, p),
        Command::Verify(a) => checks::verify(a, p),
        Command::Init(a) => author::init(a, p),
        Command::FillCard(a) => author::fill_card(a, p),
        Command::Skills {
            command: SkillsCommand::Add(a),
        } => author::skills_add(a, p),
    }
}

/// Load the kernel project, showing `build.toml` warnings.
fn load(dir: Option<&Path>, p: Printer) -> Result<KernelProject> {
    let project = KernelProject::load(dir)?;
    show_warnings(&project, p);
    Ok(project)
}

/// The warnings and notes of a loaded `build.toml`, on standard error.
fn show_warnings(project: &KernelProject, p: Printer) {
    for w in &project.warnings {
        match w.severity {
            // A note explains accepted configuration; `-q` hides it.
            kb_core::config::Severity::Note => p.note(&w.to_string()),
            _ => p.warn(&w.to_string()),
        }
    }
}

/// The `[DIR]` argument, `.` when absent.
fn dir_or_cwd(dir: Option<&Path>) -> PathBuf {
    dir.map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}
