//! `verify`: the get_kernel check. For every variant this host can load, run
//! the real loader (`kernels.get_local_kernel`) in a Python that has the
//! `kernels` package, in a clean temporary `HOME` with the Hub offline; then
//! load a second build of the same kernel with a different ops id into the
//! same process and call the ops of both (the "unique namespace" property).
//!
//! The second build is `--other DIR` when given (a build of the same kernel
//! from another commit). Otherwise it is synthesized from the variant: a copy
//! whose ops id is replaced everywhere (`metadata.json`, `_ops.py`, file
//! names and the bytes of the native modules) by another id of the same
//! length *and the same GNU symbol hash*, so the dynamic linker still finds
//! the renamed `PyInit_<id>` through `.gnu.hash` (see [`sibling_id`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kb_core::metadata::Metadata;
use kb_core::report::{Report, Status as ExitStatus};
use serde::{Deserialize, Serialize};

use super::{display_path, report_base, resolve_target, Framework, VariantName};
use crate::scripts;

/// What `verify` checks.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Python interpreter with `kernels` and `torch` installed (default:
    /// the first of `kb_core::pyenv::candidates` that has them).
    pub python: Option<PathBuf>,
    /// A second build of the same kernel (different ops id) to load
    /// together with the first; default: a copy with a synthesized ops id.
    pub other: Option<PathBuf>,
    /// Load a second build next to the first (the unique-namespace check).
    pub unique: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, Default)]
pub struct Probe {
    pub python: String,
    pub executable: String,
    pub kernels: Option<String>,
    pub kernels_error: Option<String>,
    pub torch: Option<String>,
    pub torch_mm: Option<(u32, u32)>,
    pub torch_error: Option<String>,
    pub cuda: Option<String>,
    pub hip: Option<String>,
    pub xpu: Option<String>,
    #[serde(default)]
    pub mps: bool,
    #[serde(default)]
    pub cxx11: bool,
    #[serde(default)]
    pub gpu: bool,
    pub tvm_ffi_mm: Option<(u32, u32)>,
    pub machine: String,
    pub system: String,
    #[serde(default)]
    pub free_threaded: bool,
}

/// A clean environment for the loader: an isolated Python (the one way
/// Python is started, [`kb_core::pyenv::python_command`]), temporary HOME and
/// caches, the Hub offline, no bytecode written into the build.
fn python_command(python: &Path, home: &Path) -> Command {
    let mut c = kb_core::pyenv::python_command(python);
    c.env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("HF_HOME", home.join(".cache/huggingface"))
        .env("KERNELS_CACHE", home.join(".cache/kernels"))
        .env("TRITON_CACHE_DIR", home.join(".cache/triton"))
        .env("TORCHINDUCTOR_CACHE_DIR", home.join(".cache/inductor"))
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_HUB_DISABLE_TELEMETRY", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONNOUSERSITE", "1")
        .env_remove("LOCAL_KERNELS")
        .env_remove("PYTHONSTARTUP")
        .current_dir(home)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Run a command with a time limit; returns (stdout, stderr, success).
fn run_limited(mut c: Command, limit: Duration) -> Result<(String, String, bool), String> {
    let child = c.spawn().map_err(|e| format!("cannot start: {e}"))?;
    wait_limited(child, limit)
}

/// Wait for a started child with a time limit (killed past it); returns
/// (stdout, stderr, success).
fn wait_limited(
    mut child: std::process::Child,
    limit: Duration,
) -> Result<(String, String, bool), String> {
    let out = child.stdout.take();
    let err = child.stderr.take();
    let read = |s: Option<std::process::ChildStdout>| {
        std::thread::spawn(move || {
            let mut buf = String::new();
            if let Some(mut s) = s {
                let _ = std::io::Read::read_to_string(&mut s, &mut buf);
            }
            buf
        })
    };
    let t_out = read(out);
    let t_err = std::thread::spawn(move || {
        let mut buf = String::new();
        if let Some(mut s) = err {
            let _ = std::io::Read::read_to_string(&mut s, &mut buf);
        }
        buf
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {}s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(e.to_string()),
        }
    };
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    Ok((stdout, stderr, status.success()))
}

/// The JSON a script wrote to its answer file, if any.
fn read_answer(path: &Path) -> Option<serde_json::Value> {
    let bytes = kb_core::fsutil::read_regular(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

const LIMIT: Duration = Duration::from_secs(900);

/// Probe a Python interpreter.
pub fn probe(python: &Path, home: &Path) -> Result<Probe, String> {
    let answer = home.join(".kb-probe.json");
    let _ = std::fs::remove_file(&answer);
    let mut c = python_command(python, home);
    c.arg("-c").arg(scripts::VERIFY_PROBE).arg(&answer);
    let (_, err, _) = run_limited(c, LIMIT)?;
    let v = read_answer(&answer)
        .ok_or_else(|| format!("no answer from the probe: {}", tail(&err, 5)))?;
    serde_json::from_value(v).map_err(|e| format!("unexpected probe answer: {e}"))
}

/// Pick the interpreter: `--python`, else the first candidate that has both
/// `kernels` and `torch`.
pub fn find_python(explicit: Option<&Path>, home: &Path) -> Result<(PathBuf, Probe), String> {
    let candidates = kb_core::pyenv::candidates(explicit);
    let mut why = Vec::new();
    for c in candidates {
        match probe(&c, home) {
            Ok(p) if p.kernels.is_some() && p.torch_mm.is_some() => return Ok((c, p)),
            Ok(p) => why.push(format!(
                "{}: {}",
                c.display(),
                p.kernels_error
                    .or(p.torch_error)
                    .unwrap_or_else(|| "missing kernels or torch".into())
            )),
            Err(e) => why.push(format!("{}: {e}", c.display())),
        }
    }
    Err(format!(
        "no Python with both `kernels` and `torch` found ({}); pass --python with an interpreter that has `pip install kernels torch`",
        why.join("; ")
    ))
}

/// Can this host (as probed) load the variant? `Ok(backend)` for the
/// loader's `backend=` argument, or the reason it cannot.
pub fn loadable(v: &VariantName, p: &Probe) -> Result<String, String> {
    if let (Some(arch), Some(os)) = (&v.arch, &v.os) {
        if *os != p.system {
            return Err(format!("built for {os}, this is {}", p.system));
        }
        if *arch != p.machine {
            return Err(format!("built for {arch}, this is {}", p.machine));
        }
        if p.free_threaded {
            return Err("arch kernels need a non-free-threaded Python".into());
        }
    }
    let torch = p.torch_mm.ok_or("no torch in the Python")?;
    let (major, minor) = v.version.unwrap_or((0, 0));
    let (major, minor) = (&major, &minor);
    match v.framework {
        Framework::Torch => {
            let cxx11 = &v.cxx11;
            if (*major, *minor) != torch {
                return Err(format!(
                    "built for torch {major}.{minor}, the Python has torch {}.{}",
                    torch.0, torch.1
                ));
            }
            if let Some(c) = cxx11 {
                if p.system == "linux" && *c != p.cxx11 {
                    return Err("C++ ABI tag does not match the installed torch".into());
                }
            }
        }
        Framework::TorchStableAbi => {
            if (*major, *minor) > torch {
                return Err(format!(
                    "needs torch >= {major}.{minor}, the Python has torch {}.{}",
                    torch.0, torch.1
                ));
            }
        }
        Framework::TvmFfi => match p.tvm_ffi_mm {
            Some(t) if t == (*major, *minor) => {}
            Some(t) => {
                return Err(format!(
                    "built for tvm-ffi {major}.{minor}, the Python has {}.{}",
                    t.0, t.1
                ))
            }
            None => return Err("the Python has no tvm-ffi".into()),
        },
        Framework::TorchNoarch => {}
    }
    let backend = v.backend().unwrap_or("cpu").to_string();
    match backend.as_str() {
        "cpu" => Ok(backend),
        "cuda" => {
            let Some(cuda) = &p.cuda else {
                return Err("the installed torch is not a CUDA build".into());
            };
            if let Some(d) = v.toolkit_digits() {
                let (maj, min) = d.split_at(2);
                let mut tv = cuda.split('.');
                let tmaj = tv.next().unwrap_or("");
                let tmin: u32 = tv.next().and_then(|m| m.parse().ok()).unwrap_or(0);
                let vmin: u32 = min.parse().unwrap_or(0);
                if maj != tmaj || vmin > tmin {
                    return Err(format!(
                        "built for CUDA {maj}.{min}, the installed torch uses CUDA {cuda}"
                    ));
                }
            }
            Ok(backend)
        }
        "rocm" if p.hip.is_some() => Ok(backend),
        "xpu" if p.xpu.is_some() => Ok(backend),
        "metal" if p.mps => Ok(backend),
        other => Err(format!("the installed torch has no {other} support")),
    }
}

/// The GNU ELF symbol hash (`dl_new_hash`).
pub fn gnu_hash(s: &[u8]) -> u32 {
    s.iter().fold(5381u32, |h, &c| {
        h.wrapping_mul(33).wrapping_add(u32::from(c))
    })
}

fn ident_byte(b: i32) -> bool {
    (b'a' as i32..=b'z' as i32).contains(&b)
        || (b'A' as i32..=b'Z' as i32).contains(&b)
        || (b'0' as i32..=b'9' as i32).contains(&b)
        || b == b'_' as i32
}

/// Another ops id of the same length whose GNU hash, and that of every
/// symbol containing it, is unchanged: raising one character by 1 and
/// lowering the next by 33 leaves `h*33 + c` invariant. Changes the last
/// possible pair (the unique suffix); `None` if no pair can be changed.
pub fn sibling_id(id: &str) -> Option<String> {
    let b = id.as_bytes();
    if b.len() < 3 {
        return None;
    }
    for p in (1..b.len() - 1).rev() {
        for (d0, d1) in [(1i32, -33i32), (-1, 33)] {
            let (x, y) = (b[p] as i32 + d0, b[p + 1] as i32 + d1);
            if ident_byte(x) && ident_byte(y) {
                let mut n = b.to_vec();
                n[p] = x as u8;
                n[p + 1] = y as u8;
                return String::from_utf8(n).ok();
            }
        }
    }
    None
}

fn replace_all(hay: &[u8], from: &[u8], to: &[u8]) -> (Vec<u8>, usize) {
    debug_assert_eq!(from.len(), to.len());
    let mut out = hay.to_vec();
    let mut count = 0;
    let mut i = 0;
    while i + from.len() <= out.len() {
        if &out[i..i + from.len()] == from {
            out[i..i + from.len()].copy_from_slice(to);
            count += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    (out, count)
}

fn has_gnu_hash(data: &[u8]) -> Result<bool, String> {
    use object::read::elf::FileHeader;
    use object::{elf, Endianness, FileKind};
    match FileKind::parse(data) {
        Ok(FileKind::Elf64) => {
            let h = elf::FileHeader64::<Endianness>::parse(data).map_err(|e| e.to_string())?;
            let en = h.endian().map_err(|e| e.to_string())?;
            let s = h.sections(en, data).map_err(|e| e.to_string())?;
            Ok(s.gnu_hash(en, data).map_err(|e| e.to_string())?.is_some())
        }
        Ok(FileKind::Elf32) => {
            let h = elf::FileHeader32::<Endianness>::parse(data).map_err(|e| e.to_string())?;
            let en = h.endian().map_err(|e| e.to_string())?;
            let s = h.sections(en, data).map_err(|e| e.to_string())?;
            Ok(s.gnu_hash(en, data).map_err(|e| e.to_string())?.is_some())
        }
        _ => Err("not an ELF file".into()),
    }
}

/// Copy `variant` to `dest` (a new directory of the same name), renaming its
/// ops id to [`sibling_id`]. Returns (old id, new id).
pub fn synthesize_second_build(variant: &Path, dest: &Path) -> Result<(String, String), String> {
    let mut meta = Metadata::read(variant).map_err(|e| e.to_string())?;
    let id = meta
        .id
        .clone()
        .ok_or_else(|| format!("{}: no `id`", kb_core::metadata::path(variant).display()))?;
    let new_id =
        sibling_id(&id).ok_or_else(|| format!("cannot derive a second ops id from `{id}`"))?;
    meta.id = Some(new_id.clone());
    meta.digest = None;
    let files =
        kb_core::walk::files(variant, kb_core::walk::Rule::Variant).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    for f in files {
        let target = dest.join(f.rel.replace(&id, &new_id));
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let name = f.rel.rsplit('/').next().unwrap_or(&f.rel).to_string();
        let top = !f.rel.contains('/');
        let bytes = kb_core::fsutil::read_regular(&f.path)
            .map_err(|e| format!("{}: {e}", f.path.display()))?;
        let out = if top && name == "metadata.json" {
            meta.to_json().into_bytes()
        } else if top && name == "_ops.py" {
            replace_all(&bytes, id.as_bytes(), new_id.as_bytes()).0
        } else if super::files::is_native_name(&name) {
            let (patched, n) = replace_all(&bytes, id.as_bytes(), new_id.as_bytes());
            if n > 0 && !has_gnu_hash(&bytes)? {
                return Err(format!(
                    "{name} has no .gnu.hash section; renaming its symbols would break symbol lookup (pass --other with a second build)"
                ));
            }
            patched
        } else {
            bytes
        };
        std::fs::write(&target, out).map_err(|e| format!("{}: {e}", target.display()))?;
        #[cfg(unix)]
        if let Ok(m) = std::fs::metadata(&f.path) {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(
                &target,
                std::fs::Permissions::from_mode(m.permissions().mode()),
            );
        }
    }
    Ok((id, new_id))
}

/// A one-variant repository for the loader: `<repo>/build/<name>` -> variant.
fn stage(variant: &Path, repo: &Path) -> Result<PathBuf, String> {
    kb_core::walk::files(variant, kb_core::walk::Rule::Variant).map_err(|e| e.to_string())?;
    let name = variant.file_name().ok_or("variant has no name")?;
    let build = repo.join("build");
    std::fs::create_dir_all(&build).map_err(|e| e.to_string())?;
    let abs = variant
        .canonicalize()
        .map_err(|e| format!("{}: {e}", variant.display()))?;
    let link = build.join(name);
    #[cfg(unix)]
    std::os::unix::fs::symlink(&abs, &link).map_err(|e| e.to_string())?;
    #[cfg(not(unix))]
    {
        let _ = (&abs, &link);
        return Err("verify needs symbolic links".into());
    }
    Ok(repo.to_path_buf())
}

fn read_id(variant: &Path) -> Option<String> {
    Metadata::read(variant).ok()?.id
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Ok,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct OpCall {
    pub op: String,
    pub status: String,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct UniqueCheck {
    pub status: Status,
    /// Where the second build came from.
    pub second: String,
    pub second_id: Option<String>,
    pub calls: Vec<OpCall>,
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct VariantVerify {
    pub variant: String,
    pub status: Status,
    pub reason: Option<String>,
    pub id: Option<String>,
    pub ops: Vec<String>,
    pub problems: Vec<String>,
    pub unique: Option<UniqueCheck>,
    /// Loader output when it failed.
    pub log: Option<String>,
}

/// Verify one variant with an already-probed interpreter.
pub fn verify_variant(
    variant: &Path,
    python: &Path,
    probe: &Probe,
    other: Option<&Path>,
    unique: bool,
) -> VariantVerify {
    verify_variant_with(variant, python, probe, other, unique, None)
}

/// [`verify_variant`] (no second build) with a loader [`prestart`]ed for
/// the same Python.
pub fn verify_variant_prestarted(variant: &Path, probe: &Probe, warm: Prestarted) -> VariantVerify {
    let python = warm.python.clone();
    verify_variant_with(variant, &python, probe, None, false, Some(warm))
}

fn verify_variant_with(
    variant: &Path,
    python: &Path,
    probe: &Probe,
    other: Option<&Path>,
    unique: bool,
    warm: Option<Prestarted>,
) -> VariantVerify {
    let name = variant
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut r = VariantVerify {
        variant: name.clone(),
        status: Status::Ok,
        reason: None,
        id: read_id(variant),
        ops: Vec::new(),
        problems: Vec::new(),
        unique: None,
        log: None,
    };
    // The loader gets only variants the one walk accepts: no link out of the
    // variant, no special file.
    if let Err(e) = kb_core::walk::files(variant, kb_core::walk::Rule::Variant) {
        r.status = Status::Failed;
        r.reason = Some(e.to_string());
        return r;
    }
    let vname = match VariantName::parse(&name) {
        Ok(v) => v,
        Err(e) => {
            r.status = Status::Failed;
            r.reason = Some(e);
            return r;
        }
    };
    let backend = match loadable(&vname, probe) {
        Ok(b) => b,
        Err(why) => {
            r.status = Status::Skipped;
            r.reason = Some(why);
            return r;
        }
    };
    let Some(id) = r.id.clone() else {
        r.status = Status::Failed;
        r.reason = Some(match Metadata::read(variant) {
            Err(e) => e.to_string(),
            Ok(_) => "metadata.json has no `id`".into(),
        });
        return r;
    };
    let tmp = match tempfile::Builder::new().prefix("kb-verify-").tempdir() {
        Ok(t) => t,
        Err(e) => {
            r.status = Status::Failed;
            r.reason = Some(format!("cannot create a temporary directory: {e}"));
            return r;
        }
    };
    let home = tmp.path().join("home");
    let _ = std::fs::create_dir_all(&home);
    let repo1 = match stage(variant, &tmp.path().join("repo1")) {
        Ok(p) => p,
        Err(e) => {
            r.status = Status::Failed;
            r.reason = Some(e);
            return r;
        }
    };
    // The second build.
    let mut second: Option<(PathBuf, String, String)> = None; // (repo, id, description)
    let mut unique_problem: Option<String> = None;
    let mut hardcoded_problem: Option<String> = None;
    if unique {
        match other {
            Some(o) => {
                let ov = o.join("build").join(&name);
                let ov = if ov.is_dir() {
                    ov
                } else if o.join(&name).is_dir() {
                    o.join(&name)
                } else {
                    o.to_path_buf()
                };
                if ov.file_name().map(|n| n.to_string_lossy().into_owned()) != Some(name.clone()) {
                    unique_problem = Some(format!("{} has no variant {name}", o.display()));
                } else {
                    match (read_id(&ov), stage(&ov, &tmp.path().join("repo2"))) {
                        (Some(id2), Ok(repo2)) => {
                            second = Some((repo2, id2, format!("{}", ov.display())))
                        }
                        (None, _) => {
                            unique_problem =
                                Some(format!("{}: no `id` in metadata.json", ov.display()))
                        }
                        (_, Err(e)) => unique_problem = Some(e),
                    }
                }
            }
            None => {
                let dest = tmp.path().join("repo2").join("build").join(&name);
                let hardcoded = super::files::python_files_mentioning(variant, &id);
                if !hardcoded.is_empty() {
                    hardcoded_problem = Some(format!(
                        "{} hard-code{} this build's ops id `{id}`; another build has another id, so use `ops` / `add_op_namespace_prefix` from `._ops`",
                        hardcoded.join(", "),
                        if hardcoded.len() == 1 { "s" } else { "" }
                    ));
                } else {
                    match synthesize_second_build(variant, &dest) {
                        Ok((_, id2)) => {
                            second = Some((
                                tmp.path().join("repo2"),
                                id2.clone(),
                                format!("copy with ops id {id2}"),
                            ))
                        }
                        Err(e) => unique_problem = Some(e),
                    }
                }
            }
        }
    }
    // One process: this build first (a fresh process, so this is the plain
    // get_kernel check), then the second build next to it, then calls.
    let second_pair = match (&second, &unique_problem, &hardcoded_problem) {
        (Some((repo2, id2, _)), None, None) if unique && *id2 != id => {
            Some((repo2.clone(), id2.clone()))
        }
        _ => None,
    };
    let mut pairs: Vec<(&Path, &String)> = vec![(&repo1, &id)];
    if let Some((repo2, id2)) = &second_pair {
        pairs.push((repo2, id2));
    }
    let (res, log) = match run_loads(python, &home, &backend, &pairs, warm) {
        Ok(x) => x,
        Err(e) => {
            r.status = Status::Failed;
            r.reason = Some(format!("{}: {e}", python.display()));
            return r;
        }
    };
    let res = res.unwrap_or_default();
    let loads: Vec<serde_json::Value> = res
        .get("loads")
        .and_then(|l| l.as_array())
        .cloned()
        .unwrap_or_default();
    let l1 = loads.first().cloned().unwrap_or_default();
    if l1.get("new_ops").is_none() {
        r.status = Status::Failed;
        match field(&l1, "error").or_else(|| field(&res, "error")) {
            Some(err) => {
                r.reason = Some(format!("get_local_kernel failed: {err}"));
                r.log = field(&l1, "traceback").or_else(|| field(&res, "traceback"));
            }
            None => {
                r.reason = Some(
                    "the Python process died while loading (crash in the native module?)".into(),
                );
                r.log = Some(log);
            }
        }
        return r;
    }
    r.ops = list(&l1, "new_ops");
    if field(&l1, "module").as_deref() != Some(id.as_str()) {
        r.problems.push(format!(
            "the loader imported the package as `{}`, expected the id `{id}`",
            field(&l1, "module").unwrap_or_default()
        ));
    }
    for op in &r.ops {
        if !op.starts_with(&format!("{id}::")) {
            r.problems.push(format!(
                "registers `{op}` outside its namespace `{id}`: two builds of this kernel would clash"
            ));
        }
    }
    if r.ops.is_empty() {
        r.reason = Some("loaded; it registers no Torch ops".into());
    }
    if !r.problems.is_empty() {
        r.status = Status::Failed;
        return r;
    }
    if !unique {
        return r;
    }

    // The unique property.
    let mut u = UniqueCheck {
        status: Status::Ok,
        second: second
            .as_ref()
            .map(|s| s.2.clone())
            .unwrap_or_else(|| "none".into()),
        second_id: second.as_ref().map(|s| s.1.clone()),
        calls: Vec::new(),
        problems: Vec::new(),
    };
    let synthesized = other.is_none();
    let inconclusive = |u: &mut UniqueCheck, why: String| {
        u.status = Status::Skipped;
        u.problems.push(format!(
            "a renamed copy of this build cannot be made ({why}); pass --other with a second build of the kernel"
        ));
    };
    if let Some(p) = hardcoded_problem {
        u.status = Status::Failed;
        u.problems.push(p);
    } else if let Some(p) = unique_problem {
        u.status = Status::Skipped;
        u.problems.push(p);
    } else if second.is_none() {
        u.status = Status::Skipped;
        u.problems.push("no second build".into());
    } else if second_pair.is_none() {
        u.status = Status::Failed;
        u.problems.push(format!(
            "both builds have the ops id `{id}`; they cannot be loaded into one process"
        ));
    } else {
        let id2 = second_pair
            .as_ref()
            .map(|p| p.1.clone())
            .unwrap_or_default();
        let l2 = loads.get(1).cloned().unwrap_or_default();
        let reregistered = log.contains(&format!("register the namespace {id};"))
            || log.contains(&format!("register the namespace {id} "));
        if l2.get("new_ops").is_none() {
            let err = field(&l2, "error");
            let mentions_old = err.as_deref().is_some_and(|e| e.contains(&id));
            if synthesized && (reregistered || mentions_old || err.is_none()) {
                inconclusive(
                    &mut u,
                    if reregistered {
                        format!("the ops id `{id}` is compiled into the native code, not only stored as a string")
                    } else {
                        format!(
                            "the renamed copy does not load: {}",
                            err.unwrap_or_else(|| "the process died".into())
                        )
                    },
                );
            } else {
                u.status = Status::Failed;
                u.problems.push(format!(
                    "loading a second build of the kernel next to this one failed: {}",
                    err.unwrap_or_else(|| "the process died".into())
                ));
                r.log = field(&l2, "traceback").or(Some(log.clone()));
            }
        } else {
            let ops2 = list(&l2, "new_ops");
            for op in ops2.iter().filter(|o| !o.starts_with(&format!("{id2}::"))) {
                u.problems.push(format!(
                    "the second build registers `{op}` outside its namespace `{id2}`"
                ));
            }
            if l1.get("module_id") == l2.get("module_id") {
                u.problems
                    .push("the loader returned the same module for both builds".into());
            }
            let after = list(&res, "first_ops_after");
            if res.get("first_ops_after").is_some() && after != r.ops {
                u.problems
                    .push("the ops of this build changed when the second build was loaded".into());
            }
            if let Some(err) = field(&res, "error") {
                u.problems.push(format!("calling the ops failed: {err}"));
            }
            for c in res
                .get("calls")
                .and_then(|c| c.as_array())
                .cloned()
                .unwrap_or_default()
            {
                let call = OpCall {
                    op: field(&c, "op").unwrap_or_default(),
                    status: field(&c, "status").unwrap_or_default(),
                    detail: field(&c, "detail"),
                };
                if call.status == "differ" || call.status == "missing-in-second" {
                    u.problems.push(format!(
                        "op `{}`: the two builds behave differently ({})",
                        call.op,
                        call.detail.clone().unwrap_or_else(|| call.status.clone())
                    ));
                }
                u.calls.push(call);
            }
            if !u.problems.is_empty() {
                u.status = Status::Failed;
            }
        }
    }
    if u.status == Status::Failed {
        r.status = Status::Failed;
    }
    r.unique = Some(u);
    r
}

fn field(v: &serde_json::Value, k: &str) -> Option<String> {
    v.get(k).and_then(|x| x.as_str()).map(str::to_string)
}

fn list(v: &serde_json::Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(|x| x.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Run the load script over (repo, id) pairs. Returns the last state it printed
/// (`None` if it printed none) and the tail of its output.
/// A loader process started ahead of the check: it imports `kernels` and
/// torch (most of the check's time) while the build compiles, then waits for
/// the variant on stdin. Dropped unused, it is ended.
pub struct Prestarted {
    python: PathBuf,
    child: Option<std::process::Child>,
    home: tempfile::TempDir,
    answer: PathBuf,
    /// A loader server's socket (instead of `child`), and the server when
    /// this build started it (to notice it dying while it imports).
    server: Option<(PathBuf, Option<std::process::Child>)>,
}

/// Turns the loader server off: every check starts its own interpreter.
pub const NO_SERVER_ENV: &str = "KERNEL_BUILDER_NO_LOADER_SERVER";
/// How long a loader server waits for its next check before it exits.
pub const SERVER_IDLE: Duration = Duration::from_secs(600);
/// Seconds of idle time for servers started from here (tests shorten it).
const SERVER_IDLE_ENV: &str = "KERNEL_BUILDER_LOADER_SERVER_IDLE";

/// How the loader check will run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Warmth {
    /// A server for this environment was already running.
    WarmServer,
    /// This build started the server (it imports while the build compiles).
    NewServer,
    /// A process of its own, started ahead.
    Prestarted,
}

impl Prestarted {
    pub fn warmth(&self) -> Warmth {
        match &self.server {
            Some((_, None)) => Warmth::WarmServer,
            Some((_, Some(_))) => Warmth::NewServer,
            None => Warmth::Prestarted,
        }
    }
}

/// A loader for a later [`verify_variant_prestarted`] served by the loader
/// server listening on `socket` (one per Python environment; the caller keys
/// the path): the one there, or a new one started now, at the lowest CPU
/// priority and in its own process group, that imports `kernels` and torch
/// once and forks a child per check, then exits after [`SERVER_IDLE`] without
/// a check. Falls back to [`prestart`] when [`NO_SERVER_ENV`] is set, the
/// socket path is too long for a Unix socket, or the server cannot start.
pub fn prestart_served(python: &Path, socket: &Path) -> Option<Prestarted> {
    use std::os::unix::process::CommandExt;
    let off = std::env::var_os(NO_SERVER_ENV).is_some_and(|v| !v.is_empty());
    // sun_path holds 108 bytes with the terminating NUL.
    if off || socket.as_os_str().len() > 100 {
        return prestart(python);
    }
    let home = tempfile::Builder::new()
        .prefix("kb-verify-")
        .tempdir()
        .ok()?;
    let answer = home.path().join(".kb-load.json");
    if std::os::unix::net::UnixStream::connect(socket).is_ok() {
        return Some(Prestarted {
            python: python.to_path_buf(),
            child: None,
            home,
            answer,
            server: Some((socket.to_path_buf(), None)),
        });
    }
    let started = (|| {
        let dir = socket.parent()?;
        std::fs::create_dir_all(dir).ok()?;
        // Only this user may connect.
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).ok()?;
        let server_home = socket.with_extension("home");
        std::fs::create_dir_all(&server_home).ok()?;
        let _ = std::fs::remove_file(socket);
        let idle = std::env::var(SERVER_IDLE_ENV)
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(SERVER_IDLE.as_secs());
        let mut c = python_command(python, &server_home);
        c.arg("-c")
            .arg(scripts::VERIFY_SERVER)
            .arg(socket)
            .arg(idle.to_string())
            .arg(scripts::VERIFY_LOAD)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let child = c.spawn().ok()?;
        // SAFETY: setpriority takes plain integers and touches no memory.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, child.id(), 19);
        }
        Some(child)
    })();
    match started {
        Some(child) => Some(Prestarted {
            python: python.to_path_buf(),
            child: None,
            home,
            answer,
            server: Some((socket.to_path_buf(), Some(child))),
        }),
        None => prestart(python),
    }
}

/// One check through a loader server: the output of the forked child, or why
/// the server could not answer (the caller then runs the check itself).
fn served_load(
    socket: &Path,
    mut started: Option<&mut std::process::Child>,
    home: &Path,
    answer: &Path,
    argv: &[String],
) -> Result<String, String> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + LIMIT;
    let mut stream = loop {
        match std::os::unix::net::UnixStream::connect(socket) {
            Ok(s) => break s,
            Err(e) => {
                // Still importing, or it died doing so.
                if let Some(c) = started.as_mut() {
                    if !matches!(c.try_wait(), Ok(None)) {
                        return Err("the loader server ended before it listened".into());
                    }
                } else {
                    return Err(format!("the loader server does not answer: {e}"));
                }
                if Instant::now() >= deadline {
                    return Err("the loader server did not start listening in time".into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    let log = home.join(".kb-load.log");
    let mut full = vec![answer.to_string_lossy().into_owned()];
    full.extend(argv.iter().cloned());
    let line = serde_json::json!({ "argv": full, "log": log }).to_string() + "\n";
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(line.as_bytes())
        .map_err(|e| format!("cannot send the check to the loader server: {e}"))?;
    let left = deadline.saturating_duration_since(Instant::now());
    stream
        .set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .map_err(|e| e.to_string())?;
    // The child closes the connection when it is done.
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .map_err(|e| format!("no answer from the loader server: {e}"))?;
    Ok(std::fs::read_to_string(&log).unwrap_or_default())
}

impl Drop for Prestarted {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts the loader for a later [`verify_variant_prestarted`] with the same
/// `python`. `None` when it cannot be started (the check then starts its own).
pub fn prestart(python: &Path) -> Option<Prestarted> {
    let home = tempfile::Builder::new()
        .prefix("kb-verify-")
        .tempdir()
        .ok()?;
    let h = home.path().join("home");
    std::fs::create_dir_all(&h).ok()?;
    let answer = h.join(".kb-load.json");
    let mut c = python_command(python, &h);
    c.arg("-c")
        .arg(scripts::VERIFY_LOAD)
        .arg(&answer)
        .arg("--stdin")
        .stdin(Stdio::piped());
    let child = c.spawn().ok()?;
    // Lowest CPU priority: it runs on cores the compile leaves idle instead
    // of taking them from the compilers (a machine with few cores gains
    // nothing from overlapping it otherwise). Raising one's own child's nice
    // value needs no privilege; a failure only costs that overlap.
    // SAFETY: setpriority takes plain integers and touches no memory.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, child.id(), 19);
    }
    Some(Prestarted {
        python: python.to_path_buf(),
        child: Some(child),
        home,
        answer,
        server: None,
    })
}

fn run_loads(
    python: &Path,
    home: &Path,
    backend: &str,
    pairs: &[(&Path, &String)],
    warm: Option<Prestarted>,
) -> Result<(Option<serde_json::Value>, String), String> {
    // Holds the prestarted process's home (and its answer file) until read.
    let mut warm = warm;
    let mut served = None;
    if let Some(w) = warm.as_mut() {
        if let Some((socket, started)) = w.server.as_mut() {
            let mut argv: Vec<String> = vec![backend.to_string()];
            for (repo, id) in pairs {
                argv.push(repo.to_string_lossy().into_owned());
                argv.push(id.to_string());
            }
            let _ = std::fs::remove_file(&w.answer);
            // A server that cannot answer: the check runs in its own process.
            if let Ok(out) = served_load(socket, started.as_mut(), w.home.path(), &w.answer, &argv)
            {
                served = Some((out, String::new(), w.answer.clone()));
            }
        }
    }
    let warm_child = warm.as_ref().is_some_and(|w| w.child.is_some());
    let (stdout, stderr, answer) = match (served, warm.as_mut()) {
        (Some(s), _) => s,
        (None, Some(w)) if warm_child => {
            // The process imported the loader while the build ran; it reads
            // the rest of its arguments as one JSON line.
            let mut rest: Vec<String> = vec![backend.to_string()];
            for (repo, id) in pairs {
                rest.push(repo.to_string_lossy().into_owned());
                rest.push(id.to_string());
            }
            let line = serde_json::to_string(&rest).map_err(|e| e.to_string())? + "\n";
            let mut stdin = w
                .child
                .as_mut()
                .and_then(|c| c.stdin.take())
                .ok_or("no stdin")?;
            std::io::Write::write_all(&mut stdin, line.as_bytes())
                .map_err(|e| format!("cannot hand over the variant: {e}"))?;
            drop(stdin);
            let child = w.child.take().ok_or("no process")?;
            let (o, e, _) = wait_limited(child, LIMIT)?;
            (o, e, w.answer.clone())
        }
        _ => {
            let answer = home.join(".kb-load.json");
            let _ = std::fs::remove_file(&answer);
            let mut c = python_command(python, home);
            c.arg("-c")
                .arg(scripts::VERIFY_LOAD)
                .arg(&answer)
                .arg(backend);
            for (repo, id) in pairs {
                c.arg(repo).arg(id.as_str());
            }
            let (o, e, _) = run_limited(c, LIMIT)?;
            (o, e, answer)
        }
    };
    let log = tail(
        &format!("{stdout}\n{stderr}")
            .lines()
            .filter(|l| !l.starts_with("frame #"))
            .collect::<Vec<_>>()
            .join("\n"),
        25,
    );
    let answer = read_answer(&answer);
    drop(warm);
    Ok((answer, log))
}

/// The `verify` report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct VerifyReport {
    pub python: String,
    pub probe: Probe,
    pub variants: Vec<VariantVerify>,
}

/// `kernel-builder verify DIR`.
pub fn run(dir: &Path, options: &VerifyOptions) -> Result<VerifyReport, kb_core::Error> {
    let target = resolve_target(dir, false)?;
    let base = report_base(dir, &target);
    // Links out of a variant and special files are refused before any Python runs.
    for v in target.variants() {
        kb_core::walk::files(&v, kb_core::walk::Rule::Variant).map_err(crate::InputError::from)?;
    }
    let home = tempfile::Builder::new()
        .prefix("kb-verify-home-")
        .tempdir()
        .map_err(|e| {
            kb_core::Error::input(
                std::env::temp_dir(),
                format!("cannot create a temporary directory: {e}"),
            )
        })?;
    let (python, probe) = find_python(options.python.as_deref(), home.path()).map_err(|e| {
        kb_core::Error::input(
            options.python.clone().unwrap_or_else(|| "python3".into()),
            e,
        )
    })?;
    let mut variants = Vec::new();
    for v in target.variants() {
        let mut r = verify_variant(
            &v,
            &python,
            &probe,
            options.other.as_deref(),
            options.unique,
        );
        r.variant = display_path(&v, &base);
        variants.push(r);
    }
    Ok(VerifyReport {
        python: python.display().to_string(),
        probe,
        variants,
    })
}

impl Report for VerifyReport {
    fn text(&self) -> String {
        render_text(self)
    }

    fn status(&self) -> ExitStatus {
        if self.variants.iter().any(|v| v.status == Status::Failed) {
            ExitStatus::Findings
        } else {
            ExitStatus::Ok
        }
    }
}

fn render_text(r: &VerifyReport) -> String {
    let p = &r.probe;
    let mut s = format!(
        "Loader: {} (Python {}, torch {}, kernels {}; {}-{})\n",
        r.python,
        p.python,
        p.torch.as_deref().unwrap_or("?"),
        p.kernels.as_deref().unwrap_or("?"),
        p.machine,
        p.system
    );
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for v in &r.variants {
        let tag = match v.status {
            Status::Ok => "ok  ",
            Status::Failed => "FAIL",
            Status::Skipped => "skip",
        };
        *counts.entry(tag.trim()).or_default() += 1;
        s.push_str(&format!("{tag}  {}", v.variant));
        match (&v.status, &v.reason) {
            (Status::Ok, _) => s.push_str(&format!(
                ": loaded as `{}`, {} op{}",
                v.id.as_deref().unwrap_or("?"),
                v.ops.len(),
                if v.ops.len() == 1 { "" } else { "s" }
            )),
            (_, Some(reason)) => s.push_str(&format!(": {reason}")),
            _ => {}
        }
        s.push('\n');
        for p in &v.problems {
            s.push_str(&format!("      {p}\n"));
        }
        if let Some(u) = &v.unique {
            let called = u.calls.iter().filter(|c| c.status == "same").count();
            match u.status {
                Status::Ok => s.push_str(&format!(
                    "      unique: loaded together with {} ({}); {} of {} ops called on both with equal results\n",
                    u.second,
                    u.second_id.as_deref().unwrap_or("?"),
                    called,
                    u.calls.len()
                )),
                Status::Skipped => s.push_str(&format!(
                    "      unique: not checked: {}\n",
                    u.problems.join("; ")
                )),
                Status::Failed => {
                    s.push_str(&format!("      unique: FAILED with {}\n", u.second));
                    for p in &u.problems {
                        s.push_str(&format!("        {p}\n"));
                    }
                }
            }
            for c in u
                .calls
                .iter()
                .filter(|c| c.status == "skipped" || c.status == "both-raised")
            {
                s.push_str(&format!(
                    "        op `{}`: {} ({})\n",
                    c.op,
                    c.status,
                    c.detail.as_deref().unwrap_or("")
                ));
            }
        }
        if v.status == Status::Failed {
            if let Some(log) = &v.log {
                for l in log.lines() {
                    s.push_str(&format!("      | {l}\n"));
                }
            }
        }
    }
    s.push_str(&format!(
        "{} variant{}: {} ok, {} failed, {} skipped (not loadable on this host)\n",
        r.variants.len(),
        if r.variants.len() == 1 { "" } else { "s" },
        counts.get("ok").unwrap_or(&0),
        counts.get("FAIL").unwrap_or(&0),
        counts.get("skip").unwrap_or(&0)
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sibling_ids_keep_the_gnu_hash() {
        for id in [
            "_relu_cpu_abc1234",
            "_relu_cpu_1234567_dirty",
            "_x_cuda_deadbee",
            "_a_cpu_00000000",
        ] {
            let s = sibling_id(id).unwrap();
            assert_ne!(s, id);
            assert_eq!(s.len(), id.len());
            assert!(
                s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                "{s}"
            );
            for (pre, post) in [
                ("", ""),
                ("PyInit_", ""),
                ("_ZN", "4reluEv"),
                ("TORCH_LIBRARY_init_", ""),
            ] {
                assert_eq!(
                    gnu_hash(format!("{pre}{id}{post}").as_bytes()),
                    gnu_hash(format!("{pre}{s}{post}").as_bytes())
                );
            }
        }
        assert_eq!(gnu_hash(b""), 5381);
        assert_eq!(gnu_hash(b"printf"), 0x156b2bb8);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn prestarted_loader_runs_at_the_lowest_priority() {
        // Any interpreter will do: the priority is set right after the start.
        let w = prestart(Path::new("python3")).expect("python3 starts");
        let pid = w.child.as_ref().expect("running").id();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // Fields after the command name: state is the 3rd field, nice the 19th.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let nice: i32 = rest.split(' ').nth(16).unwrap().parse().unwrap();
        assert_eq!(nice, 19, "{stat}");
    }

    fn probe() -> Probe {
        Probe {
            torch_mm: Some((2, 15)),
            cuda: Some("13.2".into()),
            cxx11: true,
            machine: "x86_64".into(),
            system: "linux".into(),
            ..Probe::default()
        }
    }

    #[test]
    fn loadability_follows_the_variant_name() {
        let p = probe();
        let ok = |n: &str| loadable(&VariantName::parse(n).unwrap(), &p);
        assert_eq!(ok("torch215-cxx11-cpu-x86_64-linux").unwrap(), "cpu");
        assert_eq!(ok("torch215-cxx11-cu130-x86_64-linux").unwrap(), "cuda");
        assert_eq!(
            ok("torch-stable-abi211-cu132-x86_64-linux").unwrap(),
            "cuda"
        );
        assert_eq!(ok("torch-cpu").unwrap(), "cpu");
        assert!(ok("torch214-cxx11-cpu-x86_64-linux")
            .unwrap_err()
            .contains("torch 2.14"));
        assert!(ok("torch215-cxx11-cu126-x86_64-linux").is_err());
        assert!(ok("torch215-cxx11-cpu-aarch64-linux").is_err());
        assert!(ok("torch215-cpu-aarch64-darwin").is_err());
        assert!(ok("torch215-cxx11-rocm72-x86_64-linux").is_err());
        assert!(ok("tvm-ffi01-cpu-x86_64-linux").is_err());
        // A variant for a newer CUDA than torch's, ROCm and CPU-only torch builds.
        let older = Probe {
            cuda: Some("13.0".into()),
            ..probe()
        };
        assert!(loadable(
            &VariantName::parse("torch215-cxx11-cu132-x86_64-linux").unwrap(),
            &older
        )
        .is_err());
        let rocm = Probe {
            cuda: None,
            hip: Some("7.2".into()),
            ..probe()
        };
        assert_eq!(
            loadable(
                &VariantName::parse("torch215-cxx11-rocm72-x86_64-linux").unwrap(),
                &rocm
            )
            .unwrap(),
            "rocm"
        );
        let cpu_only = Probe {
            cuda: None,
            ..probe()
        };
        assert!(loadable(
            &VariantName::parse("torch215-cxx11-cu132-x86_64-linux").unwrap(),
            &cpu_only
        )
        .is_err());
    }
}
