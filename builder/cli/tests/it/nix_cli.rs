//! The Nix-facing CLI: `doctor` (each problem with its fix), `devshell` /
//! `testshell` when Nix is missing or unsafe, `ci-matrix`, `plan --write`,
//! and `build` refreshing a stale plan before it calls `nix build`.
//! A fake `nix` on PATH stands in for the installation states.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_kernel-builder");

/// A PATH with a fake `nix` printing `version` and `config`, plus the
/// basic tools (sh, git, python...) from the host.
fn fake_nix(dir: &Path, version: &str, config: &str) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(dir.join("config"), config).unwrap();
    let script = format!(
        "#!/bin/sh\ncase \"$*\" in\n  --version) echo 'nix (Nix) {version}' ;;\n  *show-config*|*'config show'*) cat '{}' ;;\n  *) echo \"fake nix: $*\" >&2; exit 3 ;;\nesac\n",
        dir.join("config").display()
    );
    let nix = bin.join("nix");
    std::fs::write(&nix, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&nix, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!("{}:/usr/bin:/bin", bin.display())
}

fn run(path_env: &str, args: &[&str], cwd: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("PATH", path_env)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn checks(json: &str) -> Vec<Value> {
    serde_json::from_str(json).unwrap()
}

fn find<'a>(c: &'a [Value], name: &str) -> &'a Value {
    c.iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("no check `{name}` in {c:?}"))
}

#[test]
fn doctor_reports_each_problem_with_a_fix() {
    let d = tempfile::tempdir().unwrap();
    // Sandbox off, flakes off, a cache without its key.
    let path = fake_nix(
        d.path(),
        "2.24.9",
        "sandbox = false\nexperimental-features = nix-command\nsubstituters = https://cache.nixos.org/ https://kernels.cachix.org\ntrusted-public-keys = cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=\nmax-jobs = 4\ncores = 0\n",
    );
    let (code, out, err) = run(&path, &["doctor", "--json"], d.path());
    assert_eq!(code, 1, "{err}");
    let c = checks(&out);
    assert_eq!(find(&c, "version")["status"], "ok");
    if cfg!(target_os = "linux") {
        let s = find(&c, "sandbox");
        assert_eq!(s["status"], "fail");
        assert!(s["fix"].as_str().unwrap().contains("sandbox = true"), "{s}");
    }
    let f = find(&c, "flakes");
    assert_eq!(f["status"], "warn");
    assert!(f["fix"]
        .as_str()
        .unwrap()
        .contains("experimental-features = nix-command flakes"));
    let subs: Vec<&Value> = c.iter().filter(|x| x["name"] == "substituter").collect();
    assert_eq!(subs.len(), 2);
    assert_eq!(subs[0]["status"], "ok");
    assert_eq!(subs[1]["status"], "warn");
    assert!(subs[1]["fix"]
        .as_str()
        .unwrap()
        .contains("kernels.cachix.org-1:"));
    assert_eq!(find(&c, "max-jobs")["detail"], "4");
    assert!(find(&c, "Nix store")["detail"]
        .as_str()
        .unwrap()
        .contains("GiB free"));
    assert!(c
        .iter()
        .any(|x| x["area"] == "local" && x["name"] == "python"));

    // A healthy installation: no failure from the Nix side.
    let good = tempfile::tempdir().unwrap();
    let path = fake_nix(
        good.path(),
        "2.28.4",
        "sandbox = true\nexperimental-features = nix-command flakes\nsubstituters = https://cache.nixos.org/\ntrusted-public-keys = cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=\n",
    );
    let (_, out, _) = run(&path, &["doctor", "--json"], good.path());
    let c = checks(&out);
    assert!(
        c.iter()
            .filter(|x| x["area"] == "nix")
            .all(|x| x["status"] != "fail" && x["status"] != "warn"),
        "{c:?}"
    );

    // Too old, and absent.
    let old = tempfile::tempdir().unwrap();
    let path = fake_nix(old.path(), "2.3.16", "sandbox = true\n");
    let (code, out, _) = run(&path, &["doctor"], old.path());
    assert_eq!(code, 1);
    assert!(
        out.contains("[FAIL] version: Nix 2.3.16") && out.contains("fix: upgrade to Nix >= 2.8"),
        "{out}"
    );
    let none = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(none.path().join("bin")).unwrap();
    let (code, out, _) = run(
        &format!("{}/bin", none.path().display()),
        &["doctor"],
        none.path(),
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("[FAIL] nix: not installed") && out.contains("https://nixos.org/download"),
        "{out}"
    );
}

fn kernel_copy(d: &Path) -> PathBuf {
    let k = d.join("kernel");
    let src = crate::support::fixture("all-backends");
    let st = Command::new("cp")
        .arg("-r")
        .arg(&src)
        .arg(&k)
        .status()
        .unwrap();
    assert!(st.success());
    k
}

#[test]
fn shells_explain_how_to_fix_nix() {
    let d = tempfile::tempdir().unwrap();
    let k = kernel_copy(d.path());
    let empty = d.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let (code, _, err) = run(
        &empty.display().to_string(),
        &["devshell", k.to_str().unwrap()],
        d.path(),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("Nix is not installed") && err.contains("--local"),
        "{err}"
    );
    if cfg!(target_os = "linux") {
        let path = fake_nix(&d.path().join("off"), "2.28.4", "sandbox = false\n");
        let (code, _, err) = run(&path, &["testshell", k.to_str().unwrap()], d.path());
        assert_eq!(code, 1);
        assert!(
            err.contains("sandbox is off") && err.contains("sandbox = true"),
            "{err}"
        );
    }
    // Nix is fine but the kernel has no flake.nix: the fix is named, and the
    // plan file was refreshed on the way.
    let path = fake_nix(&d.path().join("ok"), "2.28.4", "sandbox = true\n");
    let (code, _, err) = run(&path, &["devshell", k.to_str().unwrap()], d.path());
    assert_eq!(code, 1);
    assert!(err.contains("has no flake.nix"), "{err}");
    assert!(k.join("kernel-plan.json").is_file());
    let (code, _, err) = run(
        &path,
        &["devshell", k.to_str().unwrap(), "--variant", "torch999-cpu"],
        d.path(),
    );
    assert_eq!(code, 1);
    assert!(err.contains("not a variant"), "{err}");
}

#[test]
fn ci_matrix_lists_one_job_per_variant() {
    let d = tempfile::tempdir().unwrap();
    let k = kernel_copy(d.path());
    let out = Command::new(BIN)
        .args(["ci-matrix", "--json"])
        .arg(&k)
        .output()
        .unwrap();
    assert!(out.status.success());
    let jobs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let listed = Command::new(BIN)
        .args(["list-variants", "--json"])
        .arg(&k)
        .output()
        .unwrap();
    let variants: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(jobs.len(), variants.len());
    for j in &jobs {
        let backend = j["backend"].as_str().unwrap();
        let accel = j["needs-accelerator"].as_bool().unwrap();
        assert_eq!(accel, matches!(backend, "cuda" | "rocm" | "xpu"), "{j}");
        assert!(!j["build-runner"].as_array().unwrap().is_empty());
        if backend == "cuda" {
            assert!(j["test-runner"]
                .as_array()
                .unwrap()
                .contains(&Value::from("gpu-nvidia")));
        }
        assert_eq!(
            j["test-attr"],
            format!(
                "packages.{}.ciTests.{}",
                j["system"].as_str().unwrap(),
                j["variant"].as_str().unwrap()
            )
        );
    }
    let out = Command::new(BIN)
        .args(["ci-matrix", "--system", "aarch64-darwin"])
        .arg(&k)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("macos-15") && text.lines().last().unwrap().ends_with("job(s)"),
        "{text}"
    );
    assert!(!text.contains("x86_64-linux"), "{text}");
}

/// `kernel-builder build` on the Nix path refreshes a stale kernel-plan.json
/// before it calls `nix build` (the flake then reads the current plan), asks
/// for the host bundle, and copies the variants it gets into build/.
#[test]
fn build_refreshes_a_stale_plan_then_builds_through_nix() {
    let d = tempfile::tempdir().unwrap();
    let k = d.path().join("relu");
    let st = Command::new("cp")
        .arg("-r")
        .arg(crate::support::repo().join("examples/relu"))
        .arg(&k)
        .status()
        .unwrap();
    assert!(st.success());
    let _ = std::fs::remove_dir_all(k.join("build"));
    // Stale: build.toml changed after the plan was written.
    let toml = std::fs::read_to_string(k.join("build.toml")).unwrap();
    std::fs::write(k.join("build.toml"), format!("{toml}\n# edited\n")).unwrap();
    let plan_before = std::fs::read_to_string(k.join("kernel-plan.json")).unwrap();
    // A fake `nix build` answering with one output holding the host's default variant.
    let host = kb_core::matrix::host_system();
    let (code, out, err) = {
        let o = Command::new(BIN)
            .args(["nix", "plan-file"])
            .arg(&k)
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(code, 0, "{err}");
    let fresh: Value = serde_json::from_str(&out).unwrap();
    let variant = fresh["default-variants"][&host]
        .as_str()
        .unwrap()
        .to_string();
    let result = d.path().join("result");
    std::fs::create_dir_all(result.join(&variant)).unwrap();
    std::fs::write(result.join(&variant).join("marker.py"), "# built\n").unwrap();
    let fake = d.path().join("fake");
    let path = fake_nix(&fake, "2.28.4", "sandbox = true\n");
    let log = fake.join("build-args");
    std::fs::write(
        fake.join("bin/nix"),
        format!(
            "#!/bin/sh\ncase \"$*\" in\n  --version) echo 'nix (Nix) 2.28.4' ;;\n  *show-config*|*'config show'*) echo 'sandbox = true' ;;\n  *' build '*) echo \"$*\" > '{}'; cp '{}' '{}.seen'; echo '[{{\"drvPath\":\"/nix/store/x.drv\",\"outputs\":{{\"out\":\"{}\"}}}}]' ;;\n  *) exit 3 ;;\nesac\n",
            log.display(),
            k.join("kernel-plan.json").display(),
            log.display(),
            result.display()
        ),
    )
    .unwrap();
    let (code, _, err) = run(&path, &["build", k.to_str().unwrap()], d.path());
    assert_eq!(code, 0, "{err}");
    // Refreshed before nix ran: what nix saw is the fresh plan.
    let seen = std::fs::read_to_string(format!("{}.seen", log.display())).unwrap();
    assert_ne!(seen, plan_before);
    assert_eq!(seen, out, "the plan nix saw is `nix plan-file`'s");
    assert!(
        err.contains("updated") && err.contains("kernel-plan.json"),
        "{err}"
    );
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(
        args.contains("build --no-link --json")
            && args.contains(&format!("#packages.{host}.bundle")),
        "{args}"
    );
    assert_eq!(
        std::fs::read_to_string(k.join("build").join(&variant).join("marker.py")).unwrap(),
        "# built\n"
    );
    // The card is filled next to the variants, as the Nix bundle does.
    assert!(k.join("build/CARD.md").is_file(), "{err}");
}

/// `nix plan-file --no-source-checks --out FILE` (what the flake's plan
/// derivation runs when a kernel commits no plan file) needs `build.toml`
/// alone and writes the same plan file as the full project gives; without
/// the flag, missing sources are errors.
#[test]
fn plan_file_from_build_toml_alone() {
    let d = tempfile::tempdir().unwrap();
    let relu = crate::support::repo().join("examples/relu");
    std::fs::copy(relu.join("build.toml"), d.path().join("build.toml")).unwrap();
    let out = d.path().join("plan.json");
    let o = crate::support::kb()
        .args(["nix", "plan-file", "--no-source-checks", "--out"])
        .arg(&out)
        .arg(d.path().join("build.toml"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stdout.is_empty());
    let full = crate::support::ok(
        crate::support::kb()
            .args(["nix", "plan-file"])
            .arg(&relu)
            .output()
            .unwrap(),
    );
    assert_eq!(std::fs::read(&out).unwrap(), full.stdout);
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(relu.join("kernel-plan.json")).unwrap(),
        "examples/relu/kernel-plan.json is current"
    );
    let o = crate::support::kb()
        .args(["nix", "plan-file"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("torch-ext/torch_binding.cpp` does not exist"),
        "{err}"
    );
}
