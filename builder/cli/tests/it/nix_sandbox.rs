//! A real, sandboxed Nix build on this machine, with no nixpkgs: the
//! nixpkgs-free variant derivation (`lib/sandbox-variant.nix`) assembles a
//! variant from a prebuilt extension with `kernel-builder nix
//! install-variant` and runs the verifier hooks (`lib/hooks/verify-variant.sh`:
//! strip runpaths, remove bytecode, check-abi, check-builds, hash) inside the
//! Nix sandbox, where only `/bin/sh` (static busybox) comes from the host.
//!
//! The tools the hooks call (kernel-builder, patchelf) enter the sandbox as a
//! store path holding the binaries, their shared libraries and the dynamic
//! loader. A clean extension builds; one needing `GLIBC_2.34` fails in
//! check-abi, naming the symbol; a missing extension fails in install-variant.
//!
//! Needs root (the single-user store belongs to root), `nix-build`, a static
//! busybox, gcc and patchelf; `ci/nix.sh` installs them. Skipped with the
//! reason printed otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kernel-builder");

use crate::support::nix_tools::bundle_tool;
use crate::support::repo;

fn skip(reason: &str) -> bool {
    panic!("prerequisite missing: {reason}");
}

fn missing_prerequisite() -> Option<PathBuf> {
    for tool in ["nix-build", "gcc", "patchelf", "ldd"] {
        if which::which(tool).is_err() {
            skip(&format!(
                "`{tool}` is not installed (ci/nix.sh installs nix-bin, gcc, patchelf)"
            ));
            return None;
        }
    }
    let busybox = which::which("busybox").ok().or_else(|| {
        skip("busybox is not installed (ci/nix.sh installs busybox-static)");
        None
    })?;
    let file = Command::new("file").arg("-L").arg(&busybox).output();
    if let Ok(o) = file {
        if !String::from_utf8_lossy(&o.stdout).contains("statically linked") {
            skip("busybox is not statically linked (install busybox-static)");
            return None;
        }
    }
    let uid = Command::new("id").arg("-u").output().unwrap();
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        skip("the sandbox build needs root (single-user Nix store)");
        return None;
    }
    Some(busybox)
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A one-backend kernel project. The nonce makes every test run a new
/// derivation, so the build (and its hooks) really runs.
fn kernel(dir: &Path) {
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    write(
        &dir.join("build.toml"),
        &format!(
            "# test run {nonce}\n{}",
            r#"[general]
name = "sandbox-relu"
version = 3
edition = 5
license = "Apache-2.0"
backends = ["cpu"]

[torch]
src = ["torch-ext/torch_binding.cpp"]

[kernel.relu_cpu]
backend = "cpu"
depends = ["torch"]
src = ["relu_cpu/relu.cpp"]
"#
        ),
    );
    write(
        &dir.join("torch-ext/torch_binding.cpp"),
        "// bindings (compiled outside this test)\n",
    );
    write(
        &dir.join("relu_cpu/relu.cpp"),
        "// kernel (compiled outside this test)\n",
    );
    write(
        &dir.join("torch-ext/sandbox_relu/__init__.py"),
        "from ._ops import ops\n\n__all__ = [\"ops\"]\n",
    );
    write(
        &dir.join("torch-ext/sandbox_relu/layers.py"),
        "LAYERS = []\n",
    );
    // Neither may reach the variant: bytecode and a file the plan does not name.
    write(
        &dir.join("torch-ext/sandbox_relu/__pycache__/x.cpython-313.pyc"),
        "junk",
    );
    write(&dir.join("notes.txt"), "not part of the build\n");
}

/// Compile `<ops>.abi3.so` with the host gcc. `bad` makes it need
/// `pthread_create@GLIBC_2.34` (glibc >= 2.34 hosts), beyond manylinux_2_28.
fn prebuilt(dir: &Path, ops: &str, bad: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let c = dir.join("ext.c");
    let body = if bad {
        "#include <pthread.h>\nstatic void *run(void *a) { return a; }\nint kb_start(void) { pthread_t t; return pthread_create(&t, 0, run, 0); }\n"
    } else {
        "#include <string.h>\nint kb_len(const char *s) { return (int)strlen(s); }\n"
    };
    std::fs::write(
        &c,
        format!("{body}void *PyInit_{ops}(void) {{ return 0; }}\n"),
    )
    .unwrap();
    let so = dir.join(format!("{ops}.abi3.so"));
    let st = Command::new("gcc")
        .args([
            "-shared",
            "-fPIC",
            "-O1",
            "-Wl,-rpath,/opt/build-machine/lib",
            "-o",
        ])
        .arg(&so)
        .arg(&c)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::remove_file(&c).unwrap();
}

struct Build {
    ok: bool,
    out: Option<PathBuf>,
    log: String,
}

fn nix_build(busybox: &Path, expr: &str) -> Build {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("build.nix");
    std::fs::write(&f, expr).unwrap();
    let mut cmd = Command::new("nix-build");
    cmd.arg(&f).args([
        "--no-out-link",
        "--option",
        "sandbox",
        "true",
        "--option",
        "sandbox-paths",
        &format!(
            "/bin/sh={}",
            std::fs::canonicalize(busybox).unwrap().display()
        ),
        "--option",
        "substituters",
        "",
    ]);
    let has_builders = Command::new("getent")
        .args(["group", "nixbld"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_builders {
        cmd.args(["--option", "build-users-group", ""]);
    }
    let out = cmd.output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Build {
        ok: out.status.success(),
        out: (!path.is_empty()).then(|| PathBuf::from(path)),
        log,
    }
}

fn expr(kernel: &Path, variant: &str, prebuilt: &Path, tools: &Path, uid: &str) -> String {
    format!(
        r#"import {lib}/sandbox-variant.nix {{
  path = {kernel};
  variant = "{variant}";
  uniqueId = "{uid}";
  prebuilt = {prebuilt};
  tools = {tools};
  kernelCommit = "89abcdef0123456789abcdef0123456789abcdef";
  kernelDirty = false;
}}"#,
        lib = repo().join("lib").display(),
        kernel = kernel.display(),
        prebuilt = prebuilt.display(),
        tools = tools.display(),
    )
}

#[test]
#[ignore = "needs nix, gcc, patchelf and a static busybox"]
fn hooks_run_and_gate_inside_the_nix_sandbox() {
    let Some(busybox) = missing_prerequisite() else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let tools = d.path().join("tools");
    bundle_tool(&tools, "kernel-builder", Path::new(BIN));
    bundle_tool(&tools, "patchelf", &which::which("patchelf").unwrap());

    let k = d.path().join("kernel");
    kernel(&k);
    let out = Command::new(BIN)
        .args(["plan", "--write"])
        .arg(&k)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(BIN)
        .args(["list-variants", "--system", "x86_64-linux", "--json"])
        .arg(&k)
        .output()
        .unwrap();
    let listed: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let variant = listed
        .iter()
        .filter(|v| v["backend"] == "cpu")
        .map(|v| v["name"].as_str().unwrap().to_string())
        .next_back()
        .expect("a cpu variant");
    let uid = "89abcde";
    let ops = format!("_sandbox_relu_cpu_{uid}");

    // 1. A clean extension: the variant is assembled and verified.
    let good = d.path().join("prebuilt-good");
    prebuilt(&good, &ops, false);
    let b = nix_build(&busybox, &expr(&k, &variant, &good, &tools, uid));
    assert!(b.ok, "sandboxed build failed:\n{}", b.log);
    eprintln!("--- sandboxed build log ---\n{}", b.log);
    for step in [
        "stripped runpath of",
        "check-abi",
        "check-builds",
        "get_kernel check skipped",
        "hash",
        &format!("{variant} verified"),
    ] {
        assert!(
            b.log.contains(step),
            "hook step `{step}` not in the log:\n{}",
            b.log
        );
    }
    let out = b.out.unwrap();
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec![variant.clone()]);
    let vdir = out.join(&variant);
    let mut files: Vec<String> = std::fs::read_dir(&vdir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let mut want = vec![
        format!("{ops}.abi3.so"),
        "__init__.py".to_string(),
        "_ops.py".to_string(),
        "layers.py".to_string(),
        "metadata.json".to_string(),
    ];
    want.sort();
    assert_eq!(files, want);
    let rpath = Command::new("patchelf")
        .arg("--print-rpath")
        .arg(vdir.join(format!("{ops}.abi3.so")))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&rpath.stdout).trim(),
        "",
        "runpath must be stripped"
    );
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(vdir.join("metadata.json")).unwrap())
            .unwrap();
    assert_eq!(meta["id"], ops);
    assert_eq!(meta["name"], "sandbox-relu");
    assert_eq!(meta["version"], 3);
    assert_eq!(meta["build-info"]["kind"], "nix");
    assert_eq!(
        meta["provenance"]["kernel"]["commit"],
        "89abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(meta["provenance"]["kernel"]["dirty"], false);
    assert!(
        meta["digest"]["files"]
            .as_object()
            .unwrap()
            .contains_key(&format!("{ops}.abi3.so")),
        "{meta}"
    );
    let ops_py = std::fs::read_to_string(vdir.join("_ops.py")).unwrap();
    assert!(ops_py.contains(&format!("torch.ops.{ops}")), "{ops_py}");
    // The output verifies outside the sandbox too.
    let check = Command::new(BIN)
        .args(["hash", "--check"])
        .arg(&vdir)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    // 2. An extension beyond manylinux_2_28: check-abi fails the build in the sandbox.
    let glibc_new = Command::new("ldd").arg("--version").output().unwrap();
    let host_glibc = String::from_utf8_lossy(&glibc_new.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    let minor: u32 = host_glibc
        .rsplit('.')
        .next()
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(0);
    if minor >= 34 {
        let bad = d.path().join("prebuilt-bad");
        prebuilt(&bad, &ops, true);
        let b = nix_build(&busybox, &expr(&k, &variant, &bad, &tools, uid));
        assert!(!b.ok, "a GLIBC_2.34 extension must not build:\n{}", b.log);
        assert!(b.log.contains("GLIBC_2.34"), "{}", b.log);
        assert!(
            b.log.contains("check-abi found ABI violations"),
            "{}",
            b.log
        );
    } else {
        eprintln!("host glibc ({host_glibc}) predates 2.34: the ABI-violation case is not built");
    }

    // 3. No extension where the plan needs one: install-variant fails.
    let empty = d.path().join("prebuilt-empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("README"), "no extension here\n").unwrap();
    let b = nix_build(&busybox, &expr(&k, &variant, &empty, &tools, uid));
    assert!(!b.ok);
    assert!(
        b.log.contains("did not produce") && b.log.contains(&format!("{ops}.abi3.so")),
        "{}",
        b.log
    );
}
