//! The local backend: builds variants with the host compiler and a toolchain
//! provisioned from PyPI. The glibc compatibility layer (`glibc_compat`) keeps
//! the modules within manylinux_2_28; whether a variant is Hub-compliant is
//! measured after the build (`kb_checks::compliance`) and recorded in
//! `metadata.json` `build-info`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kb_checks::compliance::{self, Evidence, Loader};
use kb_checks::verify::{Probe, Status as VerifyStatus};
use kb_core::config::Backend;
use kb_core::matrix::host_system;
use kb_core::metadata::{BuildInfo, DigestRecord, GlibcCompat, Metadata, KIND_LOCAL};
use kb_core::ops_id::{self, GitState};
use kb_core::plan::{Plan, Variant};
use kb_core::progress::{Progress, Task};
use kb_core::{bail, err, Context, Error, Framework, KernelProject, Result};
use serde::Serialize;
use serde_json::json;

use super::glibc_compat::{self, CompatPlan};
use super::pch;
use super::toolchain::{self, CudaToolkit, TorchEnv};
use super::BuildOptions;
use crate::pyproject;

/// Work files live next to the sources (like Cargo's `target/`), never in `build/`.
pub const WORK_DIR: &str = ".kernel-builder";

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Status {
    Built {
        compiled: bool,
        abi_findings: Vec<String>,
        /// Why the variant is not Hub-compliant; empty: it is.
        noncompliant: Vec<String>,
    },
    UpToDate,
    Failed {
        error: String,
    },
    Skipped {
        reason: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct VariantResult {
    pub name: String,
    #[serde(flatten)]
    pub status: Status,
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
    pub log: Option<PathBuf>,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 10.0).round() / 10.0)
}

/// What a local build did.
#[derive(Debug, Clone, Serialize)]
pub struct LocalReport {
    pub variants: Vec<VariantResult>,
    /// Named variants were requested and some were skipped.
    pub requested_skips: bool,
}

impl LocalReport {
    pub fn failed(&self) -> usize {
        self.variants
            .iter()
            .filter(|r| matches!(r.status, Status::Failed { .. }))
            .count()
    }
}

/// Why the host cannot build `v`, if it cannot.
pub fn unsupported_reason(v: &Variant, host: &str) -> Option<String> {
    if let Some(s) = &v.system {
        if s != host {
            return Some(format!("built on {s}, this host is {host}"));
        }
    }
    if v.framework == Framework::TorchNoarch {
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
    args: &'a BuildOptions,
    progress: &'a dyn Progress,
    /// Loader probes per interpreter: one Python start per build, not per variant.
    probes: std::sync::Mutex<BTreeMap<PathBuf, std::result::Result<Probe, String>>>,
    /// The glibc compatibility plan of this host (read once per build).
    compat: std::sync::OnceLock<std::result::Result<CompatPlan, String>>,
}

impl Ctx<'_> {
    fn probe(&self, python: &Path) -> Result<Probe> {
        let mut cache = self.probes.lock().expect("probe cache lock");
        let entry = cache.entry(python.to_path_buf()).or_insert_with(|| {
            // Cached per environment (and GPU devices, which the probe reports).
            toolchain::cached_probe(python, "loader", &gpu_devices(), || {
                let home = tempfile::tempdir()?;
                kb_checks::verify::probe(python, home.path()).map_err(Error::Message)
            })
            .map_err(|e| e.to_string())
        });
        entry
            .clone()
            .map_err(|e| err!("probing {} for the get_kernel check: {e}", python.display()))
    }

    fn compat_plan(&self) -> Result<&CompatPlan> {
        self.compat
            .get_or_init(|| {
                let cxx = glibc_compat::host_cxx()
                    .ok_or_else(|| "no C++ compiler (c++/g++) on PATH".to_string())?;
                glibc_compat::host_plan(&cxx, compliance::MANYLINUX).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| err!("glibc compatibility: {e}"))
    }
}

/// What the loader probe's `gpu` answer depends on besides the environment:
/// the GPU device nodes and the variables that hide devices.
fn gpu_devices() -> String {
    let mut key: Vec<String> = std::fs::read_dir("/dev")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("nvidia") || n == "kfd" || n == "dri")
                .collect()
        })
        .unwrap_or_default();
    key.sort();
    for var in [
        "CUDA_VISIBLE_DEVICES",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
    ] {
        key.push(format!("{var}={:?}", std::env::var_os(var)));
    }
    key.join(",")
}

/// Cores of this machine (the job budget shared by the variants of a build).
fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Build `project`'s variants for this host (or `args.variants`) with the
/// host toolchain. Variant failures are part of the report; an error means
/// nothing could be attempted.
pub fn build(
    project: &KernelProject,
    args: &BuildOptions,
    progress: &dyn Progress,
) -> Result<LocalReport> {
    let host = host_system();
    let plan = &project.plan;
    let root = project
        .root
        .canonicalize()
        .map_err(|e| err!("kernel directory: {e}"))?;

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
                    let hint = kb_core::config::diag::did_you_mean(name, &names)
                        .map(|s| format!(" (did you mean `{s}`?)"))
                        .unwrap_or_default();
                    bail!("`{name}` is not a variant of this kernel{hint}; `kernel-builder list-variants` shows them");
                }
            }
        }
    }

    // One build per kernel work directory at a time (concurrent builds
    // shared its files); released when this function returns.
    let _lock = super::worklock::lock(&root.join(WORK_DIR), Default::default(), progress)?;
    let reaped = super::children::reap_stale(&root.join(WORK_DIR));
    if reaped > 0 {
        progress.note(&format!(
            "ended {reaped} process(es) an interrupted earlier build of this kernel left running"
        ));
    }
    if super::worklock::claim(&root.join(WORK_DIR), &root)? {
        progress.note("the work directory .kernel-builder/ belonged to another kernel directory (a copy?); starting it afresh");
    }
    let git = ops_id::git_state(&root);
    let unique = match &git {
        Some(g) => g.unique_id(),
        None => persistent_random_id(&root)?,
    };
    let ctx = Ctx {
        plan,
        root: root.clone(),
        unique,
        git,
        args,
        progress,
        probes: Default::default(),
        compat: Default::default(),
    };

    let mut results: Vec<VariantResult> = Vec::new();
    let (todo, skipped): (Vec<&Variant>, Vec<&Variant>) = selected
        .into_iter()
        .partition(|v| unsupported_reason(v, &host).is_none());
    // Variants build in parallel by default; the cores are split between
    // the variants that run at once (ninja -j and nvcc --threads), so
    // together they use the machine once, not once per variant.
    let jobs = args
        .max_jobs
        .unwrap_or(todo.len())
        .clamp(1, todo.len().max(1));
    let budget = args
        .cores
        .unwrap_or_else(|| (available_cores() / jobs).max(1));
    for v in &skipped {
        results.push(VariantResult {
            name: v.name.clone(),
            status: Status::Skipped {
                reason: unsupported_reason(v, &host).unwrap_or_default(),
            },
            elapsed: Duration::ZERO,
            log: None,
        });
    }
    // Variants that run together share one job pool (when the cores were not
    // fixed per variant with --cores): a core one of them leaves is taken by
    // the others. Without a pool each ninja keeps its share (-j).
    let pool = if jobs > 1 && args.cores.is_none() {
        super::jobpool::JobPool::create(&root.join(WORK_DIR), available_cores(), jobs).ok()
    } else {
        None
    };
    let makeflags = pool.as_ref().map(|p| p.makeflags());
    let queue = std::sync::Mutex::new(todo.into_iter());
    let done = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let next = queue.lock().expect("queue lock").next();
                let Some(v) = next else { break };
                let task = ctx.progress.task(&v.name);
                let start = Instant::now();
                let log = ctx.root.join(WORK_DIR).join(&v.name).join("build.log");
                let status = match build_variant(&ctx, v, task.as_ref(), &log, budget, makeflags) {
                    Ok(s) => s,
                    Err(e) => Status::Failed {
                        error: e.to_string(),
                    },
                };
                let elapsed = start.elapsed();
                task.finish(&match &status {
                    Status::Built { .. } => "built".to_string(),
                    Status::UpToDate => "up to date".to_string(),
                    Status::Failed { .. } => "FAILED".to_string(),
                    Status::Skipped { reason } => format!("skipped: {reason}"),
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
    let requested_skips = !args.variants.is_empty()
        && results
            .iter()
            .any(|r| matches!(r.status, Status::Skipped { .. }));
    if results
        .iter()
        .all(|r| matches!(r.status, Status::Skipped { .. }))
        && !requested_skips
    {
        bail!("this host can build none of the variants; install Nix to use the sandboxed builder");
    }
    Ok(LocalReport {
        variants: results,
        requested_skips,
    })
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

/// The summary table and the findings/failures of each variant.
pub fn summary(results: &[VariantResult]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
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
            Status::Failed { .. } => (
                "FAILED",
                r.log
                    .as_ref()
                    .map(|l| format!("log: {}", l.display()))
                    .unwrap_or_default(),
            ),
            Status::Skipped { reason } => ("skipped", reason.clone()),
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
            Status::Failed { error } => {
                let _ = writeln!(out, "\nerror: {} failed:\n{error}", r.name);
            }
            _ => {}
        }
    }
    out
}

/// Run a command, appending its output to `log` (and to stderr with `-L`).
/// Run a command with stdout and stderr merged, appending the output to
/// `log`; with `-L` each line also goes to stderr as it is produced.
/// Where precompiled headers are cached.
fn pch_cache() -> PathBuf {
    kb_core::pyenv::cache_dir().join("pch")
}

/// Appends one line to the build log.
fn log_line(log: &Path, line: &str) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| Error::io(log, e))?;
    writeln!(f, "{line}").map_err(|e| Error::io(log, e))
}

fn run(cmd: &mut Command, log: &Path, echo: Option<&dyn Progress>, what: &str) -> Result<String> {
    use std::io::BufRead;
    // Build tools start Python too (CMake probes, hipify): isolate them.
    kb_core::pyenv::isolate_children(cmd);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| Error::io(log, e))?;
    writeln!(f, "$ {cmd:?}").map_err(|e| Error::io(log, e))?;
    let args: Vec<std::ffi::OsString> = cmd.get_args().map(|a| a.to_os_string()).collect();
    // Own process group (ended with us: `children`), marked with the
    // kernel's work dir (`log` is `<work dir>/<variant>/build.log`) so a
    // later build can end what a kill -9 left running.
    let marker = log.parent().and_then(Path::parent).unwrap_or(log);
    let mut expr = duct::cmd(cmd.get_program(), args)
        .stderr_to_stdout()
        .unchecked()
        .env(super::children::MARKER_ENV, marker)
        .before_spawn(|c| {
            use std::os::unix::process::CommandExt;
            c.process_group(0);
            Ok(())
        });
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
    let _group = reader.pids().first().map(|&p| super::children::register(p));
    let mut text = String::new();
    let mut lines = std::io::BufReader::new(&reader);
    let mut line = Vec::new();
    while lines.read_until(b'\n', &mut line).context(what)? > 0 {
        let l = String::from_utf8_lossy(&line);
        f.write_all(l.as_bytes()).map_err(|e| Error::io(log, e))?;
        if let Some(p) = echo {
            p.log(l.trim_end_matches('\n'));
        }
        text.push_str(&l);
        line.clear();
    }
    let status = reader.try_wait().context(what)?.map(|o| o.status);
    if !status.is_some_and(|s| s.success()) {
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        bail!(
            "{what} failed:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(text)
}

/// Build one variant; `cores` is its share of the job budget (ninja -j),
/// unless `makeflags` names the job pool its ninja joins instead.
fn build_variant(
    ctx: &Ctx,
    v: &Variant,
    pb: &dyn Task,
    log: &Path,
    cores: usize,
    makeflags: Option<&str>,
) -> Result<Status> {
    let work = ctx.root.join(WORK_DIR).join(&v.name);
    std::fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    let _ = std::fs::remove_file(log);
    let echo = ctx.args.print_build_logs.then_some(ctx.progress);

    // Toolchain. Noarch variants use the newest torch of the matrix for checks.
    pb.set_message("provisioning toolchain");
    let torch_version = v
        .torch
        .as_ref()
        .map(|t| t.version.clone())
        .or_else(|| {
            kb_core::matrix::Matrix::get()
                .torch
                .keys()
                .next_back()
                .cloned()
        })
        .ok_or_else(|| err!("no torch version for {}", v.name))?;
    let env = toolchain::torch_env(&torch_version, log)?;
    if let Some(t) = &v.tvm_ffi {
        // tvm-ffi variants build and load in the same environment, with
        // apache-tvm-ffi added (the loader imports torch to pick the backend).
        toolchain::ensure_tvm_ffi(&env, &t.version, log)?;
    }
    let cuda = match (v.backend, &v.toolkit, pyproject::is_native(v)) {
        (Backend::Cuda, Some(tk), true) => Some(toolchain::cuda_toolkit(tk, &env.python, log)?),
        _ => None,
    };

    // The loader check's Python imports kernels and torch while the project
    // is generated, configured and compiled.
    let mut warm = if ctx.args.defer_loader_check {
        None
    } else {
        // One loader server per environment (keyed like the probes: a change
        // to the environment gets a new one).
        let w = match toolchain::env_key(&env.python, "loader-server") {
            Some(key) => kb_checks::verify::prestart_served(
                &env.python,
                &toolchain::cache_dir()
                    .join("loader")
                    .join(format!("{key}.sock")),
            ),
            None => kb_checks::verify::prestart(&env.python),
        };
        if let Some(w) = &w {
            use kb_checks::verify::Warmth;
            let how = match w.warmth() {
                Warmth::WarmServer => "the warm loader server of this environment",
                Warmth::NewServer => {
                    "a new loader server (it stays for the next builds until idle)"
                }
                Warmth::Prestarted => "an interpreter of its own, started now",
            };
            log_line(log, &format!("loader check: {how}"))?;
        }
        w
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
    let mut compat_header = String::new();
    if pyproject::is_native(v) {
        let (header, source) = match compat {
            Some(p) => (p.header(), p.source()),
            None => glibc_compat::disabled_files(),
        };
        glibc_compat::write_files(&compat_dir, &header, &source)?;
        compat_header = header;
    }
    // Precompiled torch headers for the bindings and the kernel sources that
    // reach torch (torch framework, GCC; CMake ignores them for other
    // compilers).
    let mut pch_headers: Vec<PathBuf> = Vec::new();
    let mut pch_kernel_sources = String::new();
    if pyproject::is_native(v) && v.tvm_ffi.is_none() && glibc_target {
        let texts = if std::env::var_os(pch::OFF_ENV).is_some_and(|x| !x.is_empty()) {
            Err(format!("{} is set", pch::OFF_ENV))
        } else {
            let candidates = pch::kernel_candidates(&v.kernels);
            // Local includes resolve as in the generated CMake: the kernel
            // root and the binding sources' directories are on every path.
            let mut search = vec![String::new()];
            for s in &v.src {
                if let Some(p) = Path::new(s).parent() {
                    let p = p.to_string_lossy().into_owned();
                    if !search.contains(&p) {
                        search.push(p);
                    }
                }
            }
            pch::header_texts(&ctx.root, &v.src, &candidates, &search, &compat_header)
        };
        match texts {
            Ok(t) => {
                let cache = pch_cache();
                match pch::known_failure(&cache, &t.bindings) {
                    Some(why) => {
                        log_line(log, &format!("precompiled torch headers: not used for the bindings (it did not precompile before: {why})"))?;
                        pch::remove_header(&work, pch::HEADER);
                    }
                    None => pch_headers.push(pch::write_header(&work, pch::HEADER, &t.bindings)?),
                }
                match t.kernels.map(|(text, sources)| {
                    let failed = pch::known_failure(&cache, &text);
                    (text, sources, failed)
                }) {
                    Some((text, sources, None)) => {
                        pch_headers.push(pch::write_header(&work, pch::KERNEL_HEADER, &text)?);
                        pch_kernel_sources = sources.join(";");
                    }
                    Some((_, _, Some(why))) => {
                        log_line(log, &format!("precompiled torch headers: not used for the kernel sources (it did not precompile before: {why})"))?;
                        pch::remove_header(&work, pch::KERNEL_HEADER);
                    }
                    None => pch::remove_header(&work, pch::KERNEL_HEADER),
                }
            }
            Err(why) => {
                log_line(log, &format!("precompiled torch headers: not used ({why})"))?;
                pch::remove(&work);
            }
        }
    } else {
        pch::remove(&work);
    }
    if pyproject::is_native(v) {
        let mut defs = vec![
            "-DCMAKE_BUILD_TYPE=Release".to_string(),
            format!("-DCMAKE_MAKE_PROGRAM={}", env.ninja.display()),
            format!("-DPython3_EXECUTABLE={}", env.python.display()),
            format!("-DKB_GLIBC_COMPAT_DIR={}", compat_dir.display()),
        ];
        for h in &pch_headers {
            let var = if h.ends_with(pch::KERNEL_HEADER) {
                defs.push(format!("-DKB_PCH_KERNEL_SOURCES={pch_kernel_sources}"));
                "KB_PCH_KERNEL_HEADER"
            } else {
                "KB_PCH_HEADER"
            };
            defs.push(format!("-D{var}={}", h.display()));
        }
        let join = |dirs: &[PathBuf]| -> String {
            dirs.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(";")
        };
        if v.tvm_ffi.is_none() {
            // What CMake would otherwise import torch for (one probe per
            // environment, cached).
            let t = toolchain::probe(&env.python)?;
            defs.push(format!("-DKB_TORCH_INCLUDE_DIRS={}", join(&t.include_dirs)));
            defs.push(format!("-DKB_TORCH_LIB_DIR={}", t.lib_dir.display()));
            defs.push(format!("-DKB_TORCH_CXX11_ABI={}", u8::from(t.abi)));
            defs.push(format!("-DKB_TORCH_VERSION={}", t.torch));
            // The Python headers as probed, so CMake need not run FindPython3
            // (eight interpreter starts); without Python.h there, FindPython3
            // runs and reports what is missing.
            if t.python_include_dir.join("Python.h").is_file() {
                defs.push(format!(
                    "-DKB_PYTHON_INCLUDE_DIR={}",
                    t.python_include_dir.display()
                ));
            }
        }
        if let Some(tk) = &cuda {
            // nvcc compiles the architectures of one source in parallel
            // threads, sized to the machine rather than to the variant's
            // share: nvcc is the long pole, and its threads take over the
            // cores that other variants and jobs leave when they finish.
            let cu_sources = v
                .kernels
                .iter()
                .filter(|k| k.backend == Backend::Cuda)
                .flat_map(|k| k.src.iter())
                .filter(|s| s.ends_with(".cu"))
                .count()
                .max(1);
            defs.push(format!(
                "-DKB_NVCC_THREADS={}",
                ctx.args
                    .cores
                    .unwrap_or_else(available_cores)
                    .div_ceil(cu_sources)
                    .max(1)
            ));
            defs.push(format!("-DKB_NVCC={}", tk.nvcc.display()));
            defs.push(format!("-DKB_CUDART={}", tk.cudart.display()));
            defs.push(format!("-DKB_CUDA_INCLUDE_DIRS={}", join(&tk.include_dirs)));
            defs.push(format!("-DKB_CUDA_LIBRARY_DIRS={}", join(&tk.library_dirs)));
        }
        for (name, dep) in v.external_depends()? {
            pb.set_message(&format!("provisioning {name}"));
            let dir = super::depends::provide(name, dep, v.toolkit.as_ref(), &env.python, log)?;
            let Some(var) = &dep.env else {
                bail!("data/depends.toml: `{name}` has no `env`");
            };
            defs.push(format!("-D{var}={}", dir.display()));
        }
        // Reconfigure when the toolchain or a dependency moved.
        let args_file = work.join("configure-args");
        let args_text = defs.join("\n");
        let reconfigure = !cmake_dir.join("CMakeCache.txt").exists()
            || !cmake_dir.join("build.ninja").exists()
            || std::fs::read_to_string(&args_file).ok().as_deref() != Some(args_text.as_str());
        if reconfigure {
            pb.set_message("configuring");
            let _ = std::fs::remove_file(&args_file);
            let mut cmd = Command::new(env.cmake_binary());
            cmd.arg("-S")
                .arg(&project)
                .arg("-B")
                .arg(&cmake_dir)
                .args(["-G", "Ninja"])
                .args(&defs);
            run(&mut cmd, log, echo, "CMake configure")?;
            std::fs::write(&args_file, &args_text)?;
        }
        for h in &pch_headers {
            if !reconfigure && pch::still_linked(h) {
                // Same flags, same text: the link from the last build holds.
                continue;
            }
            let mut compile = |cmd: &mut Command| {
                pb.set_message("precompiling torch headers (once per torch, compiler and flags)");
                run(cmd, log, echo, "precompiling torch headers")
            };
            let outcome = pch::prepare(
                &env.ninja,
                &cmake_dir,
                h,
                &pch_cache(),
                &compat_header,
                &mut compile,
            )?;
            let what = match outcome {
                pch::Outcome::Reused => "reused from the cache".to_string(),
                pch::Outcome::Built => "precompiled and cached".to_string(),
                pch::Outcome::Unused(why) => format!("not used ({why})"),
            };
            let whose = if h.ends_with(pch::KERNEL_HEADER) {
                "kernel sources"
            } else {
                "bindings"
            };
            log_line(log, &format!("precompiled torch headers ({whose}): {what}"))?;
        }
        pb.set_message("compiling");
        let mut cmd = Command::new(&env.ninja);
        cmd.arg("-C").arg(&cmake_dir);
        match makeflags.filter(|_| joins_job_pool(&env.ninja)) {
            Some(flags) => {
                cmd.env("MAKEFLAGS", flags);
            }
            None => {
                cmd.env_remove("MAKEFLAGS").arg(format!("-j{cores}"));
            }
        }
        let out = run(&mut cmd, log, echo, "compile")?;
        compiled = !out.contains("ninja: no work to do");
        let suffix = if v.tvm_ffi.is_some() {
            ".so"
        } else {
            ".abi3.so"
        };
        let so = cmake_dir.join(format!("{ops_name}{suffix}"));
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
    metadata.write(&stage)?;

    // Up to date: same content as the installed variant.
    let dest = ctx.root.join("build").join(&v.name);
    let fingerprint = fingerprint(&stage)?;
    let fp_file = work.join("fingerprint");
    // A build whose loader check was deferred is not up to date for a build
    // that runs it.
    let defer = ctx.args.defer_loader_check;
    let fp_record = if defer {
        format!("{fingerprint} loader-check-deferred")
    } else {
        fingerprint.clone()
    };
    if !compiled
        && dest.is_dir()
        && std::fs::read_to_string(&fp_file).ok().as_deref() == Some(fp_record.as_str())
        && fingerprint_installed(&dest)? == fingerprint
    {
        return Ok(Status::UpToDate);
    }

    // Checks: layout and loader failures fail the variant; ABI findings, a
    // loader check this host cannot run and a toolchain that differs from the
    // plan make it non-compliant.
    pb.set_message("checking");
    // The tool versions for build-info are asked for while the checks run.
    let (toolchain, abi_findings, loader) = std::thread::scope(|s| {
        let versions = s.spawn(|| toolchain_info(&env, cuda.as_ref()));
        let abi_findings = match compliance::abi_findings(&stage) {
            Ok(f) => Ok(explain_findings(
                &f, compat, &env.ninja, &cmake_dir, &ctx.root,
            )),
            Err(e) => Err(e),
        };
        let loader = if defer {
            Ok(Loader::NotRun(format!(
                "deferred (--defer-loader-check); {DEFERRED_HINT}"
            )))
        } else {
            loader_check(ctx, &env, &stage, warm.take())
        };
        let toolchain = versions.join().expect("toolchain_info does not panic");
        (toolchain, abi_findings, loader)
    });
    let loader = loader?;
    remove_bytecode(&stage)?;
    let digest = digest(&stage)?;
    metadata.digest = Some(DigestRecord::new(
        kb_core::digest::Algorithm::Sha256,
        digest,
    ));
    metadata.write(&stage)?;
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
        (Some(p), Some(so)) => p.summary(glibc_compat::bindings_in_use(p, so)),
        (Some(p), None) => p.summary(Vec::new()),
        (None, _) if pyproject::is_native(v) && !glibc_target => {
            GlibcCompat::off("not a glibc (Linux) target")
        }
        (None, _) if pyproject::is_native(v) => GlibcCompat::off("--no-glibc-compat"),
        (None, _) => GlibcCompat::off("no compiled code"),
    };
    let abi_list = evidence.abi.clone().unwrap_or_else(|e| vec![e]);
    let stable_abi = v.stable_abi.as_ref().map(|a| a.to_string());
    metadata.build_info = Some(BuildInfo {
        kind: Some(KIND_LOCAL.into()),
        compliant: Some(noncompliant.is_empty()),
        reasons: Some(noncompliant.clone()),
        abi_findings: Some(abi_list.iter().map(|f| json!(f)).collect()),
        checks: Some(evidence.checks(stable_abi.as_deref())),
        glibc_compat: Some(glibc),
        toolchain: Some(toolchain),
        ..BuildInfo::default()
    });
    metadata.write(&stage)?;

    pb.set_message("installing");
    install_atomically(&stage, &dest)?;
    let _ = std::fs::remove_dir_all(&stage_root);
    std::fs::write(&fp_file, &fp_record)?;
    Ok(Status::Built {
        compiled,
        abi_findings: abi_list,
        noncompliant,
    })
}

/// What a deferred loader check leaves to the user.
const DEFERRED_HINT: &str =
    "build without the flag (or run `kernel-builder verify`) before an upload";

/// The loader check: the variant loads with `kernels` and its ops register.
fn loader_check(
    ctx: &Ctx,
    env: &TorchEnv,
    stage: &Path,
    warm: Option<kb_checks::verify::Prestarted>,
) -> Result<Loader> {
    let probe = ctx.probe(&env.python)?;
    let verified = match warm {
        Some(w) => kb_checks::verify::verify_variant_prestarted(stage, &probe, w),
        None => kb_checks::verify::verify_variant(stage, &env.python, &probe, None, false),
    };
    Ok(match verified.status {
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
            return Err(Error::Message(msg));
        }
    })
}

/// Whether this ninja takes its jobs from a make jobserver (1.13 and newer);
/// an older one would ignore the pool and run its default job count.
fn joins_job_pool(ninja: &Path) -> bool {
    let out = Command::new(ninja).arg("--version").output();
    let Ok(out) = out else { return false };
    version_joins_job_pool(&String::from_utf8_lossy(&out.stdout))
}

fn version_joins_job_pool(version: &str) -> bool {
    let mut parts = version
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (1, 13)
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
        "cmake": toolchain::tool_version(&env.cmake_binary()),
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
fn metadata(ctx: &Ctx, v: &Variant, ops_name: &str) -> Metadata {
    let kernel = ctx.git.as_ref().map(|g| super::KernelProvenance {
        commit: &g.commit,
        dirty: g.dirty,
    });
    let build_info = BuildInfo {
        kind: Some(KIND_LOCAL.into()),
        compliant: Some(false),
        reasons: Some(vec!["not checked yet".into()]),
        ..BuildInfo::default()
    };
    super::variant_metadata(ctx.plan, v, ops_name, kernel, build_info)
}

/// sha256 (base64) of every file except the top-level `metadata.json` and bytecode.
fn digest(dir: &Path) -> Result<BTreeMap<String, String>> {
    Ok(kb_core::digest::hash_variant(
        dir,
        kb_core::digest::Algorithm::Sha256,
    )?)
}

/// Content fingerprint of a staged variant, ignoring check results and digests.
fn fingerprint(dir: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (rel, hash) in digest(dir)? {
        h.update(rel.as_bytes());
        h.update(hash.as_bytes());
    }
    let mut meta = Metadata::read(dir)?;
    meta.digest = None;
    meta.build_info = None;
    h.update(meta.to_json().as_bytes());
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
    let report = kb_checks::layout::check_variant_layout(stage, Some(python_name));
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
    use kb_checks::abi::ViolationKind;
    let symbols: std::collections::BTreeSet<String> = findings
        .iter()
        .filter(|f| f.violation.kind == ViolationKind::SymbolVersion)
        .filter_map(|f| f.violation.symbol.clone())
        .collect();
    // The installed module is `<ops name><suffix>`; ninja knows it as
    // `<MODULE_TARGET><suffix>` (the ops name is not in the build graph).
    let module = findings
        .first()
        .map(|f| {
            let name = f.file.rsplit('/').next().unwrap_or(&f.file);
            let suffix = name.find('.').map(|i| &name[i..]).unwrap_or("");
            format!("{}{suffix}", crate::pyproject::MODULE_TARGET)
        })
        .unwrap_or_default();
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
        let names: Vec<String> = kb_core::walk::files(&dest, kb_core::walk::Rule::Variant)
            .unwrap()
            .into_iter()
            .map(|f| f.rel)
            .collect();
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
        let dir = super::super::fixture("all-backends");
        let plan = KernelProject::load(Some(&dir)).unwrap().plan;
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

    #[test]
    fn only_ninja_1_13_and_newer_joins_the_job_pool() {
        assert!(version_joins_job_pool(
            "1.13.2.git.kitware.jobserver-pipe-1\n"
        ));
        assert!(version_joins_job_pool("1.14.0"));
        assert!(version_joins_job_pool("2.0.0"));
        assert!(!version_joins_job_pool("1.11.1"));
        assert!(!version_joins_job_pool(""));
        assert!(!joins_job_pool(Path::new("/nonexistent/ninja")));
    }
}
