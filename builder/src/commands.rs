//! Subcommand dispatch.

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;

use crate::cli::*;
use crate::config::{self, ConfigErrors, Loaded};
use crate::matrix::{host_system, Matrix};
use crate::plan::{self, Plan, Systems};

/// A failed command: exit code and message for standard error.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<ConfigErrors> for Failure {
    fn from(e: ConfigErrors) -> Self {
        Failure::new(1, e.to_string())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::new(1, format!("error: {e:#}"))
    }
}

pub type CmdResult = Result<u8, Failure>;

pub fn run(cli: Cli) -> CmdResult {
    match cli.command {
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "kernel-builder", &mut std::io::stdout());
            Ok(0)
        }
        Command::CheckConfig(a) => check_config(a.kernel_dir.as_deref()),
        Command::Toolchain(a) => crate::backends::toolchain::command(a),
        Command::ListVariants(a) => list_variants(a),
        Command::Plan(a) => plan_cmd(a),
        Command::UpdateBuild(a) => update_build(a),
        Command::Pkgmeta { command } => crate::pkgmeta::run(command),
        Command::Doctor(a) => crate::doctor::run(a),
        Command::CiMatrix(a) => crate::ci_matrix::run(a),
        Command::Nix { command } => crate::backends::nix::run(command),
        Command::Init(a) => crate::init::run(&a).map(|_| 0).map_err(Failure::from),
        Command::Build(a) | Command::BuildAndCopy(a) => build(&a),
        Command::BuildAndUpload(a) => build_and_upload(a),
        Command::Upload(a) => crate::hub::upload_command(a),
        Command::CheckAbi(a) => crate::checks::abi::command(a),
        Command::CheckBuilds(a) => crate::checks::layout::command(a),
        Command::CreatePyproject(a) => create_pyproject(a),
        Command::CleanPyproject(a) => clean_pyproject(a),
        Command::Devshell(a) => crate::backends::nix::devshell(&a),
        Command::Testshell(a) => crate::backends::nix::testshell(&a),
        Command::Skills {
            command: SkillsCommand::Add(a),
        } => crate::skills::run_add(&a).map(|_| 0).map_err(Failure::from),
        Command::FillCard(a) => crate::card::run(&a).map(|_| 0).map_err(Failure::from),
        Command::Hash(a) => crate::checks::hash::command(a),
        Command::Verify(a) => crate::checks::verify::command(a),
    }
}

/// Load `build.toml`, printing warnings to standard error.
pub fn load_config(dir: Option<&Path>) -> Result<Loaded, Failure> {
    let loaded = config::load(dir)?;
    for w in &loaded.warnings {
        eprintln!("{w}");
    }
    Ok(loaded)
}

pub fn compute_plan(loaded: &Loaded, systems: &Systems) -> Result<Plan, Failure> {
    Ok(plan::plan(
        &loaded.config,
        Matrix::get(),
        systems,
        &loaded.path,
        loaded.source.as_bytes(),
    )?)
}

fn check_config(dir: Option<&Path>) -> CmdResult {
    let loaded = load_config(dir)?;
    let plan = compute_plan(&loaded, &Systems::All)?;
    let c = &loaded.config;
    println!(
        "{}: `{}` v{} ({}, backends: {}) is valid; {} variants",
        loaded.path.display(),
        c.general.name,
        c.general.version,
        c.framework.name(),
        c.general
            .backends
            .iter()
            .map(|b| b.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        plan.variants.len()
    );
    Ok(0)
}

fn systems_from(arch: bool, system: Option<String>) -> Systems {
    match (arch, system) {
        (true, _) => Systems::One(host_system()),
        (false, Some(s)) => Systems::One(s),
        (false, None) => Systems::All,
    }
}

fn list_variants(a: ListVariantsArgs) -> CmdResult {
    let loaded = load_config(a.kernel_dir.as_deref())?;
    let systems = systems_from(a.arch, a.system);
    let plan = match (&systems, compute_plan(&loaded, &systems)) {
        // A host the matrix does not cover simply has no variants.
        (Systems::One(s), Err(_)) if a.arch && !Matrix::get().systems.contains(s) => {
            eprintln!("note: this system ({s}) has no build variants");
            return Ok(0);
        }
        (_, r) => r?,
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        let rows: Vec<serde_json::Value> = plan
            .variants
            .iter()
            .map(|v| {
                serde_json::json!({
                    "name": v.name,
                    "system": v.system,
                    "framework": v.framework,
                    "backend": v.backend,
                    "torch": v.torch.as_ref().map(|t| t.version.to_string()),
                    "toolkit": v.toolkit.as_ref().map(|t| t.to_string()),
                    "required": v.required,
                })
            })
            .collect();
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&rows).expect("serializes")
        );
    } else {
        for v in &plan.variants {
            let _ = writeln!(out, "{}", v.name);
        }
    }
    Ok(0)
}

fn plan_cmd(a: PlanArgs) -> CmdResult {
    if a.write {
        return crate::backends::nix::plan_write_cmd(a.kernel_dir.as_deref());
    }
    let loaded = load_config(a.kernel_dir.as_deref())?;
    let systems = systems_from(false, a.system);
    let plan = compute_plan(&loaded, &systems)?;
    let mut out = std::io::stdout().lock();
    if a.json {
        let _ = out.write_all(plan.to_json().as_bytes());
    } else {
        for v in &plan.variants {
            let _ = writeln!(out, "{}", v.name);
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
                let _ = writeln!(
                    out,
                    "  {} ({}, {} sources){extra}",
                    k.name,
                    k.backend,
                    k.src.len()
                );
            }
        }
    }
    Ok(0)
}

fn update_build(a: UpdateBuildArgs) -> CmdResult {
    let path = config::build_toml_path(a.kernel_dir.as_deref());
    let src = std::fs::read_to_string(&path)
        .map_err(|e| Failure::new(1, format!("error: {}: cannot read: {e}", path.display())))?;
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match config::migrate::migrate(&src, &path, root)? {
        config::migrate::Outcome::Current => {
            eprintln!(
                "{} is already edition {}; nothing to do",
                path.display(),
                config::CURRENT_EDITION
            );
        }
        config::migrate::Outcome::Updated { text, changes } => {
            if a.dry_run {
                print!("{text}");
            } else {
                write_atomic(&path, text.as_bytes()).map_err(|e| {
                    Failure::new(1, format!("error: {}: cannot write: {e}", path.display()))
                })?;
            }
            for c in changes {
                eprintln!("  {c}");
            }
            eprintln!(
                "{} {} as edition {}",
                if a.dry_run {
                    "would rewrite"
                } else {
                    "rewrote"
                },
                path.display(),
                config::CURRENT_EDITION
            );
        }
    }
    Ok(0)
}

/// Write a file via a temporary file in the same directory and a rename, so
/// readers never see a partial file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn kernel_root(loaded: &Loaded) -> std::path::PathBuf {
    loaded
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf()
}

/// The variant `create-pyproject` generates for: `--variant`, else one of
/// this host (CUDA first when nvcc is on PATH, else CPU). A kernel without a
/// variant for this host (a Metal-only kernel on Linux) still gets a project
/// for editing, with a note naming the choices.
fn default_variant<'p>(
    plan: &'p Plan,
    wanted: Option<&str>,
) -> Result<&'p crate::plan::Variant, Failure> {
    if let Some(w) = wanted {
        return plan.variant(w).ok_or_else(|| Failure::new(1, format!("error: `{w}` is not a variant of this kernel; `kernel-builder list-variants` shows them")));
    }
    let prefer = if which::which("nvcc").is_ok() {
        crate::config::Backend::Cuda
    } else {
        crate::config::Backend::Cpu
    };
    let (v, note) = pick_variant(plan, &host_system(), prefer).ok_or_else(|| {
        Failure::new(
            1,
            "error: this kernel has no variants at all; check the version bounds in build.toml",
        )
    })?;
    if let Some(n) = note {
        eprintln!("{n}");
    }
    Ok(v)
}

/// A variant of `host` (the last of backend `prefer`, else the last), or,
/// when the host has none, the last variant of `prefer` (else the last) of
/// any system, with a note. `None` only for a plan without variants.
fn pick_variant<'p>(
    plan: &'p Plan,
    host: &str,
    prefer: crate::config::Backend,
) -> Option<(&'p crate::plan::Variant, Option<String>)> {
    let pick = |vs: Vec<&'p crate::plan::Variant>| {
        vs.iter()
            .rev()
            .find(|v| v.backend == prefer)
            .or(vs.last())
            .copied()
    };
    let on_host = plan
        .variants
        .iter()
        .filter(|v| v.system.as_deref().is_none_or(|s| s == host))
        .collect();
    if let Some(v) = pick(on_host) {
        return Some((v, None));
    }
    let v = pick(plan.variants.iter().collect())?;
    let choices: Vec<&str> = plan.variants.iter().map(|v| v.name.as_str()).collect();
    Some((
        v,
        Some(format!(
            "note: this kernel has no variant for {host}; generating the project for `{}`, which builds on {} (choices: {}; pick one with --variant)",
            v.name,
            v.system.as_deref().unwrap_or("any system"),
            choices.join(", ")
        )),
    ))
}

fn create_pyproject(a: CreatePyprojectArgs) -> CmdResult {
    let loaded = load_config(a.kernel_dir.as_deref())?;
    let plan = compute_plan(&loaded, &Systems::All)?;
    let variant = default_variant(&plan, a.variant.as_deref())?;
    let root = kernel_root(&loaded);
    let target = a.target_dir.clone().unwrap_or_else(|| root.clone());
    let unique = match &a.unique_id {
        Some(id) => {
            crate::ops_id::check_unique_id(id)
                .map_err(|e| Failure::new(1, format!("error: --unique-id: {e}")))?;
            id.clone()
        }
        None => match crate::ops_id::git_state(&root) {
            Some(g) => g.unique_id(),
            None => crate::ops_id::random_id(),
        },
    };
    let ops = crate::ops_id::ops_name(&plan.kernel.python_name, variant.backend.as_str(), &unique);
    let same = target.canonicalize().ok() == root.canonicalize().ok();
    let abs_root = root
        .canonicalize()
        .map_err(|e| Failure::new(1, format!("error: {}: {e}", root.display())))?;
    let generated = crate::pyproject::generate(
        &plan,
        variant,
        if same { None } else { Some(&abs_root) },
        &ops,
    )?;
    let written = crate::pyproject::write(&generated, &target, a.force)?;
    eprintln!(
        "generated the project for {} (ops name {ops}) in {}: {} file(s) written, {} unchanged",
        variant.name,
        target.display(),
        written.len(),
        generated.files.len() - written.len()
    );
    Ok(0)
}

fn clean_pyproject(a: CleanPyprojectArgs) -> CmdResult {
    let loaded = load_config(a.kernel_dir.as_deref())?;
    let plan = compute_plan(&loaded, &Systems::All)?;
    let root = kernel_root(&loaded);
    let target = a.target_dir.clone().unwrap_or(root);
    let files = crate::pyproject::clean_candidates(
        &target,
        &plan.kernel.python_package,
        a.ops_id.as_deref(),
    );
    if files.is_empty() {
        eprintln!("nothing to clean in {}", target.display());
        return Ok(0);
    }
    for f in &files {
        println!(
            "{}{}",
            if a.dry_run {
                "would remove "
            } else {
                "removing "
            },
            f.display()
        );
    }
    if a.dry_run {
        return Ok(0);
    }
    if !a.force {
        use std::io::IsTerminal;
        if !std::io::stdin().is_terminal() {
            return Err(Failure::new(1, "error: refusing to delete without confirmation; pass --force (or --dry-run to list)"));
        }
        eprint!("delete {} path(s)? [y/N] ", files.len());
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Failure::new(1, "aborted"));
        }
    }
    for f in &files {
        let r = if f.is_dir() {
            std::fs::remove_dir_all(f)
        } else {
            std::fs::remove_file(f)
        };
        r.map_err(|e| Failure::new(1, format!("error: removing {}: {e}", f.display())))?;
    }
    Ok(0)
}

/// Build (checks run as part of every variant build), then upload `build/`.
fn build_and_upload(a: BuildAndUploadArgs) -> CmdResult {
    build(&a.build)?;
    let dir = a
        .build
        .kernel_dir
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let summary = crate::hub::upload(&a.hub, &dir)?;
    crate::hub::print_summary(&summary, &a.hub);
    Ok(0)
}

/// Build with Nix when it is usable and the kernel has a flake; otherwise (or
/// with `--local`) make a development build with the host toolchain, saying why.
fn build(a: &BuildArgs) -> CmdResult {
    let code = build_variants(a)?;
    // The card is filled into build/CARD.md (uploaded as the Hub README).
    let root = config::build_toml_path(a.kernel_dir.as_deref())
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let root = if root.as_os_str().is_empty() {
        std::path::PathBuf::from(".")
    } else {
        root
    };
    if root.join("CARD.md").is_file() {
        match crate::card::fill_card(&root, None) {
            Ok(p) => eprintln!("filled the kernel card: {}", p.display()),
            Err(e) => eprintln!("warning: could not fill CARD.md: {e:#}"),
        }
    }
    Ok(code)
}

fn build_variants(a: &BuildArgs) -> CmdResult {
    use crate::backends::{local, nix};
    if a.local {
        return local::build(a);
    }
    let has_flake = config::build_toml_path(a.kernel_dir.as_deref())
        .parent()
        .map(|d| {
            if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d
            }
        })
        .is_some_and(|d| d.join("flake.nix").is_file());
    match nix::nix_available() {
        Ok(_) if has_flake => nix::build(a),
        Ok(_) => {
            eprintln!("note: this kernel has no flake.nix (`kernel-builder init` writes one); making a development build with the host toolchain");
            local::build(a)
        }
        Err(problem) => {
            let why = problem.to_string();
            let first = why.lines().next().unwrap_or_default();
            eprintln!("note: not using Nix: {first}");
            for line in why.lines().skip(1) {
                eprintln!("  {}", line.trim());
            }
            eprintln!("note: making a development build with the host toolchain (not Hub-compliant); pass --local to skip this check");
            local::build(a)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Backend;

    fn plan_of(src: &str) -> Plan {
        let dir = Path::new("/nonexistent-kernel");
        let (c, _) = config::parse_str(src, &dir.join("build.toml"), dir, false).unwrap();
        plan::plan(
            &c,
            Matrix::get(),
            &Systems::All,
            Path::new("build.toml"),
            b"",
        )
        .unwrap()
    }

    const METAL_ONLY: &str = "[general]\nname = \"mk\"\nversion = 1\nedition = 5\nlicense = \"MIT\"\nbackends = [\"metal\"]\n[torch]\nsrc = [\"t.cpp\"]\n[kernel.m]\nbackend = \"metal\"\ndepends = [\"torch\"]\nsrc = [\"m.metal\"]\n";

    #[test]
    fn host_without_variants_gets_a_choice_and_the_list() {
        let p = plan_of(METAL_ONLY);
        let (v, note) = pick_variant(&p, "x86_64-linux", Backend::Cpu).unwrap();
        assert_eq!(v.name, "torch215-metal-aarch64-darwin");
        let note = note.unwrap();
        assert!(
            note.contains("no variant for x86_64-linux")
                && note.contains("torch214-metal-aarch64-darwin")
                && note.contains("--variant"),
            "{note}"
        );
        // On its own system there is nothing to explain.
        let (v, note) = pick_variant(&p, "aarch64-darwin", Backend::Cpu).unwrap();
        assert_eq!(v.name, "torch215-metal-aarch64-darwin");
        assert!(note.is_none());
    }

    #[test]
    fn host_variants_prefer_the_requested_backend() {
        let p = plan_of(
            &METAL_ONLY
                .replace("[\"metal\"]", "[\"cpu\", \"metal\"]")
                .replace("backend = \"metal\"", "backend = \"cpu\""),
        );
        let (v, note) = pick_variant(&p, "x86_64-linux", Backend::Cpu).unwrap();
        assert_eq!(v.name, "torch215-cxx11-cpu-x86_64-linux");
        assert!(note.is_none());
    }
}
