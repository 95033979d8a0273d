//! Authoring: `init`, `fill-card`, `skills add`.

use anyhow::Result;
use kb_author::{card, init, skills};
use kb_core::Status;

use super::dir_or_cwd;
use crate::cli::*;
use crate::output::Printer;

pub fn init(a: InitArgs, p: Printer) -> Result<Status> {
    let options = init::InitOptions {
        path: a.path,
        license: a.license,
        name: a.name,
        backends: a.backends,
        overwrite: a.overwrite,
    };
    let report = init::run(&options)?;
    if !report.git_ok {
        p.warn(&report.git);
    }
    Ok(p.report(&report))
}

pub fn fill_card(a: FillCardArgs, p: Printer) -> Result<Status> {
    let report = card::fill_card(&dir_or_cwd(a.kernel_dir.as_deref()), a.output.as_deref())?;
    Ok(p.report(&report))
}

/// The library's skill for a `--skill` value.
pub fn skill(s: Skill) -> skills::Skill {
    match s {
        Skill::CudaKernels => skills::Skill::CudaKernels,
        Skill::RocmKernels => skills::Skill::RocmKernels,
        Skill::XpuKernels => skills::Skill::XpuKernels,
        Skill::CpuKernels => skills::Skill::CpuKernels,
    }
}

pub fn skills_add(a: SkillsAddArgs, p: Printer) -> Result<Status> {
    let options = skills::SkillsAddOptions {
        skill: skill(a.skill),
        claude: a.claude,
        codex: a.codex,
        opencode: a.opencode,
        global: a.global,
        dest: a.dest,
        force: a.force,
    };
    let report = skills::run_add(&options)?;
    Ok(p.report(&report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn skill_names_match_the_cli_values() {
        for s in Skill::value_variants() {
            assert_eq!(
                s.to_possible_value().unwrap().get_name(),
                skills::name(skill(*s))
            );
        }
        assert_eq!(Skill::value_variants().len(), skills::ALL.len());
    }
}
