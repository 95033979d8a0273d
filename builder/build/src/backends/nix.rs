//! The Nix backend: sandboxed, reproducible, Hub-compliant builds through the
//! kernel's flake (`lib.genKernelFlakeOutputs` of this repository's flake).
//!
//! How the flake gets the plan: `kernel-builder plan --write` (and every
//! Nix-backed command, before it calls `nix`) writes `kernel-plan.json` next
//! to `build.toml`. The flake reads it with `builtins.fromJSON`, checks that
//! `build-toml-sha256` equals `builtins.hashFile "sha256" build.toml` and that
//! `matrix-sha256` equals the hash of its own `data/matrix.toml`, and throws
//! with the command to run when either differs. Attribute names, the variant
//! directories the build installs and `list-variants` all come from this one
//! plan, so they agree by construction.
//!
//! Remote builders and binary caches are Nix's own (`builders`,
//! `substituters`); nothing here distributes builds.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use kb_core::config::Backend;
use kb_core::fsutil::write_atomic;
use kb_core::matrix::{host_system, MATRIX_TOML};
use kb_core::metadata::{BuildInfo, Metadata};
use kb_core::plan::{Plan, Variant};
use kb_core::progress::Progress;
use kb_core::{bail, err, Error, KernelProject, Result};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::BuildOptions;

/// The plan file next to `build.toml` that the flake reads.
pub const PLAN_FILE: &str = "kernel-plan.json";

/// Experimental features every `nix` invocation of kernel-builder enables, so
/// that builds work even where `nix.conf` does not enable flakes.
pub const NIX_FEATURES: &str = "nix-command flakes";

/// Oldest Nix with the flake features the layer uses.
pub const MIN_NIX: (u32, u32) = (2, 8);

// ------------------------------------------------------------ the plan file

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of the embedded variant matrix (equal to the flake's
/// `builtins.hashFile "sha256" data/matrix.toml` when both come from one tree).
pub fn matrix_sha256() -> String {
    hex(&Sha256::digest(MATRIX_TOML.as_bytes()))
}

fn framework_version(v: &Variant) -> Option<&kb_core::config::Version> {
    v.torch
        .as_ref()
        .map(|t| &t.version)
        .or(v.tvm_ffi.as_ref().map(|t| &t.version))
}

/// The default variant of a system: what `nix develop`, `devshell` and
/// `testshell` use without `--variant`. Among the system's own variants
/// (noarch ones when it has none): required first, the newest framework,
/// then GPU backends before CPU (CUDA, ROCm, XPU, Metal, CPU, others), then
/// the newest toolkit; ties by name.
pub fn default_variant<'p>(plan: &'p Plan, system: &str) -> Option<&'p Variant> {
    let own: Vec<&Variant> = plan
        .variants
        .iter()
        .filter(|v| v.system.as_deref() == Some(system))
        .collect();
    let candidates: Vec<&Variant> = if own.is_empty() {
        plan.variants
            .iter()
            .filter(|v| v.system.is_none())
            .collect()
    } else {
        own
    };
    best(candidates)
}

/// The ranking of [`default_variant`].
fn best(candidates: Vec<&Variant>) -> Option<&Variant> {
    let rank = |b: Backend| match b {
        Backend::Cuda => 0,
        Backend::Rocm => 1,
        Backend::Xpu => 2,
        Backend::Metal => 3,
        Backend::Cpu => 4,
        _ => 5,
    };
    candidates.into_iter().min_by(|a, b| {
        b.required
            .cmp(&a.required)
            .then_with(|| framework_version(b).cmp(&framework_version(a)))
            .then_with(|| rank(a.backend).cmp(&rank(b.backend)))
            .then_with(|| b.toolkit.cmp(&a.toolkit))
            .then_with(|| a.name.cmp(&b.name))
    })
}

/// One variant per backend of a system (its own and noarch variants), ranked
/// as [`default_variant`]: what the flake's `ci` output builds, since building
/// every variant in a kernel's CI is too costly.
pub fn ci_variants(plan: &Plan, system: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let on_system: Vec<&Variant> = plan
        .variants
        .iter()
        .filter(|v| v.system.as_deref().is_none_or(|s| s == system))
        .collect();
    for v in &on_system {
        let b = v.backend.as_str().to_string();
        if out.contains_key(&b) {
            continue;
        }
        let same: Vec<&Variant> = on_system
            .iter()
            .copied()
            .filter(|w| w.backend == v.backend)
            .collect();
        if let Some(w) = best(same) {
            out.insert(b, w.name.clone());
        }
    }
    out
}

/// The JSON of `kernel-plan.json`: the all-systems plan plus what the flake
/// checks (`matrix-sha256`) and the default variant of each system.
pub fn plan_file_json(plan: &Plan) -> String {
    let mut v = serde_json::to_value(plan).expect("plan serializes");
    let obj = v.as_object_mut().expect("plan is an object");
    obj.insert("matrix-sha256".into(), json!(matrix_sha256()));
    let mut defaults = serde_json::Map::new();
    for s in &kb_core::matrix::Matrix::get().systems {
        if let Some(d) = default_variant(plan, s) {
            defaults.insert(s.clone(), json!(d.name));
        }
    }
    obj.insert("default-variants".into(), Value::Object(defaults));
    let mut ci = serde_json::Map::new();
    for s in &kb_core::matrix::Matrix::get().systems {
        let per = ci_variants(plan, s);
        if !per.is_empty() {
            ci.insert(s.clone(), json!(per));
        }
    }
    obj.insert("ci-variants".into(), Value::Object(ci));
    obj.insert(
        "generated-by".into(),
        json!(format!(
            "kernel-builder {} (`kernel-builder plan --write`); do not edit",
            env!("CARGO_PKG_VERSION")
        )),
    );
    let mut s = serde_json::to_string_pretty(&v).expect("serializes");
    s.push('\n');
    s
}

/// Outcome of refreshing the plan file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanFileState {
    UpToDate,
    Written,
}

/// Write `kernel-plan.json` into `root` unless it already has this content.
pub fn write_plan_file(root: &Path, plan: &Plan) -> Result<PlanFileState> {
    let path = root.join(PLAN_FILE);
    let text = plan_file_json(plan);
    if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
        return Ok(PlanFileState::UpToDate);
    }
    write_atomic(&path, text.as_bytes())
        .map_err(|e| err!("{}: cannot write: {e}", path.display()))?;
    Ok(PlanFileState::Written)
}

/// Write the plan file to `path` (`nix plan-file --out`, the plan derivation
/// the flake builds when a kernel commits no plan file). Written in place:
/// the Nix store directory of `$out` takes no temporary files, and a failed
/// build discards `$out` anyway.
pub fn write_plan_file_to(path: &Path, plan: &Plan) -> Result<()> {
    std::fs::write(path, plan_file_json(plan))
        .map_err(|e| err!("{}: cannot write: {e}", path.display()))
}

/// What `plan --write` did.
#[derive(Debug, Clone, Serialize)]
pub struct PlanWriteReport {
    pub path: PathBuf,
    pub written: bool,
    pub variants: usize,
    /// Set when the plan file is not tracked by git (the flake cannot see it).
    pub warning: Option<String>,
}

impl kb_core::Report for PlanWriteReport {
    fn text(&self) -> String {
        String::new()
    }

    fn notes(&self) -> Vec<String> {
        if !self.written {
            return vec![format!("{} is up to date", self.path.display())];
        }
        let mut out = vec![format!(
            "wrote {} ({} variants); commit it with build.toml",
            self.path.display(),
            self.variants
        )];
        out.extend(self.warning.clone());
        out
    }
}

/// `plan --write`: refresh `kernel-plan.json` of the project.
pub fn write_plan(project: &KernelProject) -> Result<PlanWriteReport> {
    let path = project.root.join(PLAN_FILE);
    let written = write_plan_file(&project.root, &project.plan)? == PlanFileState::Written;
    Ok(PlanWriteReport {
        path,
        written,
        variants: project.plan.variants.len(),
        warning: if written {
            untracked_warning(&project.root)
        } else {
            None
        },
    })
}

/// A flake in a git repository only sees tracked files: warn when the plan
/// file is untracked.
fn untracked_warning(root: &Path) -> Option<String> {
    let repo = git2::Repository::discover(root).ok()?;
    let workdir = repo.workdir()?.canonicalize().ok()?;
    let file = root.canonicalize().ok()?.join(PLAN_FILE);
    let rel = file.strip_prefix(&workdir).ok()?;
    let status = repo.status_file(rel).ok()?;
    if status.contains(git2::Status::WT_NEW) {
        Some(format!(
            "note: {PLAN_FILE} is not tracked by git, so the flake cannot see it: run `git add {}`",
            rel.display()
        ))
    } else {
        None
    }
}

// ------------------------------------------------------------ Nix presence

/// What `nix` reports about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NixInfo {
    pub path: PathBuf,
    /// `2.28.4`
    pub version: String,
    pub determinate: bool,
    /// Settings from `nix config show` / `nix show-config` (key -> value).
    pub config: std::collections::BTreeMap<String, String>,
}

impl NixInfo {
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.config.get(key).map(|s| s.as_str())
    }

    pub fn list(&self, key: &str) -> Vec<String> {
        self.setting(key)
            .map(|s| s.split_whitespace().map(|x| x.to_string()).collect())
            .unwrap_or_default()
    }

    /// Flakes usable without extra flags (for `nix run .#...` by hand).
    pub fn flakes_enabled(&self) -> bool {
        self.determinate
            || self
                .list("experimental-features")
                .iter()
                .any(|f| f == "flakes")
    }

    /// `true`, `false` or `relaxed`.
    pub fn sandbox(&self) -> &str {
        self.setting("sandbox").unwrap_or("unknown")
    }

    pub fn version_tuple(&self) -> (u32, u32) {
        parse_version(&self.version)
    }
}

fn parse_version(v: &str) -> (u32, u32) {
    let mut it = v.split(|c: char| !c.is_ascii_digit());
    let major = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let minor = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    (major, minor)
}

/// Why the Nix backend cannot be used, each with the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NixProblem {
    #[error("Nix is not installed (no `nix` on PATH).\n  fix: install Nix (Linux: https://nixos.org/download, macOS: the Determinate Nix installer), or build with the host toolchain: `kernel-builder build --local`")]
    NotInstalled,
    #[error("`nix --version` failed: {0}\n  fix: repair the Nix installation (`nix --version` must work), or use `--local`")]
    Broken(String),
    #[error("Nix {found} is too old; kernel-builder needs Nix >= {}.{}\n  fix: upgrade Nix (e.g. `nix upgrade-nix` as root, or reinstall)", MIN_NIX.0, MIN_NIX.1)]
    TooOld { found: String },
    #[error("the Nix sandbox is off (`sandbox = {value}`); kernels must only be built sandboxed\n  fix: set `sandbox = true` in /etc/nix/nix.conf and restart the daemon (`sudo systemctl restart nix-daemon`)")]
    SandboxOff { value: String },
}

/// Parse `key = value` lines of `nix config show`.
pub fn parse_config(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(" = ")?;
            Some((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

/// Run `nix` with kernel-builder's feature flags.
pub fn nix_command(nix: &Path) -> Command {
    let mut c = Command::new(nix);
    c.args(["--extra-experimental-features", NIX_FEATURES]);
    c
}

/// Find `nix`, read its version and configuration. Problems that make builds
/// impossible or unsafe are errors; the rest is left to `doctor`.
pub fn nix_info() -> Result<NixInfo, NixProblem> {
    let path = which::which("nix").map_err(|_| NixProblem::NotInstalled)?;
    let out = Command::new(&path)
        .arg("--version")
        .output()
        .map_err(|e| NixProblem::Broken(e.to_string()))?;
    if !out.status.success() {
        return Err(NixProblem::Broken(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    // `nix (Nix) 2.28.4`, `nix (Determinate Nix 3.6.2) 2.29.0`
    let version = text
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    let determinate = text.contains("Determinate");
    let mut config = std::collections::BTreeMap::new();
    for args in [&["config", "show"][..], &["show-config"][..]] {
        if let Ok(o) = Command::new(&path)
            .args(["--extra-experimental-features", "nix-command"])
            .args(args)
            .output()
        {
            if o.status.success() {
                config = parse_config(&String::from_utf8_lossy(&o.stdout));
                break;
            }
        }
    }
    Ok(NixInfo {
        path,
        version,
        determinate,
        config,
    })
}

/// Nix usable for kernel builds: installed, recent enough, sandboxed (on
/// Linux; macOS builds are not sandboxed by Nix's default).
pub fn nix_available() -> Result<NixInfo, NixProblem> {
    let info = nix_info()?;
    if info.version_tuple() < MIN_NIX {
        return Err(NixProblem::TooOld {
            found: info.version.clone(),
        });
    }
    if cfg!(target_os = "linux") && info.sandbox() == "false" {
        return Err(NixProblem::SandboxOff {
            value: info.sandbox().to_string(),
        });
    }
    Ok(info)
}

// ------------------------------------------------------------ build & copy

/// The flake reference of the kernel directory (Nix detects git itself).
pub fn flake_ref(root: &Path, attr: &str) -> Result<String> {
    let abs = root.canonicalize().map_err(|e| Error::io(root, e))?;
    if !abs.join("flake.nix").is_file() {
        bail!(
            "{} has no flake.nix\n  fix: create one with `nix flake init -t <kernel-builder flake>` (see templates/flake), or build with the host toolchain: `kernel-builder build --local`",
            abs.display()
        );
    }
    Ok(format!("{}#{attr}", abs.display()))
}

/// The flake attribute that builds `variant` (on its own system, so remote
/// builders configured in Nix can build other systems' variants).
pub fn variant_attr(v: &Variant, host: &str) -> String {
    let system = v.system.as_deref().unwrap_or(host);
    format!("packages.{system}.redistributable.{}", v.name)
}

fn common_flags(
    cmd: &mut Command,
    max_jobs: Option<usize>,
    cores: Option<usize>,
    print_build_logs: bool,
) {
    if let Some(j) = max_jobs {
        cmd.args(["--max-jobs", &j.to_string()]);
    }
    if let Some(c) = cores {
        cmd.args(["--cores", &c.to_string()]);
    }
    if print_build_logs {
        cmd.arg("-L");
    }
}

/// Refresh the plan file (telling the user when it changed).
fn prepare(project: &KernelProject, progress: &dyn Progress) -> Result<()> {
    let root = &project.root;
    if write_plan_file(root, &project.plan)? == PlanFileState::Written {
        progress.note(&format!(
            "updated {} from build.toml; commit it",
            root.join(PLAN_FILE).display()
        ));
        if let Some(w) = untracked_warning(root) {
            // The flake then computes the plan itself (slower the first time).
            progress.warn(&format!(
                "{w}; until then the flake computes the plan itself"
            ));
        }
    }
    Ok(())
}

/// The attributes `build` asks Nix for: the named variants, or the host's bundle.
pub fn build_attrs(plan: &Plan, variants: &[String], host: &str) -> Result<Vec<String>> {
    if variants.is_empty() {
        if !plan
            .variants
            .iter()
            .any(|v| v.system.as_deref().is_none_or(|s| s == host))
        {
            bail!(
                "{} has no variants for this system ({host}); pass --variant to build another system's variant on a remote builder",
                plan.kernel.name
            );
        }
        return Ok(vec![format!("packages.{host}.bundle")]);
    }
    variants
        .iter()
        .map(|n| {
            plan.variant(n).map(|v| variant_attr(v, host)).ok_or_else(|| {
                err!("`{n}` is not a variant of this kernel; `kernel-builder list-variants` shows them")
            })
        })
        .collect()
}

/// Output paths from `nix build --json`.
pub fn parse_build_json(text: &str) -> Result<Vec<PathBuf>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for item in v.as_array().ok_or("expected a JSON array")? {
        for (_, p) in item["outputs"].as_object().ok_or("entry without outputs")? {
            out.push(PathBuf::from(
                p.as_str().ok_or("output path is not a string")?,
            ));
        }
    }
    Ok(out)
}

/// Copy a variant (a store output: read-only; copies are writable) with the
/// one walk, so nothing outside the variant is read. The variant directory
/// itself may be a link (bundle outputs link to variant outputs).
fn copy_tree(src: &Path, dest: &Path) -> std::io::Result<()> {
    let src = src.canonicalize()?;
    let files = kb_core::walk::files(&src, kb_core::walk::Rule::Variant)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    std::fs::create_dir_all(dest)?;
    for f in files {
        let to = dest.join(&f.rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)?;
            make_writable(parent)?;
        }
        std::fs::copy(&f.path, &to)?;
        make_writable(&to)?;
    }
    make_writable(dest)
}

fn make_writable(p: &Path) -> std::io::Result<()> {
    let mut perm = std::fs::metadata(p)?.permissions();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        perm.set_mode(perm.mode() | 0o200);
    }
    #[cfg(not(unix))]
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(p, perm)
}

/// Replace `build/<name>` with a copy of `src` so that readers see the old or
/// the new variant, never a mix: the copy is made next to the destination and
/// exchanged with `renameat2(RENAME_EXCHANGE)` on Linux (rename-aside
/// elsewhere). An interrupted copy leaves the previous variant intact.
pub fn replace_variant_dir(src: &Path, build_dir: &Path, name: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(build_dir)?;
    let dest = build_dir.join(name);
    let stage = tempfile::Builder::new()
        .prefix(&format!(".{name}.new-"))
        .tempdir_in(build_dir)?;
    let staged = stage.path().join(name);
    copy_tree(src, &staged)?;
    // The stage (removed on drop) ends up holding the old variant, if any.
    super::exchange_dirs(&staged, &dest)
}

/// Variant directories inside a Nix output: the output itself when it is one
/// variant (`$out/<variant>`), or each `<variant>` of a bundle.
fn variant_dirs(out: &Path, plan: &Plan) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut found = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(out)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if plan.variant(&name).is_some() {
            found.push((name, e.path()));
        }
    }
    Ok(found)
}

/// What a Nix build installed.
#[derive(Debug, Clone, Serialize)]
pub struct NixBuildReport {
    pub nix_version: String,
    pub attributes: Vec<String>,
    pub build_dir: PathBuf,
    pub variants: Vec<String>,
}

impl NixBuildReport {
    pub fn text(&self) -> String {
        let mut s = String::new();
        for n in &self.variants {
            s.push_str(&format!("  {n} -> {}\n", self.build_dir.join(n).display()));
        }
        s.push_str(&format!(
            "{} variant(s) in {}\n",
            self.variants.len(),
            self.build_dir.display()
        ));
        s
    }
}

/// `build` / `build-and-copy` through Nix: build the host bundle (or the
/// named variants), then copy each variant into `<kernel>/build/` atomically.
pub fn build(
    project: &KernelProject,
    args: &BuildOptions,
    progress: &dyn Progress,
) -> Result<NixBuildReport> {
    let info = nix_available().map_err(|p| err!("{p}"))?;
    prepare(project, progress)?;
    let root = &project.root;
    let plan = &project.plan;
    let host = host_system();
    let attrs = build_attrs(plan, &args.variants, &host)?;
    let mut cmd = nix_command(&info.path);
    cmd.args(["build", "--no-link", "--json"]);
    common_flags(&mut cmd, args.max_jobs, args.cores, args.print_build_logs);
    for a in &attrs {
        cmd.arg(flake_ref(root, a)?);
    }
    progress.note(&format!(
        "building {} with Nix {}",
        attrs.join(", "),
        info.version
    ));
    let out = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| err!("cannot run nix: {e}"))?;
    if !out.status.success() {
        bail!("the Nix build failed (see the log above; rerun with -L for full build logs)");
    }
    let paths = parse_build_json(&String::from_utf8_lossy(&out.stdout))
        .map_err(|e| err!("unexpected `nix build --json` output: {e}"))?;
    let build_dir = root.join("build");
    let mut copied = Vec::new();
    for p in &paths {
        for (name, dir) in variant_dirs(p, plan).map_err(|e| Error::io(p, e))? {
            replace_variant_dir(&dir, &build_dir, &name)
                .map_err(|e| err!("copying {name} into {}: {e}", build_dir.display()))?;
            copied.push(name);
        }
    }
    if copied.is_empty() {
        bail!("the Nix build produced no variant directories (is the flake's kernel-builder input current?)");
    }
    Ok(NixBuildReport {
        nix_version: info.version,
        attributes: attrs,
        build_dir,
        variants: copied,
    })
}

fn shell_attr(plan: &Plan, variant: Option<&str>, host: &str, test: bool) -> Result<String> {
    let name = match variant {
        None => {
            return Ok(format!(
                "devShells.{host}.{}",
                if test { "test" } else { "default" }
            ))
        }
        Some(n) => n,
    };
    let v = plan.variant(name).ok_or_else(|| {
        err!("`{name}` is not a variant of this kernel; `kernel-builder list-variants` shows them")
    })?;
    if v.system.as_deref().is_some_and(|s| s != host) {
        bail!(
            "`{name}` is a {} variant; a shell needs a variant of this system ({host}): `kernel-builder list-variants --arch`",
            v.system.as_deref().unwrap_or_default()
        );
    }
    Ok(if test {
        format!("devShells.{host}.test-{name}")
    } else {
        format!("devShells.{host}.{name}")
    })
}

/// What `devshell` / `testshell` open.
#[derive(Debug, Clone, Default)]
pub struct ShellOptions {
    pub variant: Option<String>,
    pub max_jobs: Option<usize>,
    pub cores: Option<usize>,
    pub print_build_logs: bool,
}

/// The `nix develop` command line of a shell (without running it).
pub fn shell_command(
    project: &KernelProject,
    args: &ShellOptions,
    test: bool,
    progress: &dyn Progress,
) -> Result<Command> {
    let info = nix_available().map_err(|p| err!("{p}"))?;
    prepare(project, progress)?;
    let attr = shell_attr(&project.plan, args.variant.as_deref(), &host_system(), test)?;
    let mut cmd = nix_command(&info.path);
    cmd.arg("develop");
    common_flags(&mut cmd, args.max_jobs, args.cores, args.print_build_logs);
    cmd.arg(flake_ref(&project.root, &attr)?);
    cmd.current_dir(&project.root);
    Ok(cmd)
}

// ------------------------------------------------------- inside the sandbox

/// `nix install-variant`: assemble a built variant (a step of the Nix
/// variant derivation).
#[derive(Debug, Clone)]
pub struct InstallVariantOptions {
    pub variant: String,
    /// Unique part of the ops name (the flake passes the short commit).
    pub unique_id: String,
    /// CMake build directory holding `<ops_name>.abi3.so` (native variants).
    pub build_dir: Option<PathBuf>,
    /// Output prefix; the variant goes to `<out>/<variant>`.
    pub out: PathBuf,
}

/// What `nix install-variant` assembled.
#[derive(Debug, Clone, Serialize)]
pub struct InstallReport {
    pub variant: String,
    pub ops_name: String,
    pub dir: PathBuf,
}

impl kb_core::Report for InstallReport {
    fn text(&self) -> String {
        String::new()
    }

    fn notes(&self) -> Vec<String> {
        vec![format!(
            "assembled {} (ops name {}) in {}",
            self.variant,
            self.ops_name,
            self.dir.display()
        )]
    }
}

/// `metadata.json` of a Nix build. Provenance: the kernel commit from the
/// flake (`KB_KERNEL_COMMIT`, `KB_KERNEL_DIRTY`), the builder commit baked
/// into this binary; toolchain facts from `KB_TOOLCHAIN` (JSON).
pub fn nix_metadata(plan: &Plan, v: &Variant, ops_name: &str) -> Metadata {
    let commit = std::env::var("KB_KERNEL_COMMIT")
        .ok()
        .filter(|c| c.len() == 40 && c.bytes().all(|b| b.is_ascii_hexdigit()));
    let kernel = commit.as_deref().map(|c| super::KernelProvenance {
        commit: c,
        dirty: std::env::var("KB_KERNEL_DIRTY").as_deref() == Ok("1"),
    });
    let toolchain = std::env::var("KB_TOOLCHAIN")
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .unwrap_or_else(|| json!({}));
    super::variant_metadata(
        plan,
        v,
        ops_name,
        kernel,
        BuildInfo {
            kind: Some(kb_core::metadata::KIND_NIX.into()),
            compliant: Some(true),
            toolchain: Some(toolchain),
            abi_findings: Some(Vec::new()),
            ..BuildInfo::default()
        },
    )
}

pub fn install_variant(
    project: &KernelProject,
    a: &InstallVariantOptions,
) -> Result<InstallReport> {
    let plan = &project.plan;
    let root = &project.root;
    let v = plan
        .variant(&a.variant)
        .ok_or_else(|| err!("`{}` is not a variant of {}", a.variant, plan.kernel.name))?;
    kb_core::ops_id::check_unique_id(&a.unique_id).map_err(|e| err!("--unique-id: {e}"))?;
    let ops = kb_core::ops_id::ops_name(&plan.kernel.python_name, v.backend.as_str(), &a.unique_id);
    let dest = a.out.join(&v.name);
    if dest.exists() {
        bail!("{} already exists", dest.display());
    }
    let io = |what: &str, e: std::io::Error| err!("{what}: {e}");
    std::fs::create_dir_all(&dest).map_err(|e| io(&dest.display().to_string(), e))?;
    let pkg = root.join(&plan.kernel.python_package);
    if !pkg.join("__init__.py").is_file() {
        bail!(
            "{} has no __init__.py; the Python package of the kernel must exist",
            pkg.display()
        );
    }
    super::copy_package(&pkg, &dest, &plan.kernel.pyext)
        .map_err(|e| io("copying the Python package", e))?;
    let generated = crate::pyproject::generate(plan, v, None, &ops)
        .map_err(|e| err!("generating _ops.py: {e}"))?;
    let ops_py = generated
        .files
        .get(&PathBuf::from(&plan.kernel.python_package).join("_ops.py"))
        .ok_or_else(|| err!("the generated project has no _ops.py"))?;
    std::fs::write(dest.join("_ops.py"), ops_py).map_err(|e| io("writing _ops.py", e))?;
    if crate::pyproject::is_native(v) {
        let so_name = format!("{ops}.abi3.so");
        let build_dir = a
            .build_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from("build"));
        let so = build_dir.join(&so_name);
        if !so.is_file() {
            bail!(
                "the build did not produce {} (the CMake project must build the ops name {ops})",
                so.display()
            );
        }
        std::fs::copy(&so, dest.join(&so_name)).map_err(|e| io("copying the extension", e))?;
        make_writable(&dest.join(&so_name)).map_err(|e| io("chmod", e))?;
    }
    nix_metadata(plan, v, &ops).write(&dest)?;
    Ok(InstallReport {
        variant: v.name.clone(),
        ops_name: ops,
        dir: dest,
    })
}

/// Arguments of `nix` for a command line, as the user would type it.
pub fn describe(cmd: &Command) -> String {
    let mut parts: Vec<OsString> = vec![cmd.get_program().to_os_string()];
    parts.extend(cmd.get_args().map(|a| a.to_os_string()));
    parts
        .iter()
        .map(|p| {
            let s = p.to_string_lossy();
            if s.contains(' ') {
                format!("'{s}'")
            } else {
                s.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_config_parse() {
        assert_eq!(parse_version("2.28.4"), (2, 28));
        assert_eq!(parse_version("2.8.0"), (2, 8));
        assert!(parse_version("2.3.16") < MIN_NIX);
        let c = parse_config("sandbox = relaxed\nexperimental-features = nix-command flakes\nsubstituters = https://cache.nixos.org/ https://x.cachix.org\nbogus line\n");
        assert_eq!(c["sandbox"], "relaxed");
        let info = NixInfo {
            path: "nix".into(),
            version: "2.28.4".into(),
            determinate: false,
            config: c,
        };
        assert!(info.flakes_enabled());
        assert_eq!(info.list("substituters").len(), 2);
    }

    fn fixture_plan(name: &str) -> Plan {
        KernelProject::load(Some(&super::super::fixture(name)))
            .unwrap()
            .plan
    }

    #[test]
    fn default_variants_prefer_gpu_and_the_newest_framework() {
        let plan = fixture_plan("all-backends");
        let x86 = default_variant(&plan, "x86_64-linux").unwrap();
        assert_eq!(x86.backend, Backend::Cuda);
        let newest = plan
            .variants
            .iter()
            .filter_map(framework_version)
            .max()
            .unwrap();
        assert_eq!(framework_version(x86), Some(newest));
        let mac = default_variant(&plan, "aarch64-darwin").unwrap();
        assert_eq!(mac.backend, Backend::Metal);
        // Noarch kernels: a noarch variant on every system.
        let noarch = fixture_plan("noarch");
        let d = default_variant(&noarch, "aarch64-linux").unwrap();
        assert_eq!(d.system, None);
        assert_eq!(d.name, "torch-cuda");
        // The plan file carries the defaults and the matrix hash.
        let v: Value = serde_json::from_str(&plan_file_json(&plan)).unwrap();
        assert_eq!(v["default-variants"]["x86_64-linux"], json!(x86.name));
        assert_eq!(v["matrix-sha256"], json!(matrix_sha256()));
        assert_eq!(v["variants"].as_array().unwrap().len(), plan.variants.len());
    }

    #[test]
    fn attributes_for_build_and_shells() {
        let plan = fixture_plan("all-backends");
        assert_eq!(
            build_attrs(&plan, &[], "x86_64-linux").unwrap(),
            vec!["packages.x86_64-linux.bundle"]
        );
        let arm = plan
            .variants
            .iter()
            .find(|v| v.system.as_deref() == Some("aarch64-linux"))
            .unwrap();
        // Another system's variant is built on its own system (remote builders).
        assert_eq!(
            build_attrs(&plan, std::slice::from_ref(&arm.name), "x86_64-linux").unwrap(),
            vec![format!(
                "packages.aarch64-linux.redistributable.{}",
                arm.name
            )]
        );
        let e = build_attrs(&plan, &["torch999-nope".into()], "x86_64-linux").unwrap_err();
        assert!(e.to_string().contains("list-variants"));
        assert!(build_attrs(&plan, &[], "riscv64-linux").is_err());
        assert_eq!(
            shell_attr(&plan, None, "x86_64-linux", true).unwrap(),
            "devShells.x86_64-linux.test"
        );
        let e = shell_attr(&plan, Some(&arm.name), "x86_64-linux", false).unwrap_err();
        assert!(e.to_string().contains("aarch64-linux variant"), "{e}");
        assert_eq!(
            shell_attr(&plan, Some(&arm.name), "aarch64-linux", true).unwrap(),
            format!("devShells.aarch64-linux.test-{}", arm.name)
        );
    }

    #[test]
    fn build_json_outputs() {
        let j = r#"[{"drvPath":"/nix/store/a.drv","outputs":{"out":"/nix/store/x-bundle"}},{"drvPath":"/nix/store/b.drv","outputs":{"out":"/nix/store/y"}}]"#;
        assert_eq!(
            parse_build_json(j).unwrap(),
            vec![
                PathBuf::from("/nix/store/x-bundle"),
                PathBuf::from("/nix/store/y")
            ]
        );
        assert!(parse_build_json("{}").is_err());
    }

    #[test]
    fn replacing_a_variant_is_atomic_and_keeps_it_on_failure() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("a.py"), "new").unwrap();
        std::fs::write(src.join("sub/b.py"), "new").unwrap();
        let build = d.path().join("build");
        std::fs::create_dir_all(build.join("v")).unwrap();
        std::fs::write(build.join("v/old.py"), "old").unwrap();
        replace_variant_dir(&src, &build, "v").unwrap();
        assert_eq!(
            std::fs::read_to_string(build.join("v/a.py")).unwrap(),
            "new"
        );
        assert!(!build.join("v/old.py").exists());
        // Only the variant remains: no staging leftovers.
        let names: Vec<_> = std::fs::read_dir(&build)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["v"]);
        // A source that cannot be read leaves the installed variant intact.
        assert!(replace_variant_dir(&d.path().join("missing"), &build, "v").is_err());
        assert_eq!(
            std::fs::read_to_string(build.join("v/a.py")).unwrap(),
            "new"
        );
        assert_eq!(std::fs::read_dir(&build).unwrap().count(), 1);
    }
}
