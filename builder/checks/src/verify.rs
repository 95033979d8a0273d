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
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde::{Deserialize, Serialize};

use super::{display_path, resolve_target, Target, VariantFramework, VariantName};
use crate::commands::{CmdResult, Failure};

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A kernel project, its `build/` directory, or one variant
    pub kernel_dir: Option<PathBuf>,
    /// Python interpreter with `kernels` and `torch` installed (default: the
    /// first of `python3`, `$VIRTUAL_ENV/bin/python`, `$KB_PYTHON`,
    /// `$KB_VENV/bin/python` that has them)
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// A second build of the same kernel (different ops id) to load together
    /// with the first; default: a copy with a synthesized ops id
    #[arg(long, value_name = "DIR")]
    pub other: Option<PathBuf>,
    /// Skip the two-builds-in-one-process check
    #[arg(long)]
    pub no_unique: bool,
    /// Machine-readable output
    #[arg(long)]
    pub json: bool,
}

const MARK: &str = "@@KB-VERIFY@@";

const PROBE_PY: &str = r#"
import json, platform, sys, sysconfig
info = {"python": platform.python_version(), "executable": sys.executable}
try:
    import kernels
    info["kernels"] = getattr(kernels, "__version__", "?")
except Exception as e:
    info["kernels_error"] = f"{type(e).__name__}: {e}"
try:
    import torch
    v = torch.__version__.split("+")[0].split(".")
    info["torch"] = torch.__version__
    info["torch_mm"] = [int(v[0]), int(v[1])]
    info["cuda"] = torch.version.cuda
    info["hip"] = getattr(torch.version, "hip", None)
    info["xpu"] = getattr(torch.version, "xpu", None)
    info["mps"] = bool(torch.backends.mps.is_available())
    info["cxx11"] = bool(torch.compiled_with_cxx11_abi())
    info["gpu"] = bool(torch.cuda.is_available())
except Exception as e:
    info["torch_error"] = f"{type(e).__name__}: {e}"
try:
    import tvm_ffi
    v = tvm_ffi.__version__.split(".")
    info["tvm_ffi_mm"] = [int(v[0]), int(v[1])]
except Exception:
    pass
m = platform.machine()
s = platform.system().lower()
if s == "darwin" and m == "arm64":
    m = "aarch64"
if s == "windows" and m == "AMD64":
    m = "x86_64"
info["machine"] = m
info["system"] = s
info["free_threaded"] = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
print("@@KB-VERIFY@@" + json.dumps(info))
"#;

/// Loads builds into one process (argv: backend, then repo/id pairs) in
/// order, recording the ops each registers; stops before a load that would
/// crash the process (a build whose ops landed outside its namespace). With
/// two builds it then calls each op of the first pair's namespace in both,
/// with the same inputs. Prints its cumulative state after every step, so a
/// crash still tells how far it got.
const LOAD_PY: &str = r#"
import json, sys, traceback
from pathlib import Path
MARK = "@@KB-VERIFY@@"
res = {"phase": "import", "loads": []}
def emit():
    print(MARK + json.dumps(res), flush=True)
try:
    import torch, kernels
    backend = sys.argv[1]
    pairs = [(Path(sys.argv[i]), sys.argv[i + 1]) for i in range(2, len(sys.argv) - 1, 2)]
    def ops_in(ns):
        return sorted(n for n in torch._C._dispatch_get_all_op_names() if n.startswith(ns + "::"))
    for repo, ns in pairs:
        res["phase"] = f"load {ns}"
        entry = {"id": ns}
        res["loads"].append(entry)
        emit()
        before = set(torch._C._dispatch_get_all_op_names())
        try:
            m = kernels.get_local_kernel(repo, backend=backend)
        except BaseException as e:
            entry["error"] = f"{type(e).__name__}: {e}"
            entry["traceback"] = traceback.format_exc()[-3000:]
            break
        after = set(torch._C._dispatch_get_all_op_names())
        entry["module"] = m.__name__
        entry["file"] = getattr(m, "__file__", None)
        entry["new_ops"] = sorted(after - before)
        entry["module_id"] = id(m)
        if any(not op.startswith(ns + "::") for op in entry["new_ops"]):
            break
    res["phase"] = "loaded"
    emit()
    loads = res["loads"]
    if len(pairs) == 2 and len(loads) == 2 and all("new_ops" in l for l in loads):
        (_, id1), (_, id2) = pairs
        res["first_ops_after"] = ops_in(id1)
        res["phase"] = "call"
        dev = "cpu"
        if backend != "cpu":
            dev = {"cuda": "cuda", "rocm": "cuda", "xpu": "xpu", "metal": "mps"}.get(backend, backend)
            if dev == "cuda" and not torch.cuda.is_available():
                dev = None
            elif dev == "xpu" and not (hasattr(torch, "xpu") and torch.xpu.is_available()):
                dev = None
            elif dev == "mps" and not torch.backends.mps.is_available():
                dev = None
        calls = []
        res["calls"] = calls
        second_ops = set(ops_in(id2))
        for full in ops_in(id1):
            name = full.split("::", 1)[1]
            entry = {"op": name}
            calls.append(entry)
            if f"{id2}::{name}" not in second_ops:
                entry["status"] = "missing-in-second"
                continue
            if dev is None:
                entry["status"] = "skipped"
                entry["detail"] = f"no {backend} device on this machine"
                continue
            p1 = getattr(getattr(torch.ops, id1), name)
            p2 = getattr(getattr(torch.ops, id2), name)
            ov = "default" if "default" in p1.overloads() else p1.overloads()[0]
            o1, o2 = getattr(p1, ov), getattr(p2, ov)
            schema = o1._schema
            def make():
                args = []
                for a in schema.arguments:
                    t = str(a.type)
                    if a.kwarg_only:
                        if a.has_default_value():
                            continue
                        raise TypeError(f"keyword-only argument `{a.name}: {t}`")
                    if t == "Tensor":
                        args.append(torch.randn(64, device=dev))
                    elif t == "Tensor?":
                        args.append(None)
                    elif a.has_default_value():
                        break
                    elif t in ("int", "SymInt"):
                        args.append(1)
                    elif t in ("float", "Scalar"):
                        args.append(1.0)
                    elif t == "bool":
                        args.append(False)
                    else:
                        raise TypeError(f"argument `{a.name}: {t}` has no generic test value")
                return args
            try:
                torch.manual_seed(0); a1 = make()
                torch.manual_seed(0); a2 = make()
            except TypeError as e:
                entry["status"] = "skipped"
                entry["detail"] = str(e)
                continue
            def run(o, a):
                try:
                    return ("ok", o(*a), a)
                except Exception as e:
                    return ("raised", type(e).__name__, a)
            r1, r2 = run(o1, a1), run(o2, a2)
            def flat(x):
                if isinstance(x, torch.Tensor):
                    return [x]
                if isinstance(x, (list, tuple)):
                    return [t for y in x for t in flat(y)]
                return [x]
            def same(x, y):
                fx, fy = flat(x), flat(y)
                if len(fx) != len(fy):
                    return False
                for u, v in zip(fx, fy):
                    if isinstance(u, torch.Tensor) and isinstance(v, torch.Tensor):
                        if u.shape != v.shape or not torch.equal(torch.nan_to_num(u), torch.nan_to_num(v)):
                            return False
                    elif u != v:
                        return False
                return True
            if r1[0] == "ok" and r2[0] == "ok":
                entry["status"] = "same" if same((r1[1], r1[2]), (r2[1], r2[2])) else "differ"
            elif r1[0] == r2[0] == "raised" and r1[1] == r2[1]:
                entry["status"] = "both-raised"
                entry["detail"] = r1[1]
            else:
                entry["status"] = "differ"
                entry["detail"] = f"first: {r1[0]} {r1[1] if r1[0] == 'raised' else ''}, second: {r2[0]} {r2[1] if r2[0] == 'raised' else ''}"
    res["phase"] = "done"
except BaseException as e:
    res["error"] = f"{type(e).__name__}: {e}"
    res["traceback"] = traceback.format_exc()[-3000:]
emit()
"#;

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

/// A clean environment for the loader: temporary HOME and caches, the Hub
/// offline, no bytecode written into the build.
fn python_command(python: &Path, home: &Path) -> Command {
    let mut c = Command::new(python);
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
    let mut child = c.spawn().map_err(|e| format!("cannot start: {e}"))?;
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

fn marked_json(stdout: &str) -> Option<serde_json::Value> {
    stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(MARK))
        .and_then(|j| serde_json::from_str(j).ok())
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

const LIMIT: Duration = Duration::from_secs(900);

/// Probe a Python interpreter.
pub fn probe(python: &Path, home: &Path) -> Result<Probe, String> {
    let mut c = python_command(python, home);
    c.arg("-c").arg(PROBE_PY);
    let (out, err, _) = run_limited(c, LIMIT)?;
    let v =
        marked_json(&out).ok_or_else(|| format!("no answer from the probe: {}", tail(&err, 5)))?;
    serde_json::from_value(v).map_err(|e| format!("unexpected probe answer: {e}"))
}

/// Pick the interpreter: `--python`, else the first candidate that has both
/// `kernels` and `torch`.
pub fn find_python(explicit: Option<&Path>, home: &Path) -> Result<(PathBuf, Probe), String> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    match explicit {
        Some(p) => candidates.push(p.to_path_buf()),
        None => {
            candidates.push("python3".into());
            if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
                candidates.push(PathBuf::from(v).join("bin/python"));
            }
            // The toolchain kernel-builder provisions (exported by ci/env.sh).
            if let Some(p) = std::env::var_os("KB_PYTHON") {
                candidates.push(PathBuf::from(p));
            }
            if let Some(v) = std::env::var_os("KB_VENV") {
                candidates.push(PathBuf::from(v).join("bin/python"));
            }
            // Last resort: the environments the local backend provisioned.
            candidates.extend(crate::backends::toolchain::provisioned_pythons());
        }
    }
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
    match &v.framework {
        VariantFramework::Torch {
            major,
            minor,
            cxx11,
        } => {
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
        VariantFramework::TorchStableAbi { major, minor } => {
            if (*major, *minor) > torch {
                return Err(format!(
                    "needs torch >= {major}.{minor}, the Python has torch {}.{}",
                    torch.0, torch.1
                ));
            }
        }
        VariantFramework::TvmFfi { major, minor } => match p.tvm_ffi_mm {
            Some(t) if t == (*major, *minor) => {}
            Some(t) => {
                return Err(format!(
                    "built for tvm-ffi {major}.{minor}, the Python has {}.{}",
                    t.0, t.1
                ))
            }
            None => return Err("the Python has no tvm-ffi".into()),
        },
        VariantFramework::TorchNoarch => {}
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
    let meta_path = variant.join("metadata.json");
    let meta_text = std::fs::read_to_string(&meta_path)
        .map_err(|e| format!("{}: cannot read: {e}", meta_path.display()))?;
    let mut meta: serde_json::Value = serde_json::from_str(&meta_text)
        .map_err(|e| format!("{}: invalid JSON: {e}", meta_path.display()))?;
    let id = meta
        .get("id")
        .and_then(|i| i.as_str())
        .ok_or_else(|| format!("{}: no `id`", meta_path.display()))?
        .to_string();
    let new_id =
        sibling_id(&id).ok_or_else(|| format!("cannot derive a second ops id from `{id}`"))?;
    let mut stack = vec![(variant.to_path_buf(), dest.to_path_buf())];
    while let Some((src, dst)) = stack.pop() {
        std::fs::create_dir_all(&dst).map_err(|e| format!("{}: {e}", dst.display()))?;
        let rd = std::fs::read_dir(&src).map_err(|e| format!("{}: {e}", src.display()))?;
        for entry in rd {
            let entry = entry.map_err(|e| e.to_string())?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let new_name = name.replace(&id, &new_id);
            let target = dst.join(&new_name);
            let meta_fs =
                std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if meta_fs.is_dir() {
                if name != "__pycache__" {
                    stack.push((path, target));
                }
                continue;
            }
            let top = src == variant;
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let out = if top && name == "metadata.json" {
                let o = meta.as_object_mut().expect("object");
                o.insert("id".into(), new_id.clone().into());
                o.remove("digest");
                serde_json::to_vec_pretty(&meta).expect("serializes")
            } else if top && name == "_ops.py" {
                replace_all(&bytes, id.as_bytes(), new_id.as_bytes()).0
            } else if super::abi::is_native_name(&name) {
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
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(
                    &target,
                    std::fs::Permissions::from_mode(meta_fs.permissions().mode()),
                );
            }
        }
    }
    Ok((id, new_id))
}

/// A one-variant repository for the loader: `<repo>/build/<name>` -> variant.
fn stage(variant: &Path, repo: &Path) -> Result<PathBuf, String> {
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

/// Python files other than `_ops.py` that contain `id` (relative paths).
pub fn python_files_mentioning(variant: &Path, id: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![variant.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                if e.file_name() != "__pycache__" {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "py")
                && !(d == variant && e.file_name() == "_ops.py")
                && std::fs::read_to_string(&p).is_ok_and(|t| t.contains(id))
            {
                out.push(display_path(&p, variant));
            }
        }
    }
    out.sort();
    out
}

fn read_id(variant: &Path) -> Option<String> {
    let text = std::fs::read_to_string(variant.join("metadata.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("id")?.as_str().map(str::to_string)
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
        r.reason = Some("metadata.json has no readable `id`".into());
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
                let hardcoded = python_files_mentioning(variant, &id);
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
    let (res, log) = match run_loads(python, &home, &backend, &pairs) {
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

/// Run [`LOAD_PY`] over (repo, id) pairs. Returns the last state it printed
/// (`None` if it printed none) and the tail of its output.
fn run_loads(
    python: &Path,
    home: &Path,
    backend: &str,
    pairs: &[(&Path, &String)],
) -> Result<(Option<serde_json::Value>, String), String> {
    let mut c = python_command(python, home);
    c.arg("-c").arg(LOAD_PY).arg(backend);
    for (repo, id) in pairs {
        c.arg(repo).arg(id.as_str());
    }
    let (stdout, stderr, _) = run_limited(c, LIMIT)?;
    let log = tail(
        &format!(
            "{}\n{stderr}",
            stdout
                .lines()
                .filter(|l| !l.starts_with(MARK))
                .collect::<Vec<_>>()
                .join("\n")
        )
        .lines()
        .filter(|l| !l.starts_with("frame #"))
        .collect::<Vec<_>>()
        .join("\n"),
        25,
    );
    Ok((marked_json(&stdout), log))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Report {
    python: String,
    probe: Probe,
    variants: Vec<VariantVerify>,
}

/// `kernel-builder verify`.
pub fn command(a: VerifyArgs) -> CmdResult {
    let dir = a.kernel_dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let target = resolve_target(&dir, false).map_err(|e| Failure::new(2, format!("error: {e}")))?;
    let base = match &target {
        Target::Variant(v) => v.parent().map(Path::to_path_buf).unwrap_or_default(),
        _ => dir.clone(),
    };
    let home = tempfile::Builder::new()
        .prefix("kb-verify-home-")
        .tempdir()
        .map_err(|e| {
            Failure::new(
                2,
                format!("error: cannot create a temporary directory: {e}"),
            )
        })?;
    let (python, probe) = find_python(a.python.as_deref(), home.path())
        .map_err(|e| Failure::new(2, format!("error: {e}")))?;
    let mut variants = Vec::new();
    for v in target.variants() {
        let mut r = verify_variant(&v, &python, &probe, a.other.as_deref(), !a.no_unique);
        r.variant = display_path(&v, &base);
        variants.push(r);
    }
    let failed = variants
        .iter()
        .filter(|v| v.status == Status::Failed)
        .count();
    let report = Report {
        python: python.display().to_string(),
        probe,
        variants,
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        let mut s = serde_json::to_string_pretty(&report).expect("serializes");
        s.push('\n');
        let _ = out.write_all(s.as_bytes());
    } else {
        let _ = out.write_all(render_text(&report).as_bytes());
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

fn render_text(r: &Report) -> String {
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
