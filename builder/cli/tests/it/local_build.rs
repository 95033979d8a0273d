//! The local backend end to end, no GPU needed (was `ci/local-build.sh`):
//! builds of `examples/relu` (copied to a temporary directory) that the real
//! `kernels` loader accepts, recorded and reported as Hub-compliant
//! (`ci/compliance.sh` proves it with two checkers), failed and killed builds
//! leave the previous variant intact, and rebuild timings. Needs the torch environment and the CUDA
//! 13.2 wheels that `kernel-builder toolchain` provisions, and a C++
//! compiler; `scripts/test.sh` runs it with `--ignored`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use sha2::Digest;

use crate::support::{kb, python, repo};

const CPU: &str = "torch215-cxx11-cpu-x86_64-linux";
const CU: &str = "torch215-cxx11-cu132-x86_64-linux";

/// A copy of examples/relu without build outputs.
fn relu_copy(tmp: &Path) -> PathBuf {
    let dest = tmp.join("relu");
    let src = repo().join("examples/relu");
    for entry in walkdir::WalkDir::new(&src) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&src).unwrap();
        let first = rel.components().next().map(|c| c.as_os_str().to_owned());
        if first.is_some_and(|f| f == "build" || f == ".kernel-builder") {
            continue;
        }
        let to = dest.join(rel);
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&to).unwrap();
        } else {
            std::fs::copy(entry.path(), &to).unwrap();
        }
    }
    dest
}

fn build(dir: &Path, variants: &[&str], extra: &[&str]) -> Output {
    let mut c = kb();
    c.args(["build", "--local"]).arg(dir);
    for v in variants {
        c.args(["--variant", v]);
    }
    c.args(extra).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file under `build/` with its sha256.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(dir.join("build")) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let bytes = std::fs::read(e.path()).unwrap();
            let hex: String = sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            out.insert(e.path().display().to_string(), hex);
        }
    }
    out
}

const LOADER_CHECK: &str = r#"
import json, logging, sys, warnings
from pathlib import Path
import torch, kernels

root = Path(sys.argv[1])
records = []
class Capture(logging.Handler):
    def emit(self, record):
        if record.levelno >= logging.WARNING:
            records.append(record.getMessage())
logging.getLogger().addHandler(Capture())
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    relu = kernels.get_local_kernel(root, backend="cpu")
problems = [str(w.message) for w in caught] + records
# A dirty kernel-builder checkout is reported by the loader, rightly.
problems = [p for p in problems if "built from a dirty git tree" not in p]
assert not problems, f"loading the CPU variant warned: {problems}"
x = torch.randn(4096)
assert torch.equal(relu.relu(x), torch.relu(x)), "relu differs from torch.relu"
cuda = kernels.get_local_kernel(root, backend="cuda")
name = json.loads((root / "build/torch215-cxx11-cu132-x86_64-linux/metadata.json").read_text())["id"]
ops = [n for n in torch._C._dispatch_get_all_op_names() if n.startswith(name + "::")]
assert ops, f"no ops registered under {name}"
for v in ("torch215-cxx11-cpu-x86_64-linux", "torch215-cxx11-cu132-x86_64-linux"):
    m = json.loads((root / f"build/{v}/metadata.json").read_text())
    info = m["build-info"]
    assert info["kind"] == "local" and info["compliant"] is True, info
    assert info["reasons"] == [] and info["abi-findings"] == [], info
    assert m["digest"]["files"], "digest missing"
print("loader ok")
"#;

#[test]
#[ignore = "needs torch, the CUDA 13.2 wheels and a C++ compiler"]
fn local_builds_load_rebuild_and_survive_failures() {
    let py = python::with_imports("kernels, torch")
        .expect("prerequisite missing: a Python with kernels and torch (set KB_VENV)");
    let tmp = tempfile::tempdir().unwrap();
    let relu = relu_copy(tmp.path());

    // Clean build of both variants.
    let t0 = Instant::now();
    let out = build(&relu, &[CPU, CU], &[]);
    let clean = t0.elapsed();
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(relu.join("build").join(CPU).is_dir() && relu.join("build").join(CU).is_dir());
    assert_eq!(
        log.lines()
            .filter(|l| (l.contains(CPU) || l.contains(CU)) && l.contains("  Hub-compliant"))
            .count(),
        2,
        "both variants should be reported Hub-compliant:\n{log}"
    );

    // The kernels loader accepts both variants.
    let o = Command::new(&py)
        .arg("-c")
        .arg(LOADER_CHECK)
        .arg(&relu)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));

    // A no-op rebuild.
    let t0 = Instant::now();
    let out = build(&relu, &[CPU, CU], &[]);
    let noop = t0.elapsed();
    assert!(out.status.success());
    assert_eq!(
        text(&out).matches("up to date").count(),
        2,
        "{}",
        text(&out)
    );

    // Touching one source recompiles only that file.
    let cpp = relu.join("relu_cpu/relu_cpu.cpp");
    let src = std::fs::read(&cpp).unwrap();
    std::fs::write(&cpp, &src).unwrap();
    let t0 = Instant::now();
    let out = build(&relu, &[CPU], &["-L"]);
    let onefile = t0.elapsed();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        text(&out).matches("Building CXX object").count(),
        1,
        "{}",
        text(&out)
    );

    // A compile error fails that variant only and keeps the previous build.
    let work = tempfile::tempdir().unwrap();
    let bad = relu_copy(work.path());
    let toml = std::fs::read_to_string(bad.join("build.toml")).unwrap();
    let marker = "backend = \"cuda\"\n";
    assert!(toml.contains(marker), "relu's build.toml changed: {toml}");
    let toml = toml.replacen(
        marker,
        "backend = \"cuda\"\ncuda-capabilities = [\"8.0\"]\n",
        1,
    );
    std::fs::write(bad.join("build.toml"), toml).unwrap();
    assert!(build(&bad, &[CPU, CU], &[]).status.success());
    let before = snapshot(&bad);
    let mut broken = std::fs::read_to_string(bad.join("relu_cpu/relu_cpu.cpp")).unwrap();
    broken.push_str("this is not C++;\n");
    std::fs::write(bad.join("relu_cpu/relu_cpu.cpp"), broken).unwrap();
    let out = build(&bad, &[CPU, CU], &[]);
    let log = text(&out);
    assert!(!out.status.success(), "a compile error must fail the build");
    assert!(
        log.contains("does not name a type") || log.contains("expected"),
        "the compiler's message is not shown:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains(CU) && l.contains("up to date")),
        "the other variant should be untouched:\n{log}"
    );
    assert_eq!(
        snapshot(&bad),
        before,
        "build/ changed after a failed build"
    );

    // A killed build keeps the previous build.
    let mut child = kb()
        .args(["build", "--local", "--variant", CPU])
        .arg(&bad)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        snapshot(&bad),
        before,
        "build/ changed after a killed build"
    );

    eprintln!(
        "timings: clean {:.2}s, no-op {:.2}s, one-file change {:.2}s",
        clean.as_secs_f64(),
        noop.as_secs_f64(),
        onefile.as_secs_f64()
    );
    assert!(
        noop.as_secs_f64() <= 0.02 * clean.as_secs_f64(),
        "no-op rebuild exceeds 2% of the clean build"
    );
}

/// Every build.toml flag reaches the compiler as one argument, byte for byte:
/// CMake list and generator-expression syntax, quotes, `>` and `\` included,
/// and a repeated flag is not de-duplicated. The values are stringified into
/// the built module and read back from it.
#[test]
#[ignore = "needs torch and a C++ compiler"]
fn local_build_flags_reach_the_compiler_byte_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let relu = relu_copy(tmp.path());
    let fw_value = r#"$<1:GENEX>"q  w">x,y"#;
    // A `\` only inside the quotes: outside, the stringified value would be read
    // as an escape sequence.
    let k_value = r#"$<TARGET_FILE_NAME:x>a"c\d"${HOME}"#;
    std::fs::write(relu.join("relu_cpu/kb_a.h"), "#define KB_FROM_A 1\n").unwrap();
    std::fs::write(relu.join("relu_cpu/kb_b.h"), "#define KB_FROM_B 1\n").unwrap();
    std::fs::write(
        relu.join("relu_cpu/kb_flags.cpp"),
        r#"#define KB_S2(...) #__VA_ARGS__
#define KB_S(...) KB_S2(__VA_ARGS__)
#if !defined(KB_FROM_A) || !defined(KB_FROM_B)
#error "a repeated -include was dropped"
#endif
extern "C" __attribute__((used, visibility("default"))) const char kb_fw[] = "KBFW<" KB_S(KB_FW) ">";
extern "C" __attribute__((used, visibility("default"))) const char kb_k[] = "KBK<" KB_S(KB_K) ">";
"#,
    )
    .unwrap();
    let lit = |s: &str| format!("'{s}'");
    let toml = std::fs::read_to_string(relu.join("build.toml")).unwrap();
    let a = relu.join("relu_cpu/kb_a.h").display().to_string();
    let b = relu.join("relu_cpu/kb_b.h").display().to_string();
    let toml = toml
        .replace(
            "[torch]\n",
            &format!(
                "[torch]\ncxx-flags = [{}, '-include', '{a}', '-include', '{b}']\n",
                lit(&format!("-DKB_FW={fw_value}"))
            ),
        )
        .replace(
            "src = [\"relu_cpu/relu_cpu.cpp\"]",
            &format!(
                "src = [\"relu_cpu/relu_cpu.cpp\", \"relu_cpu/kb_flags.cpp\"]\ncxx-flags = [{}]",
                lit(&format!("-DKB_K={k_value}"))
            ),
        );
    std::fs::write(relu.join("build.toml"), &toml).unwrap();
    let out = build(&relu, &[CPU], &[]);
    assert!(out.status.success(), "{}\n{toml}", text(&out));
    let so = walkdir::WalkDir::new(relu.join("build").join(CPU))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .find(|p| p.to_string_lossy().ends_with(".abi3.so"))
        .expect("a built module");
    let bytes = std::fs::read(&so).unwrap();
    let has = |s: &str| bytes.windows(s.len()).any(|w| w == s.as_bytes());
    // Stringification keeps a string literal (its two spaces) as written.
    for want in [format!("KBFW<{fw_value}>"), format!("KBK<{k_value}>")] {
        assert!(has(&want), "{want} not in {}", so.display());
    }
}

/// The built module of a variant.
fn module_of(relu: &Path, variant: &str) -> PathBuf {
    walkdir::WalkDir::new(relu.join("build").join(variant))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .find(|p| p.to_string_lossy().ends_with(".abi3.so"))
        .expect("a built module")
}

/// Undefined dynamic symbols with their versions (`nm -D`).
fn undefined_symbols(so: &Path) -> Vec<String> {
    let out = Command::new("nm")
        .args(["-D", "--undefined-only"])
        .arg(so)
        .output()
        .expect("nm (binutils) is needed");
    assert!(out.status.success(), "{}", text(&out));
    let mut syms: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect();
    syms.sort();
    syms
}

/// The binding and the kernel source compile against precompiled torch
/// headers (GCC lists the cached header's dependencies, which only a used PCH
/// gives), the kernel source against its own lighter one (no
/// `torch/library.h`, which only the binding includes), a second kernel copy
/// reuses them, and the module is the same as without them: the same
/// undefined symbols with the same versions (the glibc compat text travels
/// inside the PCH), still compliant.
#[test]
#[ignore = "needs torch and a C++ compiler"]
fn local_build_precompiled_headers_are_used_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let a = relu_copy(tmp.path());
    let out = build(&a, &[CPU], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Hub-compliant"), "{}", text(&out));
    let work = a.join(".kernel-builder").join(CPU);
    let log = std::fs::read_to_string(work.join("build.log")).unwrap();
    // CMake took the probed Python headers instead of running FindPython3.
    assert!(
        log.contains("kernel-builder: Python headers") && !log.contains("Found Python3"),
        "{log}"
    );
    for whose in ["bindings", "kernel sources"] {
        assert!(
            log.contains(&format!(
                "precompiled torch headers ({whose}): precompiled and cached"
            )) || log.contains(&format!(
                "precompiled torch headers ({whose}): reused from the cache"
            )),
            "{log}"
        );
    }
    let args = std::fs::read_to_string(work.join("configure-args")).unwrap();
    let ninja = args
        .lines()
        .find_map(|l| l.strip_prefix("-DCMAKE_MAKE_PROGRAM="))
        .expect("ninja in configure-args");
    let deps = Command::new(ninja)
        .arg("-C")
        .arg(work.join("cmake"))
        .args(["-t", "deps"])
        .output()
        .unwrap();
    let deps = String::from_utf8_lossy(&deps.stdout).into_owned();
    let binding = deps
        .split("\n\n")
        .find(|b| b.contains("torch_binding.cpp.o:"))
        .expect("the binding's dependencies");
    let cached = |deps: &str| {
        deps.lines()
            .any(|l| l.trim().ends_with("/kb_pch.h") && !l.contains(".kernel-builder"))
    };
    assert!(
        cached(binding),
        "the binding did not use the cached precompiled header:\n{binding}"
    );
    assert!(binding.contains("/torch/library.h"), "{binding}");
    let kernel = deps
        .split("\n\n")
        .find(|b| b.contains("relu_cpu.cpp.o:"))
        .expect("the kernel source's dependencies");
    assert!(
        cached(kernel) && kernel.contains("/ATen/Parallel.h"),
        "the kernel source did not use a cached precompiled header:\n{kernel}"
    );
    assert!(
        !kernel.contains("/torch/library.h"),
        "the kernel source got the bindings' header:\n{kernel}"
    );

    // Another copy of the kernel reuses it.
    let tmp2 = tempfile::tempdir().unwrap();
    let b = relu_copy(tmp2.path());
    let out = build(&b, &[CPU], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let log =
        std::fs::read_to_string(b.join(".kernel-builder").join(CPU).join("build.log")).unwrap();
    assert!(
        log.contains("precompiled torch headers (bindings): reused from the cache")
            && log.contains("precompiled torch headers (kernel sources): reused from the cache"),
        "{log}"
    );

    // Without it: the same symbols and versions.
    let tmp3 = tempfile::tempdir().unwrap();
    let c = relu_copy(tmp3.path());
    let out = cpu_build_with(&c, "KERNEL_BUILDER_NO_PCH");
    assert!(out.status.success(), "{}", text(&out));
    let log =
        std::fs::read_to_string(c.join(".kernel-builder").join(CPU).join("build.log")).unwrap();
    assert!(
        log.contains("precompiled torch headers: not used (KERNEL_BUILDER_NO_PCH is set)"),
        "{log}"
    );
    assert_eq!(
        undefined_symbols(&module_of(&a, CPU)),
        undefined_symbols(&module_of(&c, CPU))
    );
}

/// A CPU build of `kernel` with `var=1` in the environment.
fn cpu_build_with(kernel: &Path, var: &str) -> std::process::Output {
    kb().args(["build", "--local", "--variant", CPU])
        .arg(kernel)
        .env(var, "1")
        .output()
        .unwrap()
}

/// The loader check of a second build is served by the loader server the
/// first one found or started (a forked child of an interpreter that has
/// imported torch), and the build is still compliant; with the server turned
/// off the check starts its own interpreter.
#[test]
#[ignore = "needs torch and a C++ compiler"]
fn local_build_loader_server_serves_later_builds() {
    let log_of = |k: &Path| {
        std::fs::read_to_string(k.join(".kernel-builder").join(CPU).join("build.log")).unwrap()
    };
    let tmp = tempfile::tempdir().unwrap();
    let a = relu_copy(tmp.path());
    let out = build(&a, &[CPU], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let first = log_of(&a);
    assert!(
        first.contains("loader check: a new loader server")
            || first.contains("loader check: the warm loader server"),
        "{first}"
    );
    let tmp2 = tempfile::tempdir().unwrap();
    let b = relu_copy(tmp2.path());
    let out = build(&b, &[CPU], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Hub-compliant"), "{}", text(&out));
    let second = log_of(&b);
    assert!(
        second.contains("loader check: the warm loader server of this environment"),
        "{second}"
    );
    let tmp3 = tempfile::tempdir().unwrap();
    let c = relu_copy(tmp3.path());
    let out = cpu_build_with(&c, "KERNEL_BUILDER_NO_LOADER_SERVER");
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Hub-compliant"), "{}", text(&out));
    assert!(
        log_of(&c).contains("loader check: an interpreter of its own"),
        "{}",
        log_of(&c)
    );
}

/// Two builds of one kernel at once: the second waits for the first (it
/// used to fail with "No such file or directory") and then finds the variant
/// up to date.
#[test]
#[ignore = "needs torch and a C++ compiler"]
fn local_build_concurrent_builds_of_one_kernel_wait() {
    let tmp = tempfile::tempdir().unwrap();
    let relu = relu_copy(tmp.path());
    let spawn = || {
        let mut c = kb();
        c.args(["build", "--local", "--variant", CPU])
            .arg(&relu)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    let first = spawn();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let second = spawn();
    let (a, b) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    let (ta, tb) = (text(&a), text(&b));
    assert!(a.status.success() && b.status.success(), "{ta}\n---\n{tb}");
    assert!(
        tb.contains("waiting for another build of this kernel to finish"),
        "{tb}"
    );
    assert!(relu.join("build").join(CPU).is_dir());
}

/// Processes whose environment marks them as tools of a build of `work`.
fn marked_processes(work: &Path) -> Vec<u32> {
    let marker = format!("KERNEL_BUILDER_WORK={}", work.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z');
            !zombie
                && std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.split(|&b| b == 0).any(|kv| kv == marker.as_bytes()))
        })
        .collect()
}

fn wait_until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed().as_secs() < secs, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// SIGTERM/SIGINT end the build's tools with it; after kill -9 (which cannot
/// be caught) the next build ends what was left running.
#[test]
#[ignore = "needs torch and a C++ compiler"]
fn local_build_interrupted_builds_leave_no_tools_running() {
    let tmp = tempfile::tempdir().unwrap();
    let relu = relu_copy(tmp.path());
    let work = relu.canonicalize().unwrap().join(".kernel-builder");
    let start = || {
        let mut c = kb();
        c.args(["build", "--local", "--variant", CPU])
            .arg(&relu)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        c.spawn().unwrap()
    };
    for sig in [libc::SIGTERM, libc::SIGINT] {
        let mut kbp = start();
        wait_until("the build's tools", 120, || {
            !marked_processes(&work).is_empty()
        });
        unsafe { libc::kill(kbp.id() as i32, sig) };
        let status = kbp.wait().unwrap();
        assert!(!status.success());
        wait_until("the tools to end after the signal", 10, || {
            marked_processes(&work).is_empty()
        });
        let _ = std::fs::remove_dir_all(&work);
    }
    let mut kbp = start();
    wait_until("the build's tools", 120, || {
        !marked_processes(&work).is_empty()
    });
    kbp.kill().unwrap();
    kbp.wait().unwrap();
    // kill -9 leaves the tools running; the next build ends them.
    assert!(!marked_processes(&work).is_empty());
    let out = build(&relu, &[CPU], &[]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("interrupted earlier build"), "{log}");
    assert!(marked_processes(&work).is_empty());
}
