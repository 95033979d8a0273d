//! `skills add`: install kernel-writing skills for coding assistants.
//!
//! The skills (in `skills/` of this repository) are embedded in the binary,
//! so installing works offline and always matches this version of
//! kernel-builder. A skill is a directory with a `SKILL.md` (front matter
//! with `name` and `description`, then instructions) and shared reference
//! pages under `references/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kb_core::{bail, Report, Result};
use serde::Serialize;

use crate::init::fileset;

/// One embedded file of a skill, relative to the skill directory.
#[derive(Debug, Clone, Copy)]
pub struct SkillFile {
    pub rel: &'static str,
    pub text: &'static str,
}

macro_rules! skill_file {
    ($rel:literal, $source:literal) => {
        SkillFile {
            rel: $rel,
            text: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../skills/",
                $source
            )),
        }
    };
}

/// Reference pages shared by every skill.
pub const REFERENCES: &[SkillFile] = &[
    skill_file!(
        "references/project-layout.md",
        "references/project-layout.md"
    ),
    skill_file!(
        "references/testing-and-benchmarks.md",
        "references/testing-and-benchmarks.md"
    ),
    skill_file!(
        "references/build-and-publish.md",
        "references/build-and-publish.md"
    ),
    skill_file!("references/integration.md", "references/integration.md"),
];

pub const ALL: [Skill; 4] = [
    Skill::CudaKernels,
    Skill::RocmKernels,
    Skill::XpuKernels,
    Skill::CpuKernels,
];

pub fn name(skill: Skill) -> &'static str {
    match skill {
        Skill::CudaKernels => "cuda-kernels",
        Skill::RocmKernels => "rocm-kernels",
        Skill::XpuKernels => "xpu-kernels",
        Skill::CpuKernels => "cpu-kernels",
    }
}

fn main_file(skill: Skill) -> SkillFile {
    match skill {
        Skill::CudaKernels => skill_file!("SKILL.md", "cuda-kernels/SKILL.md"),
        Skill::RocmKernels => skill_file!("SKILL.md", "rocm-kernels/SKILL.md"),
        Skill::XpuKernels => skill_file!("SKILL.md", "xpu-kernels/SKILL.md"),
        Skill::CpuKernels => skill_file!("SKILL.md", "cpu-kernels/SKILL.md"),
    }
}

/// Every file of a skill.
pub fn files(skill: Skill) -> Vec<SkillFile> {
    let mut v = vec![main_file(skill)];
    v.extend_from_slice(REFERENCES);
    v
}

/// An assistant (or a custom directory) to install into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Claude,
    Codex,
    OpenCode,
    Dest(PathBuf),
}

impl Target {
    pub fn label(&self) -> String {
        match self {
            Target::Claude => "Claude".into(),
            Target::Codex => "Codex".into(),
            Target::OpenCode => "OpenCode".into(),
            Target::Dest(d) => d.display().to_string(),
        }
    }
}

fn home(env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf> {
    env("HOME")
        .or_else(|| env("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| kb_core::err!("cannot find your home directory (HOME is not set); install with --dest DIR instead of --global"))
}

/// The skills directory of a target: project-level under `cwd`, or the
/// user-level one with `global`.
pub fn skills_dir(
    target: &Target,
    global: bool,
    cwd: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    Ok(match (target, global) {
        (Target::Dest(d), _) => cwd.join(d),
        (Target::Claude, false) => cwd.join(".claude").join("skills"),
        (Target::Codex, false) => cwd.join(".codex").join("skills"),
        (Target::OpenCode, false) => cwd.join(".opencode").join("skills"),
        (Target::Claude, true) => set("CLAUDE_CONFIG_DIR")
            .map_or_else(|| home(env).map(|h| h.join(".claude")), Ok)?
            .join("skills"),
        (Target::Codex, true) => set("CODEX_HOME")
            .map_or_else(|| home(env).map(|h| h.join(".codex")), Ok)?
            .join("skills"),
        (Target::OpenCode, true) => set("XDG_CONFIG_HOME")
            .map_or_else(|| home(env).map(|h| h.join(".config")), Ok)?
            .join("opencode")
            .join("skills"),
    })
}

/// A skill for AI coding assistants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skill {
    CudaKernels,
    RocmKernels,
    XpuKernels,
    CpuKernels,
}

/// What `skills add` installs where.
#[derive(Debug, Clone)]
pub struct SkillsAddOptions {
    pub skill: Skill,
    pub claude: bool,
    pub codex: bool,
    pub opencode: bool,
    /// User-level directories instead of the current project's.
    pub global: bool,
    /// A custom skills directory.
    pub dest: Option<PathBuf>,
    pub force: bool,
}

/// The targets chosen by the flags (at least one is required).
pub fn targets(args: &SkillsAddOptions) -> Result<Vec<Target>> {
    let mut t = Vec::new();
    if args.claude {
        t.push(Target::Claude);
    }
    if args.codex {
        t.push(Target::Codex);
    }
    if args.opencode {
        t.push(Target::OpenCode);
    }
    if args.global && t.is_empty() && args.dest.is_some() {
        bail!("--global applies to --claude, --codex and --opencode; --dest already names the directory");
    }
    if let Some(d) = &args.dest {
        t.push(Target::Dest(d.clone()));
    }
    if t.is_empty() {
        bail!("choose where to install the skill: pass --claude, --codex, --opencode and/or --dest DIR (add -g for your user-level directory)");
    }
    Ok(t)
}

/// An installed skill: where, and how many files were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub target: Target,
    pub dir: PathBuf,
    pub summary: fileset::Summary,
}

/// Install `skill` for every target. Nothing is written when a target
/// already has the skill with other content and `force` is not set.
pub fn install(
    skill: Skill,
    targets: &[Target],
    global: bool,
    force: bool,
    cwd: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Installed>> {
    let skill_name = name(skill);
    let mut wanted = BTreeMap::new();
    for f in files(skill) {
        wanted.insert(
            format!("{skill_name}/{}", f.rel),
            f.text.as_bytes().to_vec(),
        );
    }
    let mut planned = Vec::new();
    let mut clobbered = Vec::new();
    for t in targets {
        let root = skills_dir(t, global, cwd, env)?;
        let entries = fileset::inspect(&root, &wanted)?;
        for c in fileset::conflicts(&entries) {
            clobbered.push(root.join(c).display().to_string());
        }
        planned.push((t.clone(), root, entries));
    }
    if !clobbered.is_empty() && !force {
        bail!(
            "the `{skill_name}` skill is already installed with other content:\n  {}\nnothing was written\n  help: pass --force to replace it",
            clobbered.join("\n  ")
        );
    }
    let mut out = Vec::new();
    for (target, root, entries) in planned {
        let summary = fileset::write(&root, &entries, true)?;
        out.push(Installed {
            target,
            dir: root.join(skill_name),
            summary,
        });
    }
    Ok(out)
}

/// What `skills add` did, one line per target.
#[derive(Debug, Clone, Serialize)]
pub struct SkillsReport {
    pub skill: &'static str,
    pub installed: Vec<InstalledLine>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstalledLine {
    /// `installed`, `updated` or `already up to date`.
    pub state: &'static str,
    pub target: String,
    pub dir: PathBuf,
}

impl Report for SkillsReport {
    fn text(&self) -> String {
        self.installed
            .iter()
            .map(|i| {
                format!(
                    "{}: `{}` for {} in {}\n",
                    i.state,
                    self.skill,
                    i.target,
                    i.dir.display()
                )
            })
            .collect()
    }
}

/// `kernel-builder skills add`.
pub fn run_add(args: &SkillsAddOptions) -> Result<SkillsReport> {
    let cwd = std::env::current_dir()?;
    let targets = targets(args)?;
    let env = |k: &str| std::env::var(k).ok();
    let mut installed = Vec::new();
    for i in install(args.skill, &targets, args.global, args.force, &cwd, &env)? {
        let state = if i.summary.created.is_empty() && i.summary.overwritten.is_empty() {
            "already up to date"
        } else if i.summary.overwritten.is_empty() {
            "installed"
        } else {
            "updated"
        };
        installed.push(InstalledLine {
            state,
            target: i.target.label(),
            dir: i.dir,
        });
    }
    Ok(SkillsReport {
        skill: name(args.skill),
        installed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_skill_file_is_embedded_and_named() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../skills");
        let mut on_disk = Vec::new();
        for e in std::fs::read_dir(&root).unwrap() {
            let dir = e.unwrap().path();
            for f in std::fs::read_dir(&dir).unwrap() {
                let p = f.unwrap().path();
                on_disk.push(
                    p.strip_prefix(&root)
                        .unwrap()
                        .to_string_lossy()
                        .replace('\\', "/"),
                );
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = ALL
            .iter()
            .map(|s| format!("{}/SKILL.md", name(*s)))
            .collect();
        embedded.extend(REFERENCES.iter().map(|r| r.rel.to_string()));
        embedded.sort();
        assert_eq!(on_disk, embedded);
        for s in ALL {
            let text = main_file(s).text;
            let front = text.strip_prefix("---\n").expect("front matter");
            let (front, body) = front.split_once("\n---\n").expect("front matter end");
            assert!(
                front.contains(&format!("name: {}\n", name(s))),
                "{}",
                name(s)
            );
            assert!(front.contains("description: "), "{}", name(s));
            for r in REFERENCES {
                assert!(
                    body.contains(r.rel),
                    "{} does not point to {}",
                    name(s),
                    r.rel
                );
            }
        }
    }
}
