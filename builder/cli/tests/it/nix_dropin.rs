//! Drop-in compatibility with the reference builder's kernel flakes.
//!
//! - A kernel flake written as the community kernels write theirs (no
//!   kernel-plan.json, reference argument names) evaluates through real
//!   flake evaluation, with nixpkgs replaced by the test stand-in
//!   (`lib/testing/mock-nixpkgs.nix`, whose kernel-builder is the binary
//!   under test): the plan is computed by the Rust CLI inside a sandboxed
//!   derivation (import from derivation), and the variant attribute names of
//!   every system equal `kernel-builder list-variants --system S`.
//! - The reference arguments keep their meaning (`torchVersions` as a
//!   function of the defaults, `pythonNativeCheckInputs`, `pythonCheckInputs`,
//!   `doGetKernelCheck`), the reference outputs exist (`ci`, `backendBundle`,
//!   `variants`, `archVariants`, ...), the bundle fills CARD.md and carries
//!   benchmarks/, and python-depends reach the build and test Pythons.
//! - A variant whose package data is not in the repository fails at
//!   evaluation, naming the file and the command that generates it.
//!
//! Needs root (single-user store), `nix`, a static busybox, `ldd`: the tests
//! are ignored in the fast suite; `ci/nix.sh` installs these and runs them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{nix_tools, repo};

const BIN: &str = env!("CARGO_BIN_EXE_kernel-builder");

/// The static busybox for the sandbox's /bin/sh; panics naming what is
/// missing (the tests run only where ci/nix.sh installed it all).
fn prerequisites() -> PathBuf {
    for tool in ["nix", "nix-instantiate", "ldd"] {
        assert!(
            which::which(tool).is_ok(),
            "prerequisite missing: `{tool}` is not installed (ci/nix.sh installs nix-bin)"
        );
    }
    let busybox = which::which("busybox").expect(
        "prerequisite missing: busybox is not installed (ci/nix.sh installs busybox-static)",
    );
    let uid = Command::new("id").arg("-u").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&uid.stdout).trim(),
        "0",
        "prerequisite missing: building in the Nix sandbox needs root (single-user Nix store)"
    );
    std::fs::canonicalize(busybox).unwrap()
}

fn copy_dir(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().to_string_lossy().into_owned();
        if matches!(n.as_str(), "build" | ".venv" | "__pycache__" | "result") {
            continue;
        }
        let to = dest.join(&n);
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

fn kb(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn list_variants(kernel: &Path, system: &str) -> Vec<Value> {
    let (code, out, err) = kb(&[
        "list-variants",
        kernel.to_str().unwrap(),
        "--system",
        system,
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

fn names(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

/// The builder flake (this checkout's Nix layer) and the nixpkgs stand-in
/// flake, whose kernel-builder is the binary under test.
struct Flakes {
    _dir: tempfile::TempDir,
    builder: PathBuf,
    standin: PathBuf,
    root: PathBuf,
}

fn flakes() -> Flakes {
    let d = tempfile::tempdir().unwrap();
    let builder = d.path().join("builder");
    std::fs::create_dir_all(&builder).unwrap();
    for p in [
        "flake.nix",
        "flake.lock",
        "lib",
        "pkgs",
        "data",
        "templates",
    ] {
        let src = repo().join(p);
        if src.is_dir() {
            copy_dir(&src, &builder.join(p));
        } else {
            std::fs::copy(&src, builder.join(p)).unwrap();
        }
    }
    // The stand-in for nixpkgs (tests only): `import nixpkgs { system; ... }`
    // gives the mock, building kernel-builder's plan derivation on this
    // machine for every system.
    let standin = d.path().join("nixpkgs-standin");
    std::fs::create_dir_all(&standin).unwrap();
    std::fs::write(standin.join("flake.nix"), "{ outputs = _: { }; }\n").unwrap();
    std::fs::copy(
        repo().join("lib/testing/mock-nixpkgs.nix"),
        standin.join("mock-nixpkgs.nix"),
    )
    .unwrap();
    std::fs::write(
        standin.join("default.nix"),
        format!(
            "# Test stand-in for nixpkgs: the mock, with the kernel-builder under test.\n\
             args: import ./mock-nixpkgs.nix {{\n  system = args.system;\n  kernelBuilder = ./kb-tools;\n  buildSystem = \"{}\";\n  torchWheels = builtins.fromJSON (builtins.readFile ./torch-wheels.json);\n}}\n",
            kb_core::matrix::host_system()
        ),
    )
    .unwrap();
    std::fs::copy(
        repo().join("pkgs/torch/wheels.json"),
        standin.join("torch-wheels.json"),
    )
    .unwrap();
    nix_tools::bundle_tool(&standin.join("kb-tools"), "kernel-builder", Path::new(BIN));
    Flakes {
        root: d.path().to_path_buf(),
        _dir: d,
        builder,
        standin,
    }
}

/// A kernel without kernel-plan.json and with the given flake.nix.
fn kernel(f: &Flakes, name: &str, flake: &str) -> PathBuf {
    let k = f.root.join(name);
    copy_dir(&repo().join("examples/relu"), &k);
    let _ = std::fs::remove_file(k.join("kernel-plan.json"));
    let _ = std::fs::remove_file(k.join("flake.lock"));
    std::fs::write(k.join("flake.nix"), flake).unwrap();
    // A python-depends entry, to see it reach the Pythons.
    let toml = std::fs::read_to_string(k.join("build.toml")).unwrap();
    assert!(toml.contains("[general]"), "{toml}");
    std::fs::write(
        k.join("build.toml"),
        toml.replacen(
            "[general]\n",
            "[general]\npython-depends = [\"einops\"]\n",
            1,
        ),
    )
    .unwrap();
    let (code, _, err) = kb(&["check-config", k.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    k
}

fn nix_eval(f: &Flakes, busybox: &Path, attr: String, apply: &str) -> Result<Value, String> {
    let mut c = Command::new("nix");
    c.args([
        "--extra-experimental-features",
        "nix-command flakes",
        "eval",
        "--json",
        "--no-write-lock-file",
        "--option",
        "sandbox",
        "true",
        "--option",
        "sandbox-paths",
        &format!("/bin/sh={}", busybox.display()),
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
        c.args(["--option", "build-users-group", ""]);
    }
    for (input, p) in [
        ("kernel-builder", &f.builder),
        ("kernel-builder/nixpkgs", &f.standin),
    ] {
        c.args(["--override-input", input, &format!("path:{}", p.display())]);
    }
    c.arg(attr).args(["--apply", apply]);
    let out = c.output().unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

const COMMUNITY_FLAKE: &str = r#"{
  description = "Flake for ReLU kernel";

  inputs = {
    kernel-builder.url = "github:huggingface/kernels";
  };

  outputs =
    {
      self,
      kernel-builder,
    }:
    kernel-builder.lib.genKernelFlakeOutputs {
      inherit self;
      path = ./.;
    };
}
"#;

#[test]
#[ignore = "needs nix, a static busybox and root"]
fn community_kernel_flake_without_a_plan_file_evaluates() {
    let busybox = prerequisites();
    let f = flakes();
    let k = kernel(&f, "relu", COMMUNITY_FLAKE);
    assert!(!k.join("kernel-plan.json").exists());
    let started = std::time::Instant::now();
    let got = nix_eval(
        &f,
        &busybox,
        format!("path:{}#packages", k.display()),
        "ps: builtins.mapAttrs (s: p: { redistributable = builtins.attrNames p.redistributable; \
         variants = p.variants; archVariants = p.archVariants; packages = builtins.attrNames p; \
         backends = builtins.attrNames (p.backendBundle or { }); ci = p.ci.variants or [ ]; \
         bundle = p.bundle.variants or [ ]; }) ps",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let systems = &kb_core::matrix::Matrix::get().systems;
    let mut checked = 0;
    for s in systems {
        let listed = list_variants(&k, s);
        let want: BTreeSet<String> = listed
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect();
        let g = &got[s];
        assert_eq!(names(&g["redistributable"]), want, "{s}: redistributable");
        assert_eq!(names(&g["variants"]), want, "{s}: variants");
        let arch: BTreeSet<String> = listed
            .iter()
            .filter(|v| v["system"] == s.as_str())
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names(&g["archVariants"]), arch, "{s}: archVariants");
        let required: BTreeSet<String> = listed
            .iter()
            .filter(|v| v["required"] == true)
            .map(|v| v["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names(&g["bundle"]), required, "{s}: bundle");
        let backends: BTreeSet<String> = listed
            .iter()
            .filter(|v| v["required"] == true)
            .map(|v| v["backend"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names(&g["backends"]), backends, "{s}: backendBundle");
        // `ci`: one variant per backend.
        let ci = names(&g["ci"]);
        assert_eq!(ci.len(), names(&g["backends"]).len(), "{s}: ci {ci:?}");
        for p in [
            "default",
            "bundle",
            "backendBundle",
            "ci",
            "ci-test",
            "ciTests",
            "build-and-copy",
            "build-and-upload",
            "kernel-builder",
            "kernels",
            "redistributable",
            "variants",
            "archVariants",
        ] {
            assert!(
                names(&g["packages"]).contains(p),
                "{s}: no packages.{p}: {}",
                g["packages"]
            );
        }
        checked += want.len();
    }
    assert!(checked > 10, "{got}");
    eprintln!(
        "community-style flake without a plan: {checked} variant names on {} systems equal list-variants ({:.1}s)",
        systems.len(),
        started.elapsed().as_secs_f64()
    );

    // The plan came from the tool: a kernel-builder that cannot run makes
    // evaluation fail in the plan derivation.
    let broken = f.root.join("broken-standin");
    copy_dir(&f.standin, &broken);
    std::fs::write(
        broken.join("kb-tools/bin/kernel-builder"),
        "#!/bin/sh\necho 'stand-in kernel-builder refuses' >&2\nexit 7\n",
    )
    .unwrap();
    let f2 = Flakes {
        _dir: tempfile::tempdir().unwrap(),
        builder: f.builder.clone(),
        standin: broken,
        root: f.root.clone(),
    };
    let e = nix_eval(
        &f2,
        &busybox,
        format!("path:{}#packages.x86_64-linux.variants", k.display()),
        "x: x",
    )
    .unwrap_err();
    assert!(
        e.contains("kernel-plan.json") && e.contains("stand-in kernel-builder refuses"),
        "{e}"
    );
}

const REFERENCE_ARGS_FLAKE: &str = r#"{
  description = "Flake for ReLU kernel, with the reference builder's options";

  inputs = {
    kernel-builder.url = "github:huggingface/kernels";
  };

  outputs =
    {
      self,
      kernel-builder,
    }:
    kernel-builder.lib.genKernelFlakeOutputs {
      inherit self;
      path = ./.;
      doGetKernelCheck = false;
      pythonCheckInputs = pkgs: with pkgs; [ numpy ];
      pythonNativeCheckInputs = pkgs: with pkgs; [ pytest-xdist ];
      torchVersions = defaults: builtins.filter (v: (v.cudaVersion or null) != "12.6" && (v.torchVersion or null) != "2.14") defaults;
    };
}
"#;

#[test]
#[ignore = "needs nix, a static busybox and root"]
fn reference_arguments_keep_their_meaning() {
    let busybox = prerequisites();
    let f = flakes();
    let k = kernel(&f, "relu-ref", REFERENCE_ARGS_FLAKE);
    let sys = "x86_64-linux";
    let p = nix_eval(
        &f,
        &busybox,
        format!("path:{}#packages.{sys}", k.display()),
        r#"p: let cuda = builtins.head (builtins.filter (n: builtins.match "torch215-.*-cu132-.*" n != null) p.variants); in {
  bundle = p.bundle.variants;
  card = p.bundle.drvArgs.buildCommand;
  buildPythonPkgs = map (x: x.name) (p.redistributable.${cuda}.passthru.toolchain.buildPython.drvArgs.packages);
  getKernel = p.redistributable.${cuda}.drvArgs.env.KB_GET_KERNEL_CHECK;
}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let shells = nix_eval(
        &f,
        &busybox,
        format!("path:{}#devShells.{sys}", k.display()),
        r#"d: {
  shellPackages = map (x: x.name) d.default.drvArgs.packages;
  testPythonPkgs = map (x: x.name) (builtins.head d.test.drvArgs.packages).drvArgs.packages;
  nested = builtins.attrNames d.devShells == builtins.attrNames d.testShells && d.devShells != { };
}"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut v = p;
    for (k2, x) in shells.as_object().unwrap() {
        v[k2] = x.clone();
    }
    // torchVersions as a function of the defaults: no torch 2.14, no CUDA 12.6.
    let listed = list_variants(&k, sys);
    let want: BTreeSet<String> = listed
        .iter()
        .filter(|x| x["required"] == true)
        .filter(|x| x["torch"] != "2.14" && x["toolkit"] != "12.6")
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(names(&v["bundle"]), want);
    // The bundle fills the card and carries benchmarks/.
    let card = v["card"].as_str().unwrap();
    assert!(card.contains("kernel-builder fill-card"), "{card}");
    assert!(
        card.contains("$out/CARD.md") && card.contains("$out/benchmarks"),
        "{card}"
    );
    // pythonNativeCheckInputs (from python3.pkgs) in the shells; the
    // pythonCheckInputs and python-depends in the test Python; python-depends
    // in the build Python; doGetKernelCheck = false reaches the hooks.
    assert!(names(&v["shellPackages"]).contains("pytest-xdist"), "{v}");
    let tp = names(&v["testPythonPkgs"]);
    for p in [
        "numpy",
        "python-depends-einops",
        "python-wheel-kernels",
        "pytest",
    ] {
        assert!(tp.contains(p), "test Python lacks {p}: {tp:?}");
    }
    assert!(
        names(&v["buildPythonPkgs"]).contains("python-depends-einops"),
        "{v}"
    );
    assert_eq!(v["getKernel"], "0");
    assert_eq!(v["nested"], true);

    // A list of versions (this builder's own form) still works, and a
    // version entry the matrix lacks is refused with the reason.
    let k2 = kernel(
        &f,
        "relu-foreign",
        &REFERENCE_ARGS_FLAKE.replace(
            "torchVersions = defaults: builtins.filter (v: (v.cudaVersion or null) != \"12.6\" && (v.torchVersion or null) != \"2.14\") defaults;",
            "torchVersions = defaults: defaults ++ [ { torchVersion = \"2.9\"; cudaVersion = \"12.8\"; systems = [ \"x86_64-linux\" ]; bundleBuild = true; } ];",
        ),
    );
    let e = nix_eval(
        &f,
        &busybox,
        format!("path:{}#packages.{sys}.bundle.variants", k2.display()),
        "x: x",
    )
    .unwrap_err();
    assert!(e.contains("does not have") && e.contains("2.9"), "{e}");
}

/// Package data: variants whose wheels are committed evaluate against the
/// real pkgs/ code; one whose data is elsewhere fails naming the file and
/// the command. Pure evaluation with the stand-in, no flakes.
#[test]
#[ignore = "needs nix"]
fn missing_package_data_fails_at_evaluation_with_the_command() {
    assert!(
        which::which("nix-instantiate").is_ok(),
        "prerequisite missing: `nix-instantiate` is not installed (ci/nix.sh installs nix-bin)"
    );
    let expr = format!(
        r#"let
  pkgs = import {repo}/lib/testing/mock-nixpkgs.nix {{ system = "x86_64-linux"; }};
  python = pkgs.callPackage {repo}/pkgs/python {{ }};
  torch = pkgs.callPackage {repo}/pkgs/torch {{ }};
  pure = import {repo}/lib/pure.nix;
  k = python.wheel "kernels";
  cute = python.forDepends {{ names = [ "nvidia-cutlass-dsl" ]; }};
in {{
  kernels = {{ inherit (k.src) url sha256; deps = map (d: d.name) k.dependencies; }};
  cute = map (p: p.pname) cute;
  cuteDeps = map (d: d.pname or d.name) (builtins.head cute).dependencies;
  torch = (pure.torchWheelFor {{ inherit (torch) wheels; system = "x86_64-linux";
    variant = {{ torch = {{ version = "2.15"; }}; backend = "cuda"; toolkit = "13.2"; }}; }}).filename;
}}"#,
        repo = repo().display()
    );
    let v = eval(&expr).unwrap_or_else(|e| panic!("{e}"));
    let data: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("pkgs/python/wheels.json")).unwrap(),
    )
    .unwrap();
    let kw = data["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "kernels" && w["system"] == "x86_64-linux")
        .unwrap();
    assert_eq!(v["kernels"]["url"], kw["url"]);
    assert_eq!(v["kernels"]["sha256"], kw["sha256"]);
    assert_eq!(names(&v["kernels"]["deps"]), names(&kw["requires"]));
    assert_eq!(v["cute"], serde_json::json!(["nvidia-cutlass-dsl"]));
    // Pinned requirements resolve to recorded wheels, not nixpkgs.
    assert!(
        names(&v["cuteDeps"]).contains("nvidia-cutlass-dsl-libs-base"),
        "{v}"
    );
    assert_eq!(
        v["torch"],
        "torch-2.15.0-cp313-cp313-manylinux_2_28_x86_64.whl"
    );

    let fails = |what: &str| -> String {
        eval(&format!(
            r#"let
  pkgs = import {repo}/lib/testing/mock-nixpkgs.nix {{ system = "{sys}"; }};
  python = pkgs.callPackage {repo}/pkgs/python {{ }};
  torch = pkgs.callPackage {repo}/pkgs/torch {{ }};
  pure = import {repo}/lib/pure.nix;
in {what}"#,
            repo = repo().display(),
            sys = if what.contains("darwin") {
                "aarch64-darwin"
            } else {
                "x86_64-linux"
            },
        ))
        .unwrap_err()
    };
    // The CPU torch of Linux lives on PyPI's sibling, PyTorch's own index.
    let e = fails(
        r#"(pure.torchWheelFor { inherit (torch) wheels; system = "x86_64-linux"; variant = { torch = { version = "2.15"; }; backend = "cpu"; toolkit = null; }; }).url"#,
    );
    assert!(
        e.contains("pkgs/torch/wheels-pytorch.json")
            && e.contains(
                "cargo xtask pkgmeta torch-wheels --python cp313 -o pkgs/torch/wheels-pytorch.json"
            ),
        "{e}"
    );
    // A wheel the index does not publish for the system.
    let e = fails(
        "map (d: d.version) (builtins.head (python.forDepends { names = [ \"nvidia-cutlass-dsl\" ]; })).dependencies # on aarch64-darwin",
    );
    assert!(
        e.contains("nvidia-cutlass-dsl-libs-base==4.8.1 publishes no wheel for aarch64-darwin"),
        "{e}"
    );
    let e = fails(r#"builtins.length (python.forDepends { names = [ "nki" ]; })"#);
    assert!(
        e.contains("python-depends `nki`") && e.contains("Neuron"),
        "{e}"
    );
    // RPM package sets without metadata name the file and the command.
    let e = fails(
        r#"(pkgs.callPackage {repo}/pkgs/rocm { }).forVersion "7.1" ? toolkit"#
            .replace("{repo}", &repo().display().to_string())
            .as_str(),
    );
    assert!(
        e.contains("pkgs/rocm/metadata/7.1-x86_64-linux.json")
            || e.contains("rocm/metadata/7.1-x86_64-linux.json"),
        "{e}"
    );
    assert!(e.contains("cargo xtask pkgmeta rpm"), "{e}");
}

fn eval(expr: &str) -> Result<Value, String> {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("e.nix");
    std::fs::write(&f, expr).unwrap();
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json"])
        .arg(&f)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}
