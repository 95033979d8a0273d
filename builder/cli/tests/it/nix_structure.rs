//! The nixpkgs-facing Nix code (lib/kernel.nix, lib/variant.nix,
//! lib/toolchain.nix, pkgs/*) evaluated against `lib/testing/mock-nixpkgs.nix`,
//! a stand-in whose derivations record their arguments. This machine cannot
//! fetch nixpkgs; these tests check what the real derivations are given:
//! the create-pyproject / CMake / install-variant / hooks steps with the
//! plan's names, the toolkit flags per backend, provenance, bundles, shells,
//! and the errors (missing CUDA version, missing metadata) with their fixes.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kernel-builder");

use crate::support::repo;

fn have_nix() -> bool {
    let ok = which::which("nix-instantiate").is_ok();
    assert!(
        ok,
        "nix-instantiate is not installed (ci/nix.sh installs Debian's nix-bin)"
    );
    ok
}

fn eval(expr: &str) -> Result<Value, String> {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("e.nix");
    std::fs::write(&f, expr).unwrap();
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "--read-write-mode"])
        .arg(&f)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn copy_fixture(name: &str, dest: &Path) -> PathBuf {
    let k = dest.join(name);
    let st = Command::new("cp")
        .arg("-r")
        .arg(repo().join("builder/cli/tests/fixtures").join(name))
        .arg(&k)
        .status()
        .unwrap();
    assert!(st.success());
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
    k
}

const WHEELS: &str = r#"{ python = "cp313"; wheels = map (c: {
    torch = "2.15"; backend = builtins.elemAt c 0; toolkit = builtins.elemAt c 1; system = "x86_64-linux";
    version = "2.15.0+" + builtins.elemAt c 2; url = "https://example/torch.whl"; sha256 = "0"; filename = "torch.whl";
  }) [ [ "cpu" null "cpu" ] [ "cuda" "13.2" "cu132" ] [ "rocm" "7.1" "rocm7.1" ] [ "cuda" "13.0" "cu130" ] ]; }"#;

/// Outputs of a kernel flake over the mock nixpkgs.
fn outputs(kernel: &Path, self_attrs: &str, options: &str, extra: &str) -> String {
    format!(
        r#"let
  mock = system: import {lib}/testing/mock-nixpkgs.nix {{ inherit system; torchWheels = {WHEELS}; extra = {extra}; }};
  builder = {{ self = {{ rev = "0123456789abcdef0123456789abcdef01234567"; }}; pkgsFor = mock; }};
  kb = import {lib} {{ inherit builder; }};
  out = kb.genKernelFlakeOutputs ({{ self = {self_attrs} // {{ outPath = {k}; }}; path = {k}; }} // {options});
  p = out.packages.x86_64-linux;
  pick = pred: builtins.head (builtins.filter pred (builtins.attrNames p.redistributable));
  has = s: n: builtins.match ".*${{s}}.*" n != null;
in"#,
        lib = repo().join("lib").display(),
        k = kernel.display(),
    )
}

fn variant_summary(name_pred: &str) -> String {
    format!(
        r#" let v = p.redistributable.${{pick ({name_pred})}}; in {{
  name = v.name;
  configure = v.configurePhase;
  build = v.buildPhase;
  install = v.installPhase;
  fixup = v.postFixup;
  env = v.env;
  native = map (d: d.name) v.nativeBuildInputs;
  src = toString v.src;
  ops = v.opsName;
}}"#
    )
}

#[test]
#[ignore = "needs nix"]
fn variant_derivations_follow_the_plan() {
    assert!(have_nix());
    let d = tempfile::tempdir().unwrap();
    let k = copy_fixture("all-backends", d.path());
    std::fs::create_dir_all(k.join("tests")).unwrap();
    std::fs::write(k.join("tests/test_relu.py"), "import pytest\n").unwrap();
    let clean = r#"{ rev = "fedcba9876543210fedcba9876543210fedcba98"; shortRev = "fedcba9"; }"#;
    let head = outputs(&k, clean, "{ }", "{ }");

    let cu = eval(&format!(
        "{head}{}",
        variant_summary(r#"n: has "torch215-cxx11-cu132" n"#)
    ))
    .unwrap();
    let name = cu["name"].as_str().unwrap();
    let variant = name
        .trim_start_matches("all-backends-")
        .trim_end_matches("-2");
    let conf = cu["configure"].as_str().unwrap();
    assert!(
        conf.contains(&format!(
            "kernel-builder create-pyproject --force --variant {variant} --unique-id fedcba9 ."
        )),
        "{conf}"
    );
    assert!(conf.contains("cmake -S . -B build-nix -G Ninja"), "{conf}");
    assert!(conf.contains("cuda_nvcc-13.2-bin/bin/nvcc"), "{conf}");
    assert!(conf.contains("-DKB_NVCC_CCBIN=/nix/store/00000000000000000000000000000000-manylinux-gcc-toolset-14/bin/c++"), "{conf}");
    assert!(
        conf.contains("cuda_cudart-13.2-lib/lib/libcudart.so"),
        "{conf}"
    );
    assert!(cu["build"]
        .as_str()
        .unwrap()
        .contains("cmake --build build-nix"));
    assert!(cu["install"].as_str().unwrap().contains(&format!(
        "kernel-builder nix install-variant --variant {variant} --unique-id fedcba9"
    )));
    let fixup = cu["fixup"].as_str().unwrap();
    assert!(
        fixup.contains("verify-variant.sh")
            && fixup.contains(&format!("kb_verify_variant \"$out\" {variant}")),
        "{fixup}"
    );
    assert_eq!(
        cu["env"]["KB_KERNEL_COMMIT"],
        "fedcba9876543210fedcba9876543210fedcba98"
    );
    assert_eq!(cu["env"]["KB_KERNEL_DIRTY"], "0");
    assert_eq!(cu["env"]["KB_GET_KERNEL_CHECK"], "1");
    assert_eq!(cu["ops"], "_all_backends_cuda_fedcba9");
    let tc: Value = serde_json::from_str(cu["env"]["KB_TOOLCHAIN"].as_str().unwrap()).unwrap();
    assert_eq!(tc["torch"], "2.15.0+cu132");
    assert_eq!(tc["cuda"], "13.2");
    let native: Vec<&str> = cu["native"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for n in [
        "kernel-builder",
        "patchelf",
        "cmake",
        "ninja",
        "cuda_nvcc-13.2",
    ] {
        assert!(native.contains(&n), "{native:?}");
    }
    // The source set: a store path (only plan files; content checked in nix_eval.rs).
    assert!(cu["src"].as_str().unwrap().starts_with("/nix/store/"));

    let cpu = eval(&format!(
        "{head}{}",
        variant_summary(r#"n: has "torch215-cxx11-cpu" n"#)
    ))
    .unwrap();
    let conf = cpu["configure"].as_str().unwrap();
    assert!(
        !conf.contains("KB_NVCC") && !conf.contains("KB_HIPCC"),
        "{conf}"
    );
    assert_eq!(cpu["ops"], "_all_backends_cpu_fedcba9");
    let rocm = eval(&format!(
        "{head}{}",
        variant_summary(r#"n: has "torch215-cxx11-rocm71" n"#)
    ))
    .unwrap();
    let conf = rocm["configure"].as_str().unwrap();
    assert!(
        conf.contains(
            "-DKB_HIPCC=/nix/store/00000000000000000000000000000000-rocm-toolkit-7.1/bin/hipcc"
        ),
        "{conf}"
    );

    // Bundle, copy script, shells.
    let v = eval(&format!(
        r#"{head} {{
  bundle = p.bundle.variants;
  required = map (v: v.name) (builtins.filter (v: v.required) (kb.variantsForSystem (kb.readPlan {{ path = {k}; }}) "x86_64-linux"));
  copy = p.build-and-copy.text;
  upload = p.build-and-upload.text;
  shell = out.devShells.x86_64-linux.default.shellHook;
  shellStdenv = out.devShells.x86_64-linux.default.stdenv.cc.name;
  test = out.devShells.x86_64-linux.test.shellHook;
  ci = p.ciTests.${{pick (n: has "cpu" n)}}.text;
  ciAll = p.ci-test.text;
}}"#,
        k = k.display()
    ))
    .unwrap();
    assert_eq!(v["bundle"], v["required"]);
    let copy = v["copy"].as_str().unwrap();
    assert!(
        copy.contains("mv --exchange --no-target-directory")
            && copy.contains("build/.$v.new-XXXXXX"),
        "{copy}"
    );
    assert!(v["upload"]
        .as_str()
        .unwrap()
        .contains("kernel-builder upload ."));
    let shell = v["shell"].as_str().unwrap();
    assert!(
        shell.contains("-m venv --system-site-packages .venv")
            && shell.contains(". .venv/bin/activate"),
        "{shell}"
    );
    assert!(
        shell.contains("export LOCAL_KERNELS=\"kernels-test/all-backends=$PWD\""),
        "{shell}"
    );
    assert_eq!(v["shellStdenv"], "manylinux-gcc-toolset-14");
    let test = v["test"].as_str().unwrap();
    assert!(
        test.contains("export KERNEL_DIR=") && test.contains("PYTHONPATH="),
        "{test}"
    );
    let ci = v["ci"].as_str().unwrap();
    assert!(
        ci.contains("python -m pytest -m kernels_ci")
            && ci.contains("export KERNEL_TEST_BACKENDS=cpu"),
        "{ci}"
    );
    assert!(v["ciAll"].as_str().unwrap().contains("KB_CI_DETECT=1"));

    // A dirty tree and doGetKernelCheck = false.
    let dirty = r#"{ dirtyRev = "fedcba9876543210fedcba9876543210fedcba98-dirty"; dirtyShortRev = "fedcba9-dirty"; }"#;
    let head = outputs(&k, dirty, "{ doGetKernelCheck = false; }", "{ }");
    let cpu = eval(&format!(
        "{head}{}",
        variant_summary(r#"n: has "torch215-cxx11-cpu" n"#)
    ))
    .unwrap();
    assert_eq!(cpu["ops"], "_all_backends_cpu_fedcba9_dirty");
    assert_eq!(cpu["env"]["KB_KERNEL_DIRTY"], "1");
    assert_eq!(cpu["env"]["KB_GET_KERNEL_CHECK"], "0");
}

#[test]
#[ignore = "needs nix"]
fn stable_abi_and_noarch_variants() {
    assert!(have_nix());
    let d = tempfile::tempdir().unwrap();
    let k = copy_fixture("stable-abi", d.path());
    let head = outputs(&k, "{ }", "{ }", "{ }");
    let v = eval(&format!("{head}{}", variant_summary(r#"n: has "cpu" n"#))).unwrap();
    assert!(
        v["env"]["KB_CHECK_ABI_FLAGS"]
            .as_str()
            .unwrap()
            .starts_with("--torch-stable-abi "),
        "{v}"
    );
    assert!(
        v["ops"].as_str().unwrap().contains("_nogit"),
        "outside git: {}",
        v["ops"]
    );

    let k = copy_fixture("noarch", d.path());
    let head = outputs(&k, "{ }", "{ }", "{ }");
    let v = eval(&format!(
        "{head}{}",
        variant_summary(r#"n: n == "torch-cuda""#)
    ))
    .unwrap();
    let native: Vec<&str> = v["native"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        !native.contains(&"cmake") && !native.iter().any(|n| n.starts_with("cuda_nvcc")),
        "{native:?}"
    );
    assert!(!v["configure"].as_str().unwrap().contains("cmake"));
    // Noarch checks use the newest torch's CPU wheel.
    let tc: Value = serde_json::from_str(v["env"]["KB_TOOLCHAIN"].as_str().unwrap()).unwrap();
    assert_eq!(tc["torch"], "2.15.0+cpu");
}

#[test]
#[ignore = "needs nix"]
fn missing_inputs_fail_with_the_fix() {
    assert!(have_nix());
    let d = tempfile::tempdir().unwrap();
    let k = copy_fixture("all-backends", d.path());
    // The pinned nixpkgs lacks the CUDA version.
    let head = outputs(&k, "{ }", "{ }", "{ cudaPackages_13_0 = null; }");
    let e = eval(&format!(
        "{head}{}",
        variant_summary(r#"n: has "torch215-cxx11-cu130" n"#)
    ))
    .unwrap_err();
    assert!(
        e.contains("has no `cudaPackages_13_0`") && e.contains("nix flake update kernel-builder"),
        "{e}"
    );
    // No torch wheel recorded for a cell.
    let e = eval(&format!(
        "{head}{}",
        variant_summary(r#"n: has "torch215-cxx11-cu126" n"#)
    ))
    .unwrap_err();
    assert!(
        e.contains("no torch wheel is recorded")
            && e.contains("pkgs/torch/wheels-pytorch.json")
            && e.contains("cargo xtask pkgmeta torch-wheels"),
        "{e}"
    );
    // The real package sets without their metadata.
    let mock = format!(
        "import {}/testing/mock-nixpkgs.nix {{ }}",
        repo().join("lib").display()
    );
    let pkgs = repo().join("pkgs");
    let e = eval(&format!(
        "let m = {mock}; in (m.callPackage {}/rocm {{ }}).forVersion \"7.1\"",
        pkgs.display()
    ))
    .and_then(|_| {
        eval(&format!(
            "let m = {mock}; in ((m.callPackage {}/rocm {{ }}).forVersion \"7.1\").toolkit.name",
            pkgs.display()
        ))
    })
    .unwrap_err();
    assert!(
        e.contains("rocm/metadata/7.1-x86_64-linux.json is missing"),
        "{e}"
    );
    assert!(e.contains("cargo xtask pkgmeta rpm --arch x86_64 --repo https://repo.radeon.com/rocm/el8/7.1/main"), "{e}");
    let e = eval(&format!(
        "let m = {mock}; in (m.callPackage {}/manylinux_2_28 {{ }}).stdenv.cc.name",
        pkgs.display()
    ))
    .unwrap_err();
    assert!(
        e.contains("AppStream/x86_64/os")
            && e.contains("-o pkgs/manylinux_2_28/metadata/x86_64-linux.json"),
        "{e}"
    );
    let e = eval(&format!(
        "let m = {mock}; in ((m.callPackage {}/xpu {{ }}).forVersion \"2025.3.2\").toolkit.name",
        pkgs.display()
    ))
    .unwrap_err();
    assert!(e.contains("intel-oneapi-compiler-dpcpp-cpp-2025.3"), "{e}");
    // The wheel data the Python package index has is committed: it evaluates.
    let v = eval(&format!(
        "let m = {mock}; in {{ torch = builtins.length (m.callPackage {p}/torch {{ }}).wheels.wheels; kernels = ((m.callPackage {p}/python {{ }}).wheel \"kernels\").src.url; }}",
        p = pkgs.display()
    ))
    .unwrap();
    assert!(v["torch"].as_u64().unwrap() >= 6, "{v}");
    assert!(
        v["kernels"]
            .as_str()
            .unwrap()
            .starts_with("https://files.pythonhosted.org/"),
        "{v}"
    );
    // macOS has no manylinux stdenv (nixpkgs' is used).
    let v = eval(&format!(
        "let m = import {}/testing/mock-nixpkgs.nix {{ system = \"aarch64-darwin\"; }}; in (m.callPackage {}/manylinux_2_28 {{ }}) ? stdenv",
        repo().join("lib").display(),
        pkgs.display()
    ))
    .unwrap();
    assert_eq!(v, Value::Bool(false));
}

#[test]
#[ignore = "needs nix"]
fn package_sets_are_built_from_generated_metadata() {
    assert!(have_nix());
    // Metadata as `cargo xtask pkgmeta rpm` writes it.
    let d = tempfile::tempdir().unwrap();
    let meta = d.path().join("set.json");
    std::fs::write(
        &meta,
        r#"{"schema":1,"generated-by":"cargo xtask pkgmeta rpm","arch":"x86_64","repositories":[],"requested":["a"],"excluded":[],
"packages":{
 "a":{"version":"1.0","release":"1.el8","epoch":0,"arch":"x86_64","url":"https://repo.example/Packages/a-1.0-1.el8.x86_64.rpm","sha256":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","size":1,"depends":["b"]},
 "b":{"version":"2.0","release":"3.el8","epoch":0,"arch":"noarch","url":"https://repo.example/Packages/b-2.0-3.el8.noarch.rpm","sha256":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","size":1,"depends":[]}}}"#,
    )
    .unwrap();
    let v = eval(&format!(
        r#"let
  m = import {lib}/testing/mock-nixpkgs.nix {{ }};
  set = m.callPackage {pkgs}/package-set.nix {{ }} {{
    name = "test"; metadataFile = {meta}; regenerate = "regen"; prefixes = [ "opt/x-*" "usr" ];
    overrides = [ (final: prev: {{ b = prev.b // {{ patched = true; }}; }}) ];
    extensions = [ (final: prev: {{ both = [ final.a.pname final.b.pname ]; bPatched = final.b.patched; }}) ];
  }};
in {{
  a = {{ inherit (set.a) pname version; url = set.a.src.url; sha256 = set.a.src.sha256; deps = map (x: x.pname) set.a.propagatedBuildInputs; install = set.a.installPhase; }};
  depPatched = (builtins.head set.a.propagatedBuildInputs).patched;
  inherit (set) both bPatched;
}}"#,
        lib = repo().join("lib").display(),
        pkgs = repo().join("pkgs").display(),
        meta = meta.display(),
    ))
    .unwrap();
    assert_eq!(v["a"]["pname"], "a");
    assert_eq!(v["a"]["version"], "1.0-1.el8");
    assert_eq!(
        v["a"]["url"],
        "https://repo.example/Packages/a-1.0-1.el8.x86_64.rpm"
    );
    assert_eq!(v["a"]["sha256"], "a".repeat(64));
    assert_eq!(v["a"]["deps"], serde_json::json!(["b"]));
    // Dependencies are the final (overridden) packages of the fixed point.
    assert_eq!(v["depPatched"], true);
    assert_eq!(v["both"], serde_json::json!(["a", "b"]));
    let install = v["a"]["install"].as_str().unwrap();
    assert!(
        install.contains("for prefix in opt/x-* usr; do") && install.contains("lib64"),
        "{install}"
    );
}

/// Paths outside `builder/` that the crate embeds at compile time
/// (`include_str!("../../../data/x")`, `concat!(env!("CARGO_MANIFEST_DIR"), "/../../skills/", ..)`),
/// as repository-relative paths.
fn embedded_paths() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    for krate in std::fs::read_dir(repo().join("builder")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            walk(&src, &mut files);
        }
    }
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, _) in text.match_indices("include_str!(") {
            // The whole macro call, up to its matching parenthesis.
            let mut depth = 0;
            let mut end = text.len();
            for (j, c) in text[i..].char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = i + j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let call = &text[i..end];
            if let Some(manifest) = call.find("CARGO_MANIFEST_DIR") {
                // concat!(env!("CARGO_MANIFEST_DIR"), "/../../skills/", ...)
                if let Some(rel) = call[manifest..].split('"').nth(2) {
                    if let Some(r) = rel.strip_prefix("/../../") {
                        out.push(r.trim_end_matches('/').to_string());
                    }
                }
            } else if let Some(rel) = call.split('"').nth(1) {
                let joined = f.parent().unwrap().join(rel);
                let mut parts: Vec<String> = Vec::new();
                for c in joined.strip_prefix(repo()).unwrap().components() {
                    match c {
                        std::path::Component::ParentDir => {
                            parts.pop();
                        }
                        std::path::Component::Normal(n) => {
                            parts.push(n.to_string_lossy().into_owned())
                        }
                        _ => {}
                    }
                }
                out.push(parts.join("/"));
            }
        }
    }
    out.retain(|p| !p.starts_with("builder/"));
    out.sort();
    out.dedup();
    out
}

#[test]
#[ignore = "needs nix"]
fn the_cli_package_source_covers_every_embedded_file() {
    assert!(have_nix());
    let sources = eval(&format!(
        "import {}",
        repo().join("pkgs/kernel-builder/sources.nix").display()
    ))
    .unwrap();
    let sources: Vec<String> = sources
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let embedded = embedded_paths();
    assert!(
        embedded.iter().any(|p| p == "data/matrix.toml"),
        "{embedded:?}"
    );
    for p in &embedded {
        assert!(
            sources
                .iter()
                .any(|s| p == s || p.starts_with(&format!("{s}/"))),
            "the crate embeds `{p}`, which pkgs/kernel-builder/sources.nix does not include"
        );
    }
    for s in &sources {
        assert!(
            repo().join(s).exists(),
            "pkgs/kernel-builder/sources.nix names `{s}`, which does not exist"
        );
    }
}
