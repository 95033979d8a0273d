//! The CLI surface: every subcommand exists, exit codes, JSON output.

use crate::support::kb;

use crate::support::fixture;

#[test]
fn every_reference_subcommand_has_help() {
    for sub in [
        "completions",
        "init",
        "build",
        "build-and-copy",
        "build-and-upload",
        "upload",
        "check-config",
        "check-abi",
        "check-builds",
        "create-pyproject",
        "devshell",
        "list-variants",
        "testshell",
        "update-build",
        "skills",
        "clean-pyproject",
        "fill-card",
        "hash",
        "plan",
    ] {
        let out = kb().args([sub, "--help"]).output().unwrap();
        assert!(out.status.success(), "{sub} --help failed");
    }
    let out = kb().args(["skills", "add", "--help"]).output().unwrap();
    assert!(out.status.success());
}

#[test]
fn completions_are_generated() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = kb().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("list-variants"),
            "{shell}"
        );
    }
}

#[test]
fn check_config_ok_and_error_exit_codes() {
    let out = kb()
        .arg("check-config")
        .arg(fixture("all-backends"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("is valid; 26 variants"));
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("build.toml"), "[general]\nname = \"x\"\n").unwrap();
    let out = kb().arg("check-config").arg(d.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("build.toml") && err.contains("general.name") && err.contains("help:"),
        "{err}"
    );
    let out = kb()
        .arg("check-config")
        .arg(d.path().join("missing"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no build.toml here"));
}

#[test]
fn list_variants_filters_and_json() {
    let out = kb()
        .args(["list-variants", "--system", "aarch64-linux"])
        .arg(fixture("bounds"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text, "torch215-cxx11-cpu-aarch64-linux\ntorch215-cxx11-cu130-aarch64-linux\ntorch215-cxx11-cu132-aarch64-linux\n");
    let out = kb()
        .args(["list-variants", "--json"])
        .arg(fixture("bounds"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 7);
    assert_eq!(v[0]["name"], "torch215-cpu-aarch64-darwin");
    assert_eq!(v[0]["system"], "aarch64-darwin");
    let out = kb()
        .args(["list-variants", "--system", "mips-linux"])
        .arg(fixture("bounds"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn plan_json_is_stable() {
    let a = kb()
        .args(["plan", "--json"])
        .arg(fixture("all-backends"))
        .output()
        .unwrap();
    let b = kb()
        .args(["plan", "--json"])
        .arg(fixture("all-backends"))
        .output()
        .unwrap();
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
    let v: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    assert_eq!(v["schema"], 1);
    assert_eq!(v["build-toml-sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn special_files_never_block_a_command() {
    use crate::support::{mkfifo, output_within};
    // build.toml is a FIFO: refused without opening it.
    let d = tempfile::tempdir().unwrap();
    mkfifo(&d.path().join("build.toml"));
    let out = output_within(kb().arg("check-config").arg(d.path()), 20);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("FIFO"), "{err}");

    // A variant whose metadata.json is a FIFO, plus a link to `/` and a
    // link loop: hash and check-builds finish and name the FIFO.
    let v = d.path().join("build/torch215-cxx11-cpu-x86_64-linux");
    std::fs::create_dir_all(&v).unwrap();
    std::fs::write(v.join("__init__.py"), "").unwrap();
    std::os::unix::fs::symlink("/", v.join("root")).unwrap();
    std::os::unix::fs::symlink(".", v.join("loop")).unwrap();
    mkfifo(&v.join("metadata.json"));
    for args in [&["hash"][..], &["hash", "--check"], &["check-builds"]] {
        let out = output_within(kb().args(args).arg(&v), 20);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("FIFO"), "{args:?}: {text}");
    }
}

#[test]
fn check_config_json_carries_every_diagnostic() {
    let d = tempfile::tempdir().unwrap();
    let toml = d.path().join("build.toml");
    // An older-format file (a warning) with a capability that does not exist
    // (a warning) and an unknown key (an error).
    std::fs::create_dir_all(d.path().join("torch-ext/relu_json")).unwrap();
    std::fs::write(d.path().join("torch-ext/relu_json/__init__.py"), "").unwrap();
    std::fs::write(d.path().join("k.cu"), "").unwrap();
    let good = "[general]\nname = \"relu-json\"\nlicense = \"MIT\"\nbackends = [\"cuda\"]\n\n\
        [torch]\nsrc = []\n\n[kernel.k]\nbackend = \"cuda\"\ndepends = [\"torch\"]\nsrc = [\"k.cu\"]\n\
        cuda-capabilities = [\"9.0\", \"11.8\"]\n";
    std::fs::write(&toml, good).unwrap();
    let out = kb()
        .args(["check-config", "--json"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    let diags = v["diagnostics"].as_array().unwrap();
    assert!(
        diags.iter().any(|x| x["severity"] == "warning"
            && x["key"] == "kernel.k.cuda-capabilities[1]"
            && x["line"].as_u64().is_some()),
        "{v:#}"
    );

    std::fs::write(
        &toml,
        good.replace("[torch]", "[general.bogus]\nx = 1\n\n[torch]"),
    )
    .unwrap();
    let out = kb()
        .args(["check-config", "--json"])
        .arg(d.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], false);
    let errors: Vec<_> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["severity"] == "error")
        .collect();
    assert!(!errors.is_empty(), "{v:#}");
    assert!(errors
        .iter()
        .all(|x| x["message"].as_str().is_some_and(|m| !m.is_empty())));
    // The text is still on standard error for a person.
    assert!(String::from_utf8_lossy(&out.stderr).contains("error:"));
}
