//! `check-abi` on binaries built here with gcc (and, when installed, clang
//! and lld for Mach-O and PE), plus torch's own `libtorch_cpu.so` when a
//! torch wheel is installed.

use crate::support::python as test_python;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::kb;

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run a compiler/linker; panics with its output on failure.
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Compile `src` (C) into a shared library `name` in `dir`.
fn gcc_so(dir: &Path, name: &str, src: &str, extra: &[&str]) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, src).unwrap();
    let out = dir.join(name);
    run(Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&out)
        .arg(&c)
        .args(extra)
        .current_dir(dir));
    out
}

/// `check-abi --json` on `path` with extra flags: (exit code, report).
fn check_json(path: &Path, flags: &[&str]) -> (i32, Value) {
    let out = kb()
        .arg("check-abi")
        .arg(path)
        .args(flags)
        .arg("--json")
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bad JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, v)
}

fn violations(report: &Value) -> Vec<Value> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["violations"].as_array().unwrap().clone())
        .collect()
}

fn symbols_of(report: &Value, kind: &str) -> Vec<String> {
    violations(report)
        .iter()
        .filter(|v| v["kind"] == kind)
        .filter_map(|v| v["symbol"].as_str().map(str::to_string))
        .collect()
}

fn text(path: &Path, flags: &[&str]) -> (i32, String) {
    let out = kb()
        .arg("check-abi")
        .arg(path)
        .args(flags)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

const CLEAN_C: &str = r#"
#include <string.h>
#include <stdio.h>
int clean_fn(const char* s) { return (int)strlen(s) + puts(s); }
"#;

/// `pthread_create`/`pthread_join` moved into libc.so.6 in glibc 2.34, so a
/// library built on this (glibc >= 2.34) host needs `GLIBC_2.34`.
const NEW_GLIBC_C: &str = r#"
#include <pthread.h>
static void* run(void* a) { return a; }
int start(void) { pthread_t t; pthread_create(&t, 0, run, 0); return pthread_join(t, 0); }
"#;

fn host_glibc_at_least_2_34() -> bool {
    let out = Command::new("ldd").arg("--version").output();
    let Ok(out) = out else { return false };
    let s = String::from_utf8_lossy(&out.stdout);
    let first = s.lines().next().unwrap_or("");
    let ver = first.rsplit(' ').next().unwrap_or("");
    let mut it = ver.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0)) >= (2, 34)
}

#[test]
fn clean_library_passes() {
    let tmp = tempfile::tempdir().unwrap();
    let so = gcc_so(tmp.path(), "clean.abi3.so", CLEAN_C, &[]);
    let (code, report) = check_json(&so, &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["files"][0]["format"], "elf");
    assert!(violations(&report).is_empty());
    let (code, out) = text(&so, &[]);
    assert_eq!(code, 0);
    assert!(out.contains("ok    clean.abi3.so"), "{out}");
}

#[test]
fn new_glibc_symbol_is_named_also_when_stripped() {
    assert!(
        host_glibc_at_least_2_34(),
        "this test compiles a GLIBC_2.34 symbol: it needs a host glibc >= 2.34"
    );
    let tmp = tempfile::tempdir().unwrap();
    let so = gcc_so(tmp.path(), "new.abi3.so", NEW_GLIBC_C, &[]);
    let stripped = tmp.path().join("stripped.abi3.so");
    std::fs::copy(&so, &stripped).unwrap();
    run(Command::new("strip").arg(&stripped));
    // The stripped copy has no .symtab at all.
    let sections = Command::new("readelf").arg("-S").arg(&stripped).output();
    if let Ok(o) = sections {
        assert!(!String::from_utf8_lossy(&o.stdout).contains(".symtab"));
    }
    for f in [&so, &stripped] {
        let (code, report) = check_json(f, &[]);
        assert_eq!(code, 1, "{report:#}");
        let v = violations(&report);
        let create = v
            .iter()
            .find(|v| v["symbol"] == "pthread_create")
            .unwrap_or_else(|| panic!("pthread_create not named: {report:#}"));
        assert_eq!(create["kind"], "symbol-version");
        assert_eq!(create["required"], "GLIBC_2.34");
        assert_eq!(create["library"], "libc.so.6");
        assert_eq!(create["allowed"], "manylinux_2_28 allows GLIBC up to 2.28");
        let (_, out) = text(f, &[]);
        assert!(
            out.contains("symbol `pthread_create` needs GLIBC_2.34 (from libc.so.6); manylinux_2_28 allows GLIBC up to 2.28"),
            "{out}"
        );
        // A newer policy accepts it.
        let (code, report) = check_json(f, &["-m", "manylinux_2_34"]);
        assert_eq!(code, 0, "{report:#}");
    }
}

#[test]
fn non_whitelisted_library_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    gcc_so(
        tmp.path(),
        "libfoo.so",
        "int foo(void) { return 42; }\n",
        &["-Wl,-soname,libfoo.so"],
    );
    // libz.so.1 is on the whitelist: linking it is fine (when zlib1g-dev is installed).
    let have_libz = [
        "/usr/lib/x86_64-linux-gnu/libz.so",
        "/usr/lib/aarch64-linux-gnu/libz.so",
        "/usr/lib/libz.so",
    ]
    .iter()
    .any(|p| Path::new(p).exists());
    let mut flags = vec!["-L.", "-Wl,--no-as-needed", "-lfoo"];
    if have_libz {
        flags.push("-lz");
    }
    let so = gcc_so(
        tmp.path(),
        "uses_foo.abi3.so",
        "extern int foo(void);\nint bar(void) { return foo(); }\n",
        &flags,
    );
    let (code, report) = check_json(&so, &[]);
    assert_eq!(code, 1, "{report:#}");
    let libs: Vec<&str> = violations(&report)
        .iter()
        .filter(|v| v["kind"] == "library")
        .map(|v| v["library"].as_str().unwrap())
        .map(|s| Box::leak(s.to_string().into_boxed_str()) as &str)
        .collect();
    assert_eq!(libs, vec!["libfoo.so"], "{report:#}");
    let (_, out) = text(&so, &[]);
    assert!(
        out.contains("needs library `libfoo.so`; allowed are the manylinux_2_28 whitelist"),
        "{out}"
    );
    assert!(
        out.contains("libstdc++.so.6"),
        "the hint lists the whitelist: {out}"
    );

    // libssl, when its development files are installed.
    if Path::new("/usr/lib/x86_64-linux-gnu/libssl.so").exists()
        || Path::new("/usr/lib/aarch64-linux-gnu/libssl.so").exists()
    {
        let so = gcc_so(
            tmp.path(),
            "uses_ssl.abi3.so",
            "int bar(void) { return 1; }\n",
            &["-Wl,--no-as-needed", "-lssl"],
        );
        let (code, report) = check_json(&so, &[]);
        assert_eq!(code, 1);
        assert!(violations(&report)
            .iter()
            .any(|v| v["kind"] == "library"
                && v["library"].as_str().unwrap().starts_with("libssl.so")));
    }
}

#[test]
fn a_library_shipped_in_the_same_variant_is_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let variant = tmp.path().join("build/torch215-cxx11-cpu-x86_64-linux");
    std::fs::create_dir_all(&variant).unwrap();
    gcc_so(
        &variant,
        "libhelper.so",
        "int helper(void) { return 1; }\n",
        &["-Wl,-soname,libhelper.so"],
    );
    gcc_so(
        &variant,
        "_k_cpu_1.abi3.so",
        "extern int helper(void);\nint k(void) { return helper(); }\n",
        &["-L.", "-Wl,--no-as-needed", "-lhelper"],
    );
    let (code, report) = check_json(tmp.path(), &[]);
    assert_eq!(code, 0, "{report:#}");
    assert_eq!(report["files"].as_array().unwrap().len(), 2);
    assert_eq!(
        report["files"][0]["variant"],
        "torch215-cxx11-cpu-x86_64-linux"
    );
}

#[test]
fn compute_libraries_only_for_their_backend() {
    let tmp = tempfile::tempdir().unwrap();
    // A fake libcudart so the link works.
    gcc_so(
        tmp.path(),
        "libcudart.so.13",
        "int cudaFree(void* p) { return 0; }\n",
        &["-Wl,-soname,libcudart.so.13"],
    );
    std::os::unix::fs::symlink("libcudart.so.13", tmp.path().join("libcudart.so")).unwrap();
    let src = "extern int cudaFree(void*);\nint k(void) { return cudaFree(0); }\n";
    for (variant, ok) in [
        ("torch215-cxx11-cu132-x86_64-linux", true),
        ("torch215-cxx11-cpu-x86_64-linux", false),
    ] {
        let dir = tmp.path().join("build").join(variant);
        std::fs::create_dir_all(&dir).unwrap();
        gcc_so(
            &dir,
            "_k_x_1.abi3.so",
            src,
            &["-L..", "-L../..", "-Wl,--no-as-needed", "-lcudart"],
        );
        let (code, report) = check_json(&dir, &[]);
        assert_eq!(code == 0, ok, "{variant}: {report:#}");
    }
}

#[test]
fn non_abi3_python_symbols_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let so = gcc_so(
        tmp.path(),
        "py.abi3.so",
        r#"
extern void* _PyObject_GetDictPtr(void*);
extern const char* PyUnicode_AsUTF8(void*);
extern const char* PyUnicode_AsUTF8AndSize(void*, long*);
extern long PyLong_AsLong(void*);
extern void _Py_Dealloc(void*);
extern void* PyInit_other(void);
void* f(void* o) {
    PyLong_AsLong(o); _Py_Dealloc(o); PyUnicode_AsUTF8AndSize(o, 0); PyUnicode_AsUTF8(o);
    return _PyObject_GetDictPtr(o);
}
"#,
        &[],
    );
    let (code, report) = check_json(&so, &[]);
    assert_eq!(code, 1);
    let mut syms = symbols_of(&report, "python-symbol");
    syms.sort();
    assert_eq!(
        syms,
        vec![
            "PyUnicode_AsUTF8",
            "PyUnicode_AsUTF8AndSize",
            "_PyObject_GetDictPtr"
        ],
        "PyLong_AsLong and _Py_Dealloc are stable ABI: {report:#}"
    );
    let v = violations(&report);
    let size = v
        .iter()
        .find(|v| v["symbol"] == "PyUnicode_AsUTF8AndSize")
        .unwrap();
    assert_eq!(size["required"], "Python 3.10");
    let (_, out) = text(&so, &[]);
    assert!(
        out.contains("Python symbol `_PyObject_GetDictPtr` is not part of the stable ABI"),
        "{out}"
    );
    assert!(
        out.contains(
            "Python symbol `PyUnicode_AsUTF8AndSize` joined the stable ABI in Python 3.10"
        ),
        "{out}"
    );
    // With -p 3.10, PyUnicode_AsUTF8AndSize is fine.
    let (_, report) = check_json(&so, &["-p", "3.10"]);
    let mut syms = symbols_of(&report, "python-symbol");
    syms.sort();
    assert_eq!(syms, vec!["PyUnicode_AsUTF8", "_PyObject_GetDictPtr"]);
}

#[test]
fn torch_stable_abi_symbols() {
    let tmp = tempfile::tempdir().unwrap();
    let so = gcc_so(
        tmp.path(),
        "stable.abi3.so",
        r#"
extern int aoti_torch_empty_strided(void);
extern int torch_device_from_pyobject(void);
extern int torch_not_a_real_shim_fn(void);
extern int _ZN3c1010TensorImpl7releaseEv(void);
int g(void) {
    return aoti_torch_empty_strided() + torch_device_from_pyobject()
        + torch_not_a_real_shim_fn() + _ZN3c1010TensorImpl7releaseEv();
}
"#,
        &[],
    );
    // Without --torch-stable-abi, Torch symbols are not policed.
    let (code, _) = check_json(&so, &[]);
    assert_eq!(code, 0);
    let (code, report) = check_json(&so, &["--torch-stable-abi", "2.11"]);
    assert_eq!(code, 1);
    let v = violations(&report);
    let find = |s: &str| v.iter().find(|x| x["symbol"] == s).cloned();
    assert!(find("aoti_torch_empty_strided").is_none(), "{report:#}");
    assert_eq!(
        find("torch_device_from_pyobject").unwrap()["required"],
        "Torch 2.15"
    );
    assert!(find("torch_not_a_real_shim_fn").is_some());
    assert!(find("_ZN3c1010TensorImpl7releaseEv").unwrap()["required"]
        .as_str()
        .unwrap()
        .contains("C++ ABI"));
    let (_, report) = check_json(&so, &["--torch-stable-abi", "2.15"]);
    let syms = symbols_of(&report, "torch-symbol");
    assert_eq!(syms.len(), 2, "{report:#}");
}

#[test]
fn non_numeric_symbol_versions_do_not_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let script = tmp.path().join("ver.map");
    std::fs::write(
        &script,
        "GLIBC_PRIVATE { global: priv_fn; };\nCXXABI_TM_1 { global: tm_fn; };\nGLIBC_2.99 { global: future_fn; };\nWEIRD { global: weird_fn; };\n",
    )
    .unwrap();
    gcc_so(
        tmp.path(),
        "libver.so",
        "int priv_fn(void){return 1;}\nint tm_fn(void){return 2;}\nint future_fn(void){return 3;}\nint weird_fn(void){return 4;}\n",
        &["-Wl,-soname,libver.so", "-Wl,--version-script=ver.map"],
    );
    let so = gcc_so(
        tmp.path(),
        "uses_ver.abi3.so",
        "extern int priv_fn(void), tm_fn(void), future_fn(void), weird_fn(void);\nint g(void){return priv_fn()+tm_fn()+future_fn()+weird_fn();}\n",
        &["-L.", "-lver"],
    );
    let (code, report) = check_json(&so, &[]);
    assert_eq!(code, 1, "{report:#}");
    let v = violations(&report);
    let by_sym = |s: &str| v.iter().find(|x| x["symbol"] == s).cloned();
    assert_eq!(by_sym("priv_fn").unwrap()["required"], "GLIBC_PRIVATE");
    assert_eq!(by_sym("future_fn").unwrap()["required"], "GLIBC_2.99");
    assert!(
        by_sym("tm_fn").is_none(),
        "CXXABI_TM_1 is allowed: {report:#}"
    );
    assert!(
        by_sym("weird_fn").is_none(),
        "unknown version prefixes are not policed"
    );
    assert!(v
        .iter()
        .any(|x| x["kind"] == "library" && x["library"] == "libver.so"));
    // Every policy is usable with these versions.
    for p in ["manylinux_2_17", "manylinux2014", "manylinux_2_41"] {
        let (code, _) = check_json(&so, &["-m", p]);
        assert_eq!(code, 1);
    }
}

#[test]
fn unreadable_input_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("garbage.abi3.so");
    std::fs::write(&bad, b"\x7fELF\x02\x01\x01not really an elf file").unwrap();
    let (code, report) = check_json(&bad, &[]);
    assert_eq!(code, 2);
    assert!(report["errors"][0]["error"]
        .as_str()
        .unwrap()
        .contains("ELF"));
    let text_file = tmp.path().join("libc.so");
    std::fs::write(&text_file, "/* GNU ld script */\nGROUP ( libc.so.6 )\n").unwrap();
    let (code, report) = check_json(&text_file, &[]);
    assert_eq!(code, 2, "{report:#}");
    let out = kb()
        .args(["check-abi", "/nonexistent/kb-dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/kb-dir"));
    // A bad flag value is reported, not a panic.
    let so = gcc_so(tmp.path(), "c.abi3.so", CLEAN_C, &[]);
    let out = kb()
        .arg("check-abi")
        .arg(&so)
        .args(["-m", "manylinux_9_99"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("manylinux_2_28"));
}

#[test]
fn directory_forms_are_accepted() {
    let tmp = tempfile::tempdir().unwrap();
    let variant = tmp.path().join("build/torch215-cxx11-cpu-x86_64-linux");
    std::fs::create_dir_all(&variant).unwrap();
    gcc_so(&variant, "_relu_cpu_1.abi3.so", CLEAN_C, &[]);
    std::fs::create_dir_all(variant.join("__pycache__")).unwrap();
    std::fs::write(variant.join("__pycache__/junk.so"), b"not checked").unwrap();
    for dir in [
        tmp.path().to_path_buf(),
        tmp.path().join("build"),
        variant.clone(),
    ] {
        let (code, report) = check_json(&dir, &[]);
        assert_eq!(code, 0, "{}: {report:#}", dir.display());
        assert_eq!(report["files"].as_array().unwrap().len(), 1);
    }
    let (_, report) = check_json(tmp.path(), &[]);
    assert_eq!(
        report["files"][0]["file"],
        "build/torch215-cxx11-cpu-x86_64-linux/_relu_cpu_1.abi3.so"
    );
}

#[test]
#[ignore = "needs clang-15 and lld-15"]
fn macho_deployment_target_and_python_symbols() {
    if !have("clang-15")
        || !have("ld64.lld-15") && !Path::new("/usr/lib/llvm-15/bin/ld64.lld").exists()
    {
        panic!("prerequisite missing: clang-15/ld64.lld (ci/checks.sh installs them)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("m.c");
    std::fs::write(
        &src,
        "extern long PyLong_AsLong(void*);\nextern void* _PyObject_GetDictPtr(void*);\nlong f(void* o) { _PyObject_GetDictPtr(o); return PyLong_AsLong(o); }\n",
    )
    .unwrap();
    std::fs::write(tmp.path().join("foo.c"), "int foo(void) { return 1; }\n").unwrap();
    let dylib = |target: &str, out: &str, extra: &[&str]| {
        let o = tmp.path().join(out);
        run(Command::new("clang-15")
            .arg(format!("--target=arm64-apple-macos{target}"))
            .args([
                "-fuse-ld=lld",
                "-shared",
                "-nostdlib",
                "-Wl,-undefined,dynamic_lookup",
                "-o",
            ])
            .arg(&o)
            .args(extra)
            .current_dir(tmp.path()));
        o
    };
    dylib(
        "14.0",
        "libfoo.dylib",
        &["foo.c", "-Wl,-install_name,@rpath/libfoo.dylib"],
    );
    let ok = dylib("14.0", "ok.abi3.so", &["m.c"]);
    let new = dylib("26.0", "new.abi3.so", &["m.c", "-L.", "-lfoo"]);

    let (code, report) = check_json(&ok, &[]);
    assert_eq!(code, 1);
    assert_eq!(report["files"][0]["format"], "mach-o");
    assert_eq!(
        symbols_of(&report, "python-symbol"),
        vec!["_PyObject_GetDictPtr"]
    );
    assert!(violations(&report)
        .iter()
        .all(|v| v["kind"] == "python-symbol"));

    let (_, report) = check_json(&new, &[]);
    let v = violations(&report);
    let mac = v.iter().find(|v| v["kind"] == "macos-version").unwrap();
    assert_eq!(mac["required"], "macOS 26.0");
    assert!(v
        .iter()
        .any(|v| v["kind"] == "library" && v["library"] == "@rpath/libfoo.dylib"));
    let (_, out) = text(&new, &[]);
    assert!(
        out.contains(
            "deployment target macOS 26.0; the deployment target may be at most macOS 15.0"
        ),
        "{out}"
    );
    let (_, report) = check_json(&new, &["--macos", "26.0"]);
    assert!(violations(&report)
        .iter()
        .all(|v| v["kind"] != "macos-version"));
}

#[test]
#[ignore = "needs clang-15 and lld-15"]
fn pe_modules_are_checked() {
    let lld_link = "/usr/lib/llvm-15/bin/lld-link";
    let dlltool = "/usr/lib/llvm-15/bin/llvm-dlltool";
    if !have("clang-15") || !Path::new(lld_link).exists() || !Path::new(dlltool).exists() {
        panic!("prerequisite missing: clang-15/lld-link/llvm-dlltool (ci/checks.sh installs them)");
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    for (dll, def) in [
        ("python311", "py311.def"),
        ("python3", "py3.def"),
        ("evil", "evil.def"),
    ] {
        let exports = if dll == "evil" {
            "evil_fn\n"
        } else {
            "PyLong_AsLong\nPyUnicode_AsUTF8\n"
        };
        std::fs::write(
            d.join(def),
            format!("LIBRARY {dll}.dll\nEXPORTS\n{exports}"),
        )
        .unwrap();
        run(Command::new(dlltool)
            .args(["-m", "i386:x86-64", "-d", def, "-l"])
            .arg(format!("{dll}.lib"))
            .current_dir(d));
    }
    std::fs::write(
        d.join("w.c"),
        "extern long PyLong_AsLong(void*);\nextern const char* PyUnicode_AsUTF8(void*);\nextern int evil_fn(void);\n__declspec(dllexport) long f(void* o) { evil_fn(); PyUnicode_AsUTF8(o); return PyLong_AsLong(o); }\n",
    )
    .unwrap();
    run(Command::new("clang-15")
        .args([
            "--target=x86_64-pc-windows-msvc",
            "-c",
            "w.c",
            "-o",
            "w.obj",
        ])
        .current_dir(d));
    for (pylib, out) in [("python311.lib", "w311.pyd"), ("python3.lib", "w3.pyd")] {
        run(Command::new(lld_link)
            .args(["/dll", "/noentry", "/nodefaultlib"])
            .arg(format!("/out:{out}"))
            .args(["w.obj", pylib, "evil.lib"])
            .current_dir(d));
    }
    let (code, report) = check_json(&d.join("w311.pyd"), &[]);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["files"][0]["format"], "pe");
    let v = violations(&report);
    assert!(
        v.iter()
            .any(|v| v["kind"] == "python-library" && v["library"] == "python311.dll"),
        "{report:#}"
    );
    assert!(v
        .iter()
        .any(|v| v["kind"] == "library" && v["library"] == "evil.dll"));
    assert_eq!(
        symbols_of(&report, "python-symbol"),
        vec!["PyUnicode_AsUTF8"]
    );
    let (_, report) = check_json(&d.join("w3.pyd"), &[]);
    assert!(violations(&report)
        .iter()
        .all(|v| v["kind"] != "python-library"));
}

fn libtorch_cpu() -> Option<PathBuf> {
    for venv in test_python::venvs() {
        let Ok(rd) = std::fs::read_dir(venv.join("lib")) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path().join("site-packages/torch/lib/libtorch_cpu.so");
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// readelf's view of the version needs: the oracle for libtorch_cpu.so.
fn readelf_version_needs(path: &Path) -> Option<Vec<String>> {
    let out = Command::new("readelf")
        .args(["-V", "-W"])
        .arg(path)
        .output()
        .ok()?;
    let s = String::from_utf8_lossy(&out.stdout);
    let section = s.split(".gnu.version_r").nth(1)?;
    let mut v: Vec<String> = section
        .lines()
        .filter_map(|l| l.split("Name: ").nth(1))
        .filter_map(|n| n.split_whitespace().next())
        .filter(|n| {
            n.starts_with("GLIBC_2")
                || n.starts_with("GLIBCXX_")
                || n.starts_with("CXXABI_")
                || n.starts_with("GCC_")
        })
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    Some(v)
}

fn numeric(v: &str) -> Vec<u32> {
    v.split('_')
        .nth(1)
        .unwrap_or("")
        .split('.')
        .filter_map(|x| x.parse().ok())
        .collect()
}

#[test]
#[ignore = "needs torch"]
fn torch_libtorch_cpu_is_analysed_like_readelf() {
    let Some(lib) = libtorch_cpu() else {
        panic!("prerequisite missing: no torch wheel installed (set KB_VENV)");
    };
    let started = std::time::Instant::now();
    let (code, report) = check_json(&lib, &[]);
    let elapsed = started.elapsed();
    eprintln!("check-abi libtorch_cpu.so: exit {code} in {elapsed:?}");
    assert!(code == 0 || code == 1, "{report:#}");
    // Whatever GLIBC version the wheel needs beyond 2.28 must be named with
    // its symbols; readelf (which reads .gnu.version_r, like us) is the oracle.
    if let Some(needs) = readelf_version_needs(&lib) {
        let too_new: Vec<&String> = needs
            .iter()
            .filter(|n| n.starts_with("GLIBC_2") && numeric(n) > vec![2, 28])
            .collect();
        let named: Vec<String> = violations(&report)
            .iter()
            .filter(|v| v["kind"] == "symbol-version")
            .map(|v| v["required"].as_str().unwrap().to_string())
            .collect();
        for n in &too_new {
            assert!(named.contains(n), "{n} not reported: {report:#}");
        }
        eprintln!(
            "libtorch_cpu.so needs {} symbol versions; above manylinux_2_28: {too_new:?}",
            needs.len()
        );
        // Against manylinux_2_17 the GLIBC 2.18+ needs must all be named, with symbols.
        let (code, report) = check_json(&lib, &["-m", "manylinux_2_17"]);
        let expect: Vec<&String> = needs
            .iter()
            .filter(|n| n.starts_with("GLIBC_2") && numeric(n) > vec![2, 17])
            .collect();
        if !expect.is_empty() {
            assert_eq!(code, 1);
            let v = violations(&report);
            for n in expect {
                let syms: Vec<&str> = v
                    .iter()
                    .filter(|x| x["required"] == n.as_str())
                    .filter_map(|x| x["symbol"].as_str())
                    .collect();
                assert!(!syms.is_empty(), "{n}: no symbol named");
                eprintln!("  {n}: {}", syms.join(", "));
            }
        }
    }
    // Stripped copy (slow: copies ~430 MB): KB_SLOW_TESTS=1.
    if std::env::var_os("KB_SLOW_TESTS").is_some() && have("strip") {
        let tmp = tempfile::tempdir().unwrap();
        let stripped = tmp.path().join("libtorch_cpu.so");
        run(Command::new("strip").arg("-o").arg(&stripped).arg(&lib));
        let (c1, r1) = check_json(&lib, &["-m", "manylinux_2_17"]);
        let (c2, r2) = check_json(&stripped, &["-m", "manylinux_2_17"]);
        assert_eq!(c1, c2);
        assert_eq!(
            violations(&r1),
            violations(&r2),
            "stripping changes nothing"
        );
    }
}
