//! The local backend: builds variants with the host compiler and a toolchain
//! provisioned from PyPI. The glibc compatibility layer (`glibc_compat`) keeps
//! the modules within manylinux_2_28; whether a variant is Hub-compliant is
//! measured after the build (`checks::compliance`) and recorded in
//! `metadata.json` `build-info`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde_json::json;

use super::glibc_compat::{self, CompatPlan};
use super::toolchain::{self, CudaToolkit, TorchEnv};
use crate::checks::compliance::{self, Evidence, Loader};
use crate::checks::verify::{Probe, Status as VerifyStatus};
use crate::cli::BuildArgs;
use crate::commands::{compute_plan, load_config, CmdResult, Failure};
use crate::config::Backend;
use crate::matrix::host_system;
use crate::ops_id::{self, GitState};
use crate::plan::{Plan, Systems, Variant};
use crate::pyproject;

/// Work files live next to the sources (like Cargo's `target/`), never in `build/`.
pub const WORK_DIR: &str = ".kernel-builder";

#[derive(Debug, Clone)]
pub enum Status {
    Built {
        compiled: bool,
        abi_findings: Vec<String>,
        /// Why the variant is not Hub-compliant; empty: it is.
        noncompliant: Vec<String>,
    },
    UpToDate,
    Failed(String),
    Skipped(String),
}

#[derive(Debug, Clone)]
pub struct VariantResult {
    pub name: String,
    pub status: Status,
    pub elapsed: Duration,
    pub log: Option<PathBuf>,
}

/// Why the host cannot build `v`, if it cannot.
pub fn unsupported_reason(v: &Variant, host: &str) -> Option<String> {
    if v.framework == "tvm-ffi" {
        return Some("tvm-ffi variants are built by the Nix backend".into());
    }
    if let Some(s) = &v.system {
        if s != host {
            return Some(format!("built on {s}, this host is {host}"));
        }
    }
    if v.framework == "torch-noarch" {
        return None;
    }
    match v.backend {
        Backend::Cpu => {
            if which::which("c++").or_else(|_| which::which("g++")).is_err() {
                return Some("no C++ compiler (c++/g++) on PATH".into());
            }
            None
        }
        Backend::Cuda if host.ends_with("-linux") => {
            if which::which("c++").or_else(|_| which::which("g++")).is_err() {
                return Some("nvcc needs a host C++ compiler (g++) on PATH".into());
            }
            None
        }
        Backend::Rocm => Some("ROCm builds of torch are not on PyPI; use the Nix backend".into()),
        Backend::Xpu => Some("XPU builds of torch are not on PyPI and no SYCL compiler is provisioned; use the Nix backend".into()),
        Backend::Metal => Some("Metal variants build on macOS only".into()),
        b => Some(format!("{b} kernels have no compiled variants")),
    }
}

struct Ctx<'a> {
    plan: &'a Plan,
    root: PathBuf,
    unique: String,
    git: Option<GitState>,
    args: &'a BuildArgs,
    /// Loader probes per interpreter: one Python start per build, not per variant.
    probes: std::sync::Mutex<BTreeMap<PathBuf, std::result::Result<Probe, String>>>,
    /// The glibc compatibility plan of this host (read once per build).
    compat: std::sync::OnceLock<std::result::Result<CompatPlan, String>>,
}

impl Ctx<'_> {
    fn probe(&self, python: &Path) -> Result<Probe> {
        let mut cache = self.probes.lock().expect("probe cache lock");
        let entry = cache.entry(python.to_path_buf()).or_insert_with(|| {
            let home = tempfile::tempdir().map_err(|e| e.to_string())?;
            crate::checks::verify::probe(python, home.path())
        });
        entry
            .clone()
            .map_err(|e| anyhow!("probing {} for the get_kernel check: {e}", python.display()))
    }

    fn compat_plan(&self) -> Result<&CompatPlan> {
        self.compat
            .get_or_init(|| {
                let cxx = glibc_compat::host_cxx()
                    .ok_or_else(|| "no C++ compiler (c++/g++) on PATH".to_string())?;
                glibc_compat::host_plan(&cxx, compliance::MANYLINUX).map_err(|e| format!("{e:#}"))
            })
            .as_ref()
            .map_err(|e| anyhow!("glibc compatibility: {e}"))
    }
}

pub fn build(args: &BuildArgs) -> CmdResult {
    let loaded = load_config(args.kernel_dir.as_deref())?;
    let host = host_system();
    let plan = compute_plan(&loaded, &Systems::All)?;
    let root = loaded
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .canonicalize()
        .map_err(|e| Failure::new(1, format!("error: kernel directory: {e}")))?;

    let mut selected: Vec<&Variant> = Vec::new();
    if args.variants.is_empty() {
        selected.extend(
            plan.variants
                .iter()
                .filter(|v| v.system.as_deref().is_none_or(|s| s == host)),
        );
    } else {
        for name in &args.variants {
            match plan.variant(name) {
                Some(v) => selected.push(v),
                None => {
                    let names: Vec<&str> = plan.variants.iter().map(|v| v.name.as_str()).collect();
                    let hint = crate::config::diag::did_you_mean(name, &names)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    return Err(Failure::new(1, format!("error: `{name}` is not a variant of this kernel{hint}; `kernel-builder list-variants` shows them")));
                }
            }
        }
    }

    let git = ops_id::git_state(&root);
    let unique = match &git {
        Some(g) => g.unique_id(),
        None => {
            persistent_random_id(&root).map_err(|e| Failure::new(1, format!("error: {e:#}")))?
        }
    };
    let ctx = Ctx {
        plan: &plan,
        root: root.clone(),
        unique,
        git,
        args,
        probes: Default::default(),
        compat: Default::default(),
    };

    let mp = MultiProgress::new();
    if args.print_build_logs {
        mp.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg} {elapsed:>4}")
        .expect("valid template");
    let jobs = args.max_jobs.unwrap_or(1).max(1);
    let mut results: Vec<VariantResult> = Vec::new();
    let (todo, skipped): (Vec<&Variant>, Vec<&Variant>) = selected
        .into_iter()
        .partition(|v| unsupported_reason(v, &host).is_none());
    for v in &skipped {
        results.push(VariantResult {
            name: v.name.clone(),
            status: Status::Skipped(unsupported_reason(v, &host).unwrap_or_default()),
            elapsed: Duration::ZERO,
            log: None,
        });
    }
    let queue = std::sync::Mutex::new(todo.into_iter());
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let next = queue.lock().expect("queue lock").next();
                let Some(v) = next else { break };
                let pb = mp.add(ProgressBar::new_spinner());
                pb.set_style(style.clone());
                pb.set_prefix(v.name.clone());
                pb.enable_steady_tick(Duration::from_millis(120));
                let start = Instant::now();
                let log = ctx.root.join(WORK_DIR).join(&v.name).join("build.log");
                let status = match build_variant(&ctx, v, &pb, &log) {
                    Ok(s) => s,
                    Err(e) => Status::Failed(format!("{e:#}")),
                };
                let elapsed = start.elapsed();
                pb.finish_with_message(match &status {
                    Status::Built { .. } => "built".to_string(),
                    Status::UpToDate => "up to date".to_string(),
                    Status::Failed(_) => "FAILED".to_string(),
                    Status::Skipped(r) => format!("skipped: {r}"),
                });
                done.lock().expect("results lock").push(VariantResult {
                    name: v.name.clone(),
                    status,
                    elapsed,
                    log: Some(log),
                });
            });
        }
    });
    results.extend(done.into_inner().expect("results lock"));
    results.sort_by(|a, b| a.name.cmp(&b.name));
    print_summary(&results);
    let failed = results
        .iter()
        .filter(|r| matches!(r.status, Status::Failed(_)))
        .count();
    let requested_skips = !args.variants.is_empty()
        && results
            .iter()
            .any(|r| matches!(r.status, Status::Skipped(_)));
    if failed > 0 || requested_skips {
        return Err(Failure::new(
            1,
            format!(
                "error: {failed} variant(s) failed{}",
                if requested_skips {
                    ", requested variants were skipped"
                } else {
                    ""
                }
            ),
        ));
    }
    if results
        .iter()
        .all(|r| matches!(r.status, Status::Skipped(_)))
    {
        return Err(Failure::new(1, "error: this host can build none of the variants; install Nix to use the sandboxed builder"));
    }
    Ok(0)
}

fn persistent_random_id(root: &Path) -> Result<String> {
    let path = root.join(WORK_DIR).join("random-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim().to_string();
        if ops_id::check_unique_id(&id).is_ok() {
            return Ok(id);
        }
    }
    let id = ops_id::random_id();
    std::fs::create_dir_all(path.parent().expect("has parent"))?;
    std::fs::write(&path, &id)?;
    Ok(id)
}

fn print_summary(results: &[VariantResult]) {
    let mut out = std::io::stderr().lock();
    let width = results
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(
        out,
        "\n{:width$}  {:<10}  {:>7}  NOTES",
        "VARIANT", "STATUS", "TIME"
    );
    for r in results {
        let (status, notes) = match &r.status {
            Status::Built {
                compiled,
                noncompliant,
                ..
            } => {
                let mut n = if noncompliant.is_empty() {
                    vec!["Hub-compliant".to_string()]
                } else {
                    vec![format!("NOT Hub-compliant: {}", noncompliant.join("; "))]
                };
                if !compiled {
                    n.push("no compile work".into());
                }
                ("built", n.join("; "))
            }
            Status::UpToDate => ("up to date", String::new()),
            Status::Failed(_) => (
                "FAILED",
                r.log
                    .as_ref()
                    .map(|l| format!("log: {}", l.display()))
                    .unwrap_or_default(),
            ),
            Status::Skipped(reason) => ("skipped", reason.clone()),
        };
        let time = if r.elapsed.is_zero() {
            "-".to_string()
        } else {
            format!("{:.1}s", r.elapsed.as_secs_f64())
        };
        let _ = writeln!(
            out,
            "{:width$}  {:<10}  {:>7}  {notes}",
            r.name, status, time
        );
    }
    for r in results {
        match &r.status {
            Status::Built { abi_findings, .. } if !abi_findings.is_empty() => {
                let _ = writeln!(
                    out,
                    "\nwarning: {}: ABI findings (recorded in metadata.json `build-info`):",
                    r.name
                );
                for f in abi_findings {
                    let _ = writeln!(out, "  {f}");
                }
            }
            Status::Failed(msg) => {
                let _ = writeln!(out, "\nerror: {} failed:\n{msg}", r.name);
            }
            _ => {}
        }
    }
}

/// Run a command, appending its output to `log` (and to stderr with `-L`).
/// Run a command with stdout and stderr merged, appending the output to
/// `log`; with `-L` each line also goes to stderr as it is produced.
fn run(cmd: &mut Command, log: &Path, echo: bool, what: &str) -> Result<String> {
    use std::io::BufRead;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    writeln!(f, "$ {cmd:?}")?;
    let args: Vec<std::ffi::OsString> = cmd.get_args().map(|a| a.to_os_string()).collect();
    let mut expr = duct::cmd(cmd.get_program(), args)
        .stderr_to_stdout()
        .unchecked();
    if let Some(dir) = cmd.get_current_dir() {
        expr = expr.dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        expr = match v {
            Some(v) => expr.env(k, v),
            None => expr.env_remove(k),
        };
    }
    let reader = expr
        .reader()
        .with_context(|| format!("{what}: cannot start {:?}", cmd.get_program()))?;
    let mut text = String::new();
    let mut lines = std::io::BufReader::new(&reader);
    let mut line = Vec::new();
    while lines.read_until(b'\n', &mut line)? > 0 {
        let l = String::from_utf8_lossy(&line);
        f.write_all(l.as_bytes())?;
        if echo {
            eprint!("{l}");
        }
        text.push_str(&l);
        line.clear();
    }
    let status = reader.try_wait()?.map(|o| o.status);
    if !status.is_some_and(|s| s.success()) {
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        bail!(
            "{what} failed:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(text)
}

fn build_variant(ctx: &Ctx, v: &Variant, pb: &ProgressBar, log: &Path) -> Result<Status> {
    let work = ctx.root.join(WORK_DIR).join(&v.name);
    std::fs::create_dir_all(&work)?;
    let _ = std::fs::remove_file(log);
    let echo = ctx.args.print_build_logs;

    // Toolchain. Noarch variants use the newest torch of the matrix for checks.
    pb.set_message("provisioning toolchain");
    let torch_version = v
        .torch
        .as_ref()
        .map(|t| t.version.clone())
        .or_else(|| {
            crate::matrix::Matrix::get()
                .torch
                .keys()
                .next_back()
                .cloned()
        })
        .ok_or_else(|| anyhow!("no torch version for {}", v.name))?;
    let env = toolchain::torch_env(&torch_version, log)?;
    let cuda = match (v.backend, &v.toolkit, pyproject::is_native(v)) {
        (Backend::Cuda, Some(tk), true) => Some(toolchain::cuda_toolkit(tk, &env.python, log)?),
        _ => None,
    };

    let ops_name = ops_id::ops_name(
        &ctx.plan.kernel.python_name,
        v.backend.as_str(),
        &ctx.unique,
    );
    let project = work.join("project");
    let generated = pyproject::generate(ctx.plan, v, Some(&ctx.root), &ops_name)?;
    pyproject::write(&generated, &project, true)?;

    let mut compiled = false;
    let mut so_path = None;
    let cmake_dir = work.join("cmake");
    // glibc compatibility: the header and source are always written (empty
    // with --no-glibc-compat), so toggling it recompiles without reconfiguring.
    // glibc targets only (a macOS variant built on macOS has no glibc).
    let glibc_target = v.system.as_deref().is_some_and(|s| s.ends_with("-linux"));
    let compat = if pyproject::is_native(v) && glibc_target && !ctx.args.no_glibc_compat {
        Some(ctx.compat_plan()?)
    } else {
        None
    };
    let compat_dir = work.join(glibc_compat::DIR);
    if cuda.is_some() && compat_dir.to_string_lossy().contains(',') {
        bail!(
            "the path {} contains a comma, which nvcc's -Xcompiler cannot pass on; move the kernel to a path without commas",
            compat_dir.display()
        );
    }
    if pyproject::is_native(v) {
        let (header, source) = match compat {
            Some(p) => (p.header(), p.source()),
            None => glibc_compat::disabled_files(),
        };
        glibc_compat::write_files(&compat_dir, &header, &source)?;
    }
    if pyproject::is_native(v) {
        let mut cmd = Command::new(&env.cmake);
        cmd.arg("-S").arg(&project).arg("-B").arg(&cmake_dir).args([
            "-G",
            "Ninja",
            "-DCMAKE_BUILD_TYPE=Release",
        ]);
        cmd.arg(format!("-DCMAKE_MAKE_PROGRAM={}", env.ninja.display()));
        cmd.arg(format!("-DPython3_EXECUTABLE={}", env.python.display()));
        cmd.arg(format!("-DKB_GLIBC_COMPAT_DIR={}", compat_dir.display()));
        if let Some(tk) = &cuda {
            cmd.arg(format!("-DKB_NVCC={}", tk.nvcc.display()));
            cmd.arg(format!("-DKB_CUDART={}", tk.cudart.display()));
            let incs: Vec<String> = tk
                .include_dirs
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            cmd.arg(format!("-DKB_CUDA_INCLUDE_DIRS={}", incs.join(";")));
        }
        // Configure again when the arguments changed (e.g. a new toolkit).
        let args_file = work.join("configure-args");
        let args_now = format!("{cmd:?}");
        let reconfigure = !cmake_dir.join("CMakeCache.txt").exists()
            || !cmake_dir.join("build.ninja").exists()
            || std::fs::read_to_string(&args_file).ok().as_deref() != Some(args_now.as_str());
        if reconfigure {
            pb.set_message("configuring");
            run(&mut cmd, log, echo, "CMake configure")?;
            std::fs::write(&args_file, &args_now)?;
        }
        pb.set_message("compiling");
        let mut cmd = Command::new(&env.ninja);
        cmd.arg("-C").arg(&cmake_dir);
        if let Some(c) = ctx.args.cores {
            cmd.arg(format!("-j{c}"));
        }
        let out = run(&mut cmd, log, echo, "compile")?;
        compiled = !out.contains("ninja: no work to do");
        let so = cmake_dir.join(format!("{ops_name}.abi3.so"));
        if !so.exists() {
            bail!("the build did not produce {}", so.display());
        }
        so_path = Some(so);
    }

    // Assemble the variant in a staging directory next to the work files.
    pb.set_message("assembling");
    let stage_root = work.join("stage");
    let _ = std::fs::remove_dir_all(&stage_root);
    let stage = stage_root.join(&v.name);
    std::fs::create_dir_all(&stage)?;
    let pkg = ctx.root.join(&ctx.plan.kernel.python_package);
    if !pkg.is_dir() {
        bail!(
            "the Python package directory {} does not exist; create it with an `__init__.py`",
            pkg.display()
        );
    }
    super::copy_package(&pkg, &stage, &ctx.plan.kernel.pyext)?;
    let ops_py = generated
        .files
        .get(&PathBuf::from(&ctx.plan.kernel.python_package).join("_ops.py"))
        .expect("generated _ops.py");
    std::fs::write(stage.join("_ops.py"), ops_py)?;
    if let Some(so) = &so_path {
        std::fs::copy(so, stage.join(so.file_name().expect("file name")))?;
    }
    let mut metadata = metadata(ctx, v, &ops_name);
    write_metadata(&stage, &metadata)?;

    // Up to date: same content as the installed variant.
    let dest = ctx.root.join("build").join(&v.name);
    let fingerprint = fingerprint(&stage)?;
    let fp_file = work.join("fingerprint");
    if !compiled
        && dest.is_dir()
        && std::fs::read_to_string(&fp_file).ok().as_deref() == Some(fingerprint.as_str())
        && fingerprint_installed(&dest)? == fingerprint
    {
        return Ok(Status::UpToDate);
    }

    // Checks: layout and loader failures fail the variant; ABI findings, a
    // loader check this host cannot run and a toolchain that differs from the
    // plan make it non-compliant.
    let toolchain = toolchain_info(&env, cuda.as_ref());
    pb.set_message("checking");
    let abi_findings = match compliance::abi_findings(&stage) {
        Ok(f) => Ok(explain_findings(
            &f, compat, &env.ninja, &cmake_dir, &ctx.root,
        )),
        Err(e) => Err(e),
    };
    let probe = ctx.probe(&env.python)?;
    let verified = crate::checks::verify::verify_variant(&stage, &env.python, &probe, None, false);
    let loader = match verified.status {
        VerifyStatus::Ok => Loader::Passed,
        VerifyStatus::Skipped => Loader::NotRun(verified.reason.clone().unwrap_or_default()),
        VerifyStatus::Failed => {
            let mut msg = format!(
                "get_kernel check failed: {}",
                verified.reason.unwrap_or_default()
            );
            for p in &verified.problems {
                msg.push_str(&format!("\n  {p}"));
            }
            if let Some(l) = &verified.log {
                msg.push_str(&format!("\n{l}"));
            }
            bail!(msg);
        }
    };
    remove_bytecode(&stage)?;
    let digest = digest(&stage)?;
    metadata["digest"] =
        crate::checks::hash::digest_json(crate::checks::hash::Algorithm::Sha256, &digest);
    write_metadata(&stage, &metadata)?;
    check_layout(&stage, &ctx.plan.kernel.python_name)?;

    // The verdict (metadata.json is outside the digest, so it can change now).
    let evidence = Evidence {
        abi: abi_findings,
        layout: Vec::new(),
        loader,
        toolchain: Some(compliance::toolchain_mismatches(
            v,
            &env.torch_version,
            toolchain["nvcc"].as_str(),
        )),
    };
    let noncompliant = evidence.reasons();
    let glibc = match (compat, &so_path) {
        (Some(p), Some(so)) => p.summary(&glibc_compat::bindings_in_use(p, so)),
        (Some(p), None) => p.summary(&[]),
        (None, _) if pyproject::is_native(v) && !glibc_target => {
            json!({ "enabled": false, "why": "not a glibc (Linux) target" })
        }
        (None, _) if pyproject::is_native(v) => {
            json!({ "enabled": false, "why": "--no-glibc-compat" })
        }
        (None, _) => json!({ "enabled": false, "why": "no compiled code" }),
    };
    let abi_list = evidence.abi.clone().unwrap_or_else(|e| vec![e]);
    metadata["build-info"] = json!({
        "kind": compliance::LOCAL_KIND,
        "compliant": noncompliant.is_empty(),
        "reasons": noncompliant,
        "abi-findings": abi_list,
        "checks": evidence.checks_json(v.stable_abi.as_ref().map(|a| a.to_string()).as_deref()),
        "glibc-compat": glibc,
        "toolchain": toolchain,
    });
    write_metadata(&stage, &metadata)?;

    pb.set_message("installing");
    install_atomically(&stage, &dest)?;
    let _ = std::fs::remove_dir_all(&stage_root);
    std::fs::write(&fp_file, &fingerprint)?;
    Ok(Status::Built {
        compiled,
        abi_findings: abi_list,
        noncompliant,
    })
}

fn toolchain_info(env: &TorchEnv, cuda: Option<&CudaToolkit>) -> serde_json::Value {
    let cxx = which::which("c++")
        .or_else(|_| which::which("g++"))
        .map(|p| toolchain::tool_version(&p))
        .unwrap_or_default();
    let mut t = json!({
        "cxx": cxx,
        "torch": env.torch_version,
        "python": env.python_version,
        "cmake": toolchain::tool_version(&env.cmake),
        "libc": libc_version(),
    });
    if let Some(tk) = cuda {
        t["cuda"] = json!(tk.version);
        let out = Command::new(&tk.nvcc)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        t["nvcc"] = json!(out
            .lines()
            .find(|l| l.contains("release"))
            .unwrap_or("unknown")
            .trim());
    }
    t
}

fn libc_version() -> String {
    Command::new("ldd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.lines().next().map(str::to_string))
        .unwrap_or_default()
}

/// The variant's metadata; `build-info` is filled in once the checks ran.
fn metadata(ctx: &Ctx, v: &Variant, ops_name: &str) -> serde_json::Value {
    let kernel = ctx.git.as_ref().map(|g| super::KernelProvenance {
        commit: &g.commit,
        dirty: g.dirty,
    });
    let build_info = json!({ "kind": compliance::LOCAL_KIND, "compliant": false, "reasons": ["not checked yet"] });
    super::variant_metadata(ctx.plan, v, ops_name, kernel, build_info)
}

fn write_metadata(stage: &Path, m: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(m)?;
    text.push('\n');
    std::fs::write(stage.join("metadata.json"), text)?;
    Ok(())
}

/// sha256 (base64) of every file except the top-level `metadata.json` and bytecode.
fn digest(dir: &Path) -> Result<BTreeMap<String, String>> {
    crate::checks::hash::hash_variant(dir, crate::checks::hash::Algorithm::Sha256)
        .map_err(|e| anyhow!("{}: {}", e.path.display(), e.message))
}

/// Content fingerprint of a staged variant, ignoring check results and digests.
fn fingerprint(dir: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (rel, hash) in digest(dir)? {
        h.update(rel.as_bytes());
        h.update(hash.as_bytes());
    }
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("metadata.json"))?)?;
    let mut meta = meta;
    if let Some(m) = meta.as_object_mut() {
        m.remove("digest");
        m.remove("build-info");
    }
    h.update(serde_json::to_vec(&meta)?);
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn fingerprint_installed(dir: &Path) -> Result<String> {
    fingerprint(dir).or_else(|_| Ok(String::new()))
}

fn remove_bytecode(dir: &Path) -> Result<()> {
    for e in std::fs::read_dir(dir)?.filter_map(|e| e.ok()) {
        let p = e.path();
        if e.file_type()?.is_dir() {
            if e.file_name() == "__pycache__" {
                std::fs::remove_dir_all(&p)?;
            } else {
                remove_bytecode(&p)?;
            }
        } else if p.extension().is_some_and(|x| x == "pyc") {
            std::fs::remove_file(&p)?;
        }
    }
    Ok(())
}

/// Replace `dest` with the staged variant in one step (see `exchange_dirs`).
fn install_atomically(stage: &Path, dest: &Path) -> Result<()> {
    std::fs::create_dir_all(dest.parent().expect("build dir"))?;
    super::exchange_dirs(stage, dest).with_context(|| format!("installing {}", dest.display()))?;
    if stage.exists() {
        std::fs::remove_dir_all(stage)?;
    }
    Ok(())
}

/// The verifier's layout check (flat package, metadata agreeing with the
/// variant name and module, digest, op namespaces in Python sources).
fn check_layout(stage: &Path, python_name: &str) -> Result<()> {
    let report = crate::checks::layout::check_variant_layout(stage, Some(python_name));
    if report.has_errors() {
        let lines: Vec<String> = report.issues.iter().map(|i| i.to_string()).collect();
        bail!("layout check failed:\n  {}", lines.join("\n  "));
    }
    Ok(())
}

/// ABI findings as recorded: each with why the glibc compatibility layer
/// left it (when it knows) and the sources whose objects reference the symbol.
fn explain_findings(
    findings: &[compliance::Finding],
    compat: Option<&CompatPlan>,
    ninja: &Path,
    build_dir: &Path,
    root: &Path,
) -> Vec<String> {
    use crate::checks::abi::ViolationKind;
    let symbols: std::collections::BTreeSet<String> = findings
        .iter()
        .filter(|f| f.violation.kind == ViolationKind::SymbolVersion)
        .filter_map(|f| f.violation.symbol.clone())
        .collect();
    let module = findings.first().map(|f| f.file.clone()).unwrap_or_default();
    let sources = glibc_compat::sources_referencing(ninja, build_dir, &module, &symbols);
    findings
        .iter()
        .map(|f| {
            let mut line = f.to_string();
            let (Some(sym), ViolationKind::SymbolVersion) = (&f.violation.symbol, f.violation.kind)
            else {
                return line;
            };
            let why = match compat {
                Some(p) => p.explain(sym, &f.violation.required),
                None if f.violation.required.starts_with("GLIBC_") => {
                    Some("glibc compatibility is off (--no-glibc-compat)".to_string())
                }
                None => None,
            };
            if let Some(why) = why {
                line.push_str(&format!("; {why}"));
            }
            match sources.get(sym) {
                Some(files) => {
                    let files: Vec<String> = files
                        .iter()
                        .map(|s| {
                            Path::new(s)
                                .strip_prefix(root)
                                .map(|p| p.display().to_string())
                                .unwrap_or_else(|_| s.clone())
                        })
                        .collect();
                    line.push_str(&format!("; referenced from {}", files.join(", ")));
                }
                None => line.push_str(
                    "; not referenced by any compiled source (it comes from a linked library)",
                ),
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk_files(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.filter_map(|e| e.ok()).collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let p = e.path();
            if e.file_type()?.is_dir() {
                if e.file_name() != "__pycache__" {
                    walk_files(&p, base, out)?;
                }
            } else {
                let rel = p
                    .strip_prefix(base)
                    .expect("under base")
                    .to_string_lossy()
                    .replace('\\', "/");
                if !rel.ends_with(".pyc") {
                    out.push((rel, p));
                }
            }
        }
        Ok(())
    }

    fn write(p: &Path, s: &str) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, s).unwrap();
    }

    #[test]
    fn install_replaces_the_whole_directory() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("build/v");
        let stage = d.path().join("stage/v");
        write(&stage.join("a.py"), "new");
        install_atomically(&stage, &dest).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("a.py")).unwrap(), "new");
        write(&dest.join("stale.py"), "old");
        write(&stage.join("b.py"), "newer");
        install_atomically(&stage, &dest).unwrap();
        assert!(!dest.join("stale.py").exists(), "old files do not survive");
        assert!(dest.join("b.py").exists());
        assert!(!stage.exists(), "the old variant is removed");
    }

    #[test]
    fn package_copy_filters_extensions_and_generated_files() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("pkg");
        for f in [
            "__init__.py",
            "layers.py",
            "sub/x.py",
            "data.json",
            "_ops.py",
            "__pycache__/a.pyc",
            "old.abi3.so",
            ".hidden.py",
            "notes.txt",
        ] {
            write(&src.join(f), "x");
        }
        let dest = d.path().join("out");
        super::super::copy_package(&src, &dest, &["py".into(), "json".into()]).unwrap();
        let mut files = Vec::new();
        walk_files(&dest, &dest, &mut files).unwrap();
        let names: Vec<String> = files.into_iter().map(|(r, _)| r).collect();
        assert_eq!(names, ["__init__.py", "data.json", "layers.py", "sub/x.py"]);
        assert!(super::super::copy_package(&d.path().join("missing"), &dest, &[]).is_err());
    }

    #[test]
    fn digest_skips_top_level_metadata_and_bytecode() {
        let d = tempfile::tempdir().unwrap();
        write(&d.path().join("metadata.json"), "{}");
        write(&d.path().join("sub/metadata.json"), "{}");
        write(&d.path().join("__init__.py"), "");
        write(&d.path().join("__pycache__/x.pyc"), "b");
        let dg = digest(d.path()).unwrap();
        assert_eq!(
            dg.keys().collect::<Vec<_>>(),
            ["__init__.py", "sub/metadata.json"]
        );
        // sha256("") in base64.
        assert_eq!(
            dg["__init__.py"],
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn unsupported_reasons() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/all-backends");
        let loaded = crate::config::load(Some(&dir)).unwrap();
        let plan = crate::plan::plan(
            &loaded.config,
            crate::matrix::Matrix::get(),
            &Systems::All,
            &loaded.path,
            b"",
        )
        .unwrap();
        let reason = |n: &str| unsupported_reason(plan.variant(n).unwrap(), "x86_64-linux");
        assert!(reason("torch215-cxx11-rocm72-x86_64-linux")
            .unwrap()
            .contains("Nix"));
        assert!(reason("torch215-metal-aarch64-darwin")
            .unwrap()
            .contains("aarch64-darwin"));
        assert!(reason("torch215-cxx11-cu132-aarch64-linux")
            .unwrap()
            .contains("this host is x86_64-linux"));
    }
}
