//! The Nix layer evaluated with the real `nix-instantiate` / `nix`: every
//! `.nix` file parses; the pure parts (plan reading and its staleness check,
//! variant selection, source sets, matrix and toolkit selection, provenance)
//! evaluate; and for every example kernel and fixture, the attribute names
//! the flake exposes equal `kernel-builder list-variants --json` per system.
//!
//! Skipped, with the reason printed, only when Nix is not installed
//! (`ci/nix.sh` installs Debian's nix-bin first).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kernel-builder");

use crate::support::repo;

fn have(tool: &str) -> bool {
    let ok = which::which(tool).is_ok();
    assert!(
        ok,
        "`{tool}` is not installed (ci/nix.sh installs Debian's nix-bin)"
    );
    ok
}

fn kb(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Evaluate a Nix expression strictly; `Ok(json)` or `Err(stderr)`.
fn eval(expr: &str) -> Result<Value, String> {
    eval_with(expr, false)
}

/// `write`: let evaluation add paths to the store (`builtins.path`).
fn eval_with(expr: &str, write: bool) -> Result<Value, String> {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("e.nix");
    std::fs::write(&f, expr).unwrap();
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json"])
        .args(if write {
            &["--read-write-mode"][..]
        } else {
            &[][..]
        })
        .arg(&f)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn nix_str(p: &Path) -> String {
    format!("\"{}\"", p.display())
}

fn lib_dir() -> String {
    nix_str(&repo().join("lib"))
}

fn copy_dir(src: &Path, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        let n = name.to_string_lossy();
        if n == "build" || n == ".venv" || n == "__pycache__" || n.starts_with("result") {
            continue;
        }
        let to = dest.join(&name);
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to);
        } else if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}

fn nix_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().to_string_lossy().into_owned();
        if matches!(
            n.as_str(),
            "target" | ".git" | "build" | ".venv" | "node_modules"
        ) {
            continue;
        }
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            nix_files(&p, out);
        } else if n.ends_with(".nix") {
            out.push(p);
        }
    }
}

#[test]
#[ignore = "needs nix"]
fn every_nix_file_parses() {
    assert!(have("nix-instantiate"));
    let mut files = Vec::new();
    nix_files(&repo(), &mut files);
    files.sort();
    assert!(files.len() >= 20, "found only {files:?}");
    for must in [
        "flake.nix",
        "lib/pure.nix",
        "lib/variant.nix",
        "pkgs/package-set.nix",
        "templates/flake/flake.nix",
        "terraform/nixos-configuration.nix",
    ] {
        assert!(
            files.contains(&repo().join(must)),
            "{must} missing from {files:?}"
        );
    }
    let mut failures = Vec::new();
    for f in &files {
        let out = Command::new("nix-instantiate")
            .arg("--parse")
            .arg(f)
            .output()
            .unwrap();
        if !out.status.success() {
            failures.push(format!(
                "{}: {}",
                f.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{} .nix files parse", files.len());
}

/// Kernel projects to check: every example and every plan fixture.
fn kernels() -> Vec<PathBuf> {
    let mut out = Vec::new();
    for base in [
        repo().join("examples"),
        repo().join("builder/cli/tests/fixtures"),
    ] {
        if let Ok(rd) = std::fs::read_dir(&base) {
            for e in rd.flatten() {
                if e.path().join("build.toml").is_file() {
                    out.push(e.path());
                }
            }
        }
    }
    out.sort();
    out
}

/// What the flake exposes per system, evaluated without nixpkgs (a
/// `pkgsFor` that throws proves the names never depend on it).
fn flake_names(kernel: &Path) -> Result<Value, String> {
    eval(&format!(
        r#"let
  builder = {{ self = {{ rev = "0123456789abcdef0123456789abcdef01234567"; }}; pkgsFor = s: throw "nixpkgs evaluated for ${{s}}"; }};
  kb = import {lib} {{ inherit builder; }};
  pure = import ({lib} + "/pure.nix");
  path = {path};
  out = kb.genKernelFlakeOutputs {{ self = {{ outPath = path; }}; inherit path; }};
  plan = pure.readPlan {{ inherit path; }};
in builtins.mapAttrs (s: p: {{
  redistributable = builtins.attrNames p.redistributable;
  ciTests = builtins.attrNames p.ciTests;
  packages = builtins.attrNames p;
  devShells = builtins.attrNames out.devShells.${{s}};
  bundle = map (v: v.name) (pure.bundleVariants {{ inherit plan; system = s; }});
  default = if pure.hasVariantsFor plan s then (pure.defaultVariant plan s).name else null;
}}) out.packages"#,
        lib = lib_dir(),
        path = nix_str(kernel),
    ))
}

#[test]
#[ignore = "needs nix"]
fn flake_attribute_names_equal_list_variants() {
    assert!(have("nix-instantiate"));
    let systems = kb_core::matrix::Matrix::get().systems.clone();
    let kernels = kernels();
    assert!(!kernels.is_empty());
    let d = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for k in &kernels {
        let name = k.file_name().unwrap().to_string_lossy().into_owned();
        let copy = d.path().join(&name);
        copy_dir(k, &copy);
        let (code, _, err) = kb(&["plan", "--write", copy.to_str().unwrap()]);
        if code != 0 {
            // Fixtures of invalid projects have no plan; the CLI says why.
            assert!(err.contains("error"), "{name}: {err}");
            eprintln!(
                "{name}: no plan ({})",
                err.lines().next().unwrap_or_default()
            );
            continue;
        }
        let names = flake_names(&copy).unwrap_or_else(|e| panic!("{name}: {e}"));
        for s in &systems {
            let (code, out, err) = kb(&[
                "list-variants",
                copy.to_str().unwrap(),
                "--system",
                s,
                "--json",
            ]);
            assert_eq!(code, 0, "{name} {s}: {err}");
            let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
            let want: Vec<String> = listed
                .iter()
                .map(|v| v["name"].as_str().unwrap().to_string())
                .collect();
            let got: Vec<String> = names[s]["redistributable"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let want_set: BTreeSet<&String> = want.iter().collect();
            let got_set: BTreeSet<&String> = got.iter().collect();
            assert_eq!(got_set, want_set, "{name} {s}: flake vs list-variants");
            assert_eq!(
                names[s]["ciTests"], names[s]["redistributable"],
                "{name} {s}"
            );
            let shells: BTreeSet<String> = names[s]["devShells"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            for w in &want {
                assert!(
                    shells.contains(w) && shells.contains(&format!("test-{w}")),
                    "{name} {s}: shells {shells:?} lack {w}"
                );
            }
            // The bundle: the required variants of the system.
            let required: BTreeSet<String> = listed
                .iter()
                .filter(|v| v["required"] == true)
                .map(|v| v["name"].as_str().unwrap().to_string())
                .collect();
            let bundle: BTreeSet<String> = names[s]["bundle"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            assert_eq!(bundle, required, "{name} {s}: bundle");
            let pk: Vec<&str> = names[s]["packages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            if want.is_empty() {
                assert!(
                    !pk.contains(&"bundle") && shells.is_empty(),
                    "{name} {s}: {pk:?}"
                );
                assert_eq!(names[s]["default"], Value::Null);
            } else {
                for p in [
                    "default",
                    "bundle",
                    "build-and-copy",
                    "build-and-upload",
                    "ci-test",
                    "kernel-builder",
                ] {
                    assert!(pk.contains(&p), "{name} {s}: packages lack {p}: {pk:?}");
                }
                assert!(shells.contains("default") && shells.contains("test"));
                let def = names[s]["default"].as_str().unwrap();
                assert!(want.iter().any(|w| w == def), "{name} {s}: default {def}");
            }
            checked += 1;
        }
        // The CI matrix covers the same variants.
        let (code, out, err) = kb(&["ci-matrix", copy.to_str().unwrap(), "--json"]);
        assert_eq!(code, 0, "{err}");
        let jobs: Vec<Value> = serde_json::from_str(&out).unwrap();
        let job_names: BTreeSet<String> = jobs
            .iter()
            .map(|j| j["variant"].as_str().unwrap().to_string())
            .collect();
        let all: BTreeSet<String> = systems
            .iter()
            .flat_map(|s| {
                names[s]["redistributable"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
            })
            .collect();
        assert_eq!(job_names, all, "{name}: ci-matrix");
        for j in &jobs {
            assert_eq!(
                j["attr"],
                format!(
                    "packages.{}.redistributable.{}",
                    j["system"].as_str().unwrap(),
                    j["variant"].as_str().unwrap()
                )
            );
        }
    }
    assert!(checked >= 3, "checked only {checked} kernel x system pairs");
    eprintln!("{checked} kernel x system pairs agree");
}

fn relu_copy(d: &Path) -> PathBuf {
    let k = d.join("k");
    let src = repo().join("builder/cli/tests/fixtures/all-backends");
    copy_dir(&src, &k);
    let (code, _, err) = kb(&["plan", "--write", k.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    k
}

fn read_plan_expr(k: &Path) -> String {
    format!(
        "let pure = import ({} + \"/pure.nix\"); in (pure.readPlan {{ path = {}; }}).kernel.name",
        lib_dir(),
        nix_str(k)
    )
}

#[test]
#[ignore = "needs nix"]
fn stale_or_foreign_plans_are_rejected_with_the_fix() {
    assert!(have("nix-instantiate"));
    let d = tempfile::tempdir().unwrap();
    let k = relu_copy(d.path());
    assert!(eval(&read_plan_expr(&k)).is_ok());
    // `plan --write` is idempotent.
    let (_, _, err) = kb(&["plan", "--write", k.to_str().unwrap()]);
    assert!(err.contains("up to date"), "{err}");

    // build.toml changed after the plan was written.
    let toml = k.join("build.toml");
    let original = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(&toml, format!("{original}\n# edited\n")).unwrap();
    let e = eval(&read_plan_expr(&k)).unwrap_err();
    assert!(
        e.contains("kernel-plan.json is stale: build.toml changed"),
        "{e}"
    );
    assert!(e.contains("kernel-builder plan --write"), "{e}");
    let (code, _, err) = kb(&["plan", "--write", k.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(err.contains("wrote"), "{err}");
    assert!(eval(&read_plan_expr(&k)).is_ok());

    // A plan from another matrix (e.g. after `nix flake update`).
    let plan_file = k.join("kernel-plan.json");
    let text = std::fs::read_to_string(&plan_file).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["matrix-sha256"] = Value::String("0".repeat(64));
    std::fs::write(&plan_file, serde_json::to_string(&v).unwrap()).unwrap();
    let e = eval(&read_plan_expr(&k)).unwrap_err();
    assert!(e.contains("different variant matrix"), "{e}");

    v["schema"] = Value::from(99);
    std::fs::write(&plan_file, serde_json::to_string(&v).unwrap()).unwrap();
    let e = eval(&read_plan_expr(&k)).unwrap_err();
    assert!(e.contains("schema 99"), "{e}");

    std::fs::remove_file(&plan_file).unwrap();
    let e = eval(&read_plan_expr(&k)).unwrap_err();
    assert!(e.contains("kernel-plan.json is missing"), "{e}");
    assert!(e.contains("git add kernel-plan.json"), "{e}");

    // `--write` writes the all-systems plan only.
    let (code, _, err) = kb(&[
        "plan",
        "--write",
        "--system",
        "x86_64-linux",
        k.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
}

fn store_files(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

#[test]
#[ignore = "needs nix"]
fn source_sets_hold_only_what_the_plan_names() {
    assert!(have("nix-instantiate"));
    let d = tempfile::tempdir().unwrap();
    let k = relu_copy(d.path());
    // Files a variant must not see.
    std::fs::write(k.join("secret.txt"), "x").unwrap();
    std::fs::create_dir_all(k.join("build/old")).unwrap();
    std::fs::write(k.join("build/old/x.so"), "x").unwrap();
    std::fs::create_dir_all(k.join("torch-ext/all_backends/__pycache__")).unwrap();
    std::fs::write(k.join("torch-ext/all_backends/__pycache__/a.pyc"), "x").unwrap();
    let plan: Value =
        serde_json::from_str(&std::fs::read_to_string(k.join("kernel-plan.json")).unwrap())
            .unwrap();
    let cpu = plan["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["backend"] == "cpu" && v["system"] == "x86_64-linux")
        .unwrap();
    let name = cpu["name"].as_str().unwrap();
    let expr = format!(
        "let pure = import ({lib} + \"/pure.nix\"); path = {path}; plan = pure.readPlan {{ inherit path; }}; \
         in {{ src = toString (pure.variantSource {{ inherit path plan; variant = pure.variantByName plan \"{name}\"; }}); \
         paths = pure.sourcePaths plan (pure.variantByName plan \"{name}\"); }}",
        lib = lib_dir(),
        path = nix_str(&k)
    );
    let v = eval_with(&expr, true).unwrap();
    let src = PathBuf::from(v["src"].as_str().unwrap());
    let files = store_files(&src);
    let mut expected: BTreeSet<String> = BTreeSet::new();
    expected.insert("build.toml".into());
    for p in v["paths"].as_array().unwrap() {
        let p = p.as_str().unwrap();
        let full = k.join(p);
        if full.is_file() {
            expected.insert(p.to_string());
        } else {
            for f in store_files(&full) {
                if !f.ends_with(".pyc") {
                    expected.insert(format!("{p}/{f}"));
                }
            }
        }
    }
    let got: BTreeSet<String> = files.iter().cloned().collect();
    assert_eq!(got, expected);
    assert!(
        !got.iter()
            .any(|f| f.contains("cuda") || f.contains("secret") || f.starts_with("build/")),
        "{got:?}"
    );
    assert!(got.iter().any(|f| f.contains("relu_cpu")), "{got:?}");

    // A path the plan names but the tree lacks: the error names it.
    let cpu_src = cpu["kernels"][0]["src"][0].as_str().unwrap().to_string();
    std::fs::remove_file(k.join(&cpu_src)).unwrap();
    let e = eval(&expr).unwrap_err();
    assert!(
        e.contains(&format!("`{cpu_src}`")) && e.contains("does not exist"),
        "{e}"
    );
}

#[test]
#[ignore = "needs nix"]
fn matrix_toolkits_wheels_and_provenance() {
    assert!(have("nix-instantiate"));
    let m = kb_core::matrix::Matrix::get();
    let v = eval(&format!(
        r#"let pure = import ({lib} + "/pure.nix"); in {{
  systems = pure.systems;
  cuda = builtins.attrNames pure.matrix.cuda;
  cu = pure.toolkitFor {{ name = "x"; backend = "cuda"; toolkit = "13.2"; }};
  rocm = pure.toolkitFor {{ name = "x"; backend = "rocm"; toolkit = "7.1"; }};
  noarch = pure.toolkitFor {{ name = "torch-cuda"; backend = "cuda"; toolkit = null; }};
  clean = pure.provenance {{ rev = "0123456789abcdef0123456789abcdef01234567"; shortRev = "0123456"; }};
  dirty = pure.provenance {{ dirtyRev = "0123456789abcdef0123456789abcdef01234567-dirty"; dirtyShortRev = "0123456-dirty"; }};
  nogit = pure.provenance {{ narHash = "sha256-AAAA"; }};
  wheel = (pure.torchWheelFor {{
    system = "x86_64-linux";
    variant = {{ torch = {{ version = "2.15"; }}; backend = "cuda"; toolkit = "13.2"; }};
    wheels = {{ wheels = [
      {{ torch = "2.15"; backend = "cuda"; toolkit = "13.0"; system = "x86_64-linux"; url = "a"; }}
      {{ torch = "2.15"; backend = "cuda"; toolkit = "13.2"; system = "x86_64-linux"; url = "b"; }}
      {{ torch = "2.15"; backend = "cuda"; toolkit = "13.2"; system = "aarch64-linux"; url = "c"; }}
    ]; }};
  }}).url;
}}"#,
        lib = lib_dir()
    ))
    .unwrap();
    assert_eq!(v["systems"], serde_json::json!(m.systems));
    let cuda: Vec<String> = m.cuda.keys().map(|k| k.to_string()).collect();
    assert_eq!(v["cuda"], serde_json::json!(cuda));
    assert_eq!(v["cu"]["nixpkgsAttr"], "cudaPackages_13_2");
    assert_eq!(v["rocm"]["kind"], "rocm");
    assert_eq!(v["noarch"]["kind"], "none");
    assert_eq!(v["clean"]["unique"], "0123456");
    assert_eq!(v["clean"]["dirty"], false);
    assert_eq!(v["dirty"]["unique"], "0123456_dirty");
    assert_eq!(
        v["dirty"]["commit"],
        "0123456789abcdef0123456789abcdef01234567"
    );
    assert_eq!(v["dirty"]["dirty"], true);
    assert!(v["nogit"]["unique"].as_str().unwrap().starts_with("nogit"));
    assert_eq!(v["nogit"]["commit"], Value::Null);
    assert_eq!(v["wheel"], "b");
    // Unknown toolkits and missing wheels are errors with the fix.
    let e = eval(&format!(
        "let pure = import ({} + \"/pure.nix\"); in pure.toolkitFor {{ name = \"v\"; backend = \"cuda\"; toolkit = \"9.9\"; }}",
        lib_dir()
    ))
    .unwrap_err();
    assert!(e.contains("CUDA") || e.contains("cuda 9.9"), "{e}");
    assert!(e.contains("plan --write"), "{e}");
    let e = eval(&format!(
        "let pure = import ({} + \"/pure.nix\"); in pure.torchWheelFor {{ system = \"x86_64-linux\"; variant = {{ torch = {{ version = \"2.15\"; }}; backend = \"cpu\"; toolkit = null; }}; wheels = {{ wheels = []; }}; }}",
        lib_dir()
    ))
    .unwrap_err();
    assert!(e.contains("pkgmeta torch-wheels"), "{e}");
}

#[test]
fn flake_lock_pins_a_real_nixpkgs_revision() {
    let lock: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("flake.lock")).unwrap()).unwrap();
    assert_eq!(lock["version"], 7);
    let root = lock["root"].as_str().unwrap();
    let inputs = lock["nodes"][root]["inputs"].as_object().unwrap();
    assert_eq!(inputs.keys().collect::<Vec<_>>(), vec!["nixpkgs"]);
    let node = &lock["nodes"][inputs["nixpkgs"].as_str().unwrap()]["locked"];
    assert_eq!(node["type"], "github");
    assert_eq!(node["owner"], "NixOS");
    let rev = node["rev"].as_str().unwrap();
    assert!(
        rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()),
        "{rev}"
    );
    let nar = node["narHash"].as_str().unwrap();
    assert!(
        nar.starts_with("sha256-") && nar.len() == 51 && nar.ends_with('='),
        "{nar}"
    );
    assert!(node["lastModified"].as_u64().unwrap() > 1_700_000_000);
    // flake.nix declares exactly the locked input.
    let flake = std::fs::read_to_string(repo().join("flake.nix")).unwrap();
    assert!(flake.contains("inputs.nixpkgs.url = \"github:NixOS/nixpkgs/"));
}

/// The same names through real flake evaluation (`nix eval`), with the
/// kernel flake's `kernel-builder` input pointed at this checkout and
/// nixpkgs at an empty flake (nothing is fetched).
#[test]
#[ignore = "needs nix"]
fn kernel_flake_evaluates_through_nix_flakes() {
    assert!(have("nix"));
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
    let stub = d.path().join("nixpkgs-stub");
    std::fs::create_dir_all(&stub).unwrap();
    std::fs::write(stub.join("flake.nix"), "{ outputs = _: { }; }\n").unwrap();
    let kernel = d.path().join("kernel");
    copy_dir(
        &repo().join("builder/cli/tests/fixtures/all-backends"),
        &kernel,
    );
    std::fs::copy(
        repo().join("templates/flake/flake.nix"),
        kernel.join("flake.nix"),
    )
    .unwrap();
    let (code, _, err) = kb(&["plan", "--write", kernel.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let nix_eval = |flake: String, overrides: &[(&str, &Path)], apply: &str| {
        let mut c = Command::new("nix");
        c.args([
            "--extra-experimental-features",
            "nix-command flakes",
            "eval",
            "--json",
            "--no-write-lock-file",
        ]);
        for (input, p) in overrides {
            c.args(["--override-input", input, &format!("path:{}", p.display())]);
        }
        c.arg(flake).args(["--apply", apply]);
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let names = nix_eval(
        format!(
            "path:{}#packages.x86_64-linux.redistributable",
            kernel.display()
        ),
        &[
            ("kernel-builder", &builder),
            ("kernel-builder/nixpkgs", &stub),
        ],
        "builtins.attrNames",
    );
    let (_, out, _) = kb(&[
        "list-variants",
        kernel.to_str().unwrap(),
        "--system",
        "x86_64-linux",
        "--json",
    ]);
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    let mut want: Vec<String> = listed
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    want.sort();
    assert_eq!(names, serde_json::json!(want));
    // The root flake's template and lib are there.
    let t = nix_eval(
        format!("path:{}#templates", builder.display()),
        &[("nixpkgs", &stub)],
        "t: builtins.attrNames t",
    );
    assert_eq!(t, serde_json::json!(["default", "kernel"]));
    let l = nix_eval(
        format!("path:{}#lib", builder.display()),
        &[("nixpkgs", &stub)],
        "l: builtins.isFunction l.genKernelFlakeOutputs",
    );
    assert_eq!(l, Value::Bool(true));
}
