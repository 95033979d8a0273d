//! `upload` and Hub compliance: verdicts of known `build-info` kinds are
//! taken as recorded; variants without one are checked before anything is
//! sent. The tests on real local builds are run by ci/compliance.sh.

use std::path::{Path, PathBuf};

use crate::support::*;

const REPO: &str = "kernels/org/relu";

#[test]
fn variants_without_build_info_are_checked_before_upload() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    k.set_meta(CPU, |m| {
        m.as_object_mut().unwrap().remove("build-info");
    });
    // The fake module is not a real ELF file: the ABI check cannot read it.
    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    r.failed();
    assert!(
        r.stderr.contains("no `build-info`") && r.stderr.contains("running the compliance checks"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("could not read a module"), "{}", r.stderr);
    assert!(hub.log().is_empty(), "nothing was sent");

    // An unknown kind claiming compliance proves nothing either.
    k.set_meta(CPU, |m| {
        m["build-info"] = serde_json::json!({"kind": "handmade", "compliant": true})
    });
    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    assert!(r.failed().stderr.contains("`handmade`"), "{}", r.stderr);

    run(
        &hub,
        k.path(),
        &["--repo-id", "org/relu", "--allow-noncompliant"],
    )
    .ok();
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
}

/// Copy `build/` of a kernel built by ci/compliance.sh into a temporary directory.
fn copy_build(from: &Path) -> tempfile::TempDir {
    fn copy(src: &Path, dst: &Path) {
        std::fs::create_dir_all(dst).unwrap();
        for e in std::fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            let to = dst.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to);
            } else {
                std::fs::copy(e.path(), to).unwrap();
            }
        }
    }
    let d = tempfile::tempdir().unwrap();
    copy(&from.join("build"), &d.path().join("build"));
    d
}

fn env_dir(var: &str) -> PathBuf {
    let v = std::env::var_os(var)
        .unwrap_or_else(|| panic!("set {var} (ci/compliance.sh does) to a kernel built locally"));
    PathBuf::from(v)
}

fn edit_meta(dir: &Path, f: impl Fn(&mut serde_json::Value)) {
    for e in std::fs::read_dir(dir.join("build")).unwrap() {
        let p = e.unwrap().path().join("metadata.json");
        if p.is_file() {
            let mut m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            f(&mut m);
            std::fs::write(&p, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
        }
    }
}

/// A compliant local build uploads without `--allow-noncompliant`; stripped
/// of its `build-info`, it is checked at upload (loader included) and passes.
#[test]
#[ignore = "needs local builds and torch (ci/compliance.sh)"]
fn compliant_builds_upload_and_unverified_ones_are_checked() {
    let python = std::env::var("KB_PYTHON").expect("KB_PYTHON (ci/env.sh)");
    let env = [("HF_TOKEN", TOKEN), ("KB_PYTHON", python.as_str())];
    let args = ["--repo-id", "org/relu", "--allow-dirty"];
    let hub = FakeHub::start(TOKEN);
    let d = copy_build(&env_dir("KB_COMPLIANT_KERNEL"));
    let r = run_env(&hub, d.path(), &args, &env);
    r.ok();
    assert!(
        !r.stderr.contains("running the compliance checks"),
        "{}",
        r.stderr
    );

    edit_meta(d.path(), |m| {
        m.as_object_mut().unwrap().remove("build-info");
    });
    let hub = FakeHub::start(TOKEN);
    let r = run_env(&hub, d.path(), &args, &env);
    r.ok();
    assert!(
        r.stderr.contains("passed the compliance checks at upload"),
        "{}",
        r.stderr
    );
}

/// A build with a symbol glibc has no older version of is refused, naming
/// it; without its `build-info` the upload's own checks find it too.
#[test]
#[ignore = "needs local builds and torch (ci/compliance.sh)"]
fn noncompliant_builds_are_refused() {
    let python = std::env::var("KB_PYTHON").expect("KB_PYTHON (ci/env.sh)");
    let env = [("HF_TOKEN", TOKEN), ("KB_PYTHON", python.as_str())];
    let args = ["--repo-id", "org/relu", "--allow-dirty"];
    let hub = FakeHub::start(TOKEN);
    let d = copy_build(&env_dir("KB_NONCOMPLIANT_KERNEL"));
    let r = run_env(&hub, d.path(), &args, &env);
    assert!(r.failed().stderr.contains("ABI finding"), "{}", r.stderr);
    edit_meta(d.path(), |m| {
        m.as_object_mut().unwrap().remove("build-info");
    });
    let r = run_env(&hub, d.path(), &args, &env);
    assert!(
        r.failed().stderr.contains("`closefrom` needs GLIBC_2.34"),
        "{}",
        r.stderr
    );
    assert!(hub.log().is_empty(), "nothing was sent");
}
