//! `kernel-builder upload` refusals and network failures: nothing partial, nothing leaked.

use std::time::Duration;

use crate::support::*;

const REPO: &str = "kernels/org/relu";

#[test]
fn dirty_builds_are_refused_unless_allowed() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    k.set_meta(CUDA, |m| m["provenance"]["kernel"]["dirty"] = true.into());
    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    r.failed();
    assert!(r.stderr.contains(CUDA), "{}", r.stderr);
    assert!(
        !r.stderr.contains(&format!("{CPU}:")),
        "only the dirty variant is named: {}",
        r.stderr
    );
    assert!(r.stderr.contains("--allow-dirty"), "{}", r.stderr);
    assert!(hub.log().is_empty(), "nothing was sent");

    // The `_dirty` ops-id suffix counts too.
    let k2 = Kernel::new(&[CPU], 1);
    k2.set_meta(CPU, |m| m["id"] = "_relu_cpu_0123abc_dirty".into());
    let r = run(&hub, k2.path(), &["--repo-id", "org/relu"]);
    assert!(r.failed().stderr.contains("_dirty"), "{}", r.stderr);

    run(&hub, k.path(), &["--repo-id", "org/relu", "--allow-dirty"]).ok();
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
}

#[test]
fn noncompliant_builds_are_refused_unless_allowed() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    k.set_meta(CPU, |m| {
        m["build-info"]["kind"] = "development".into();
        m["build-info"]["compliant"] = false.into();
    });
    k.set_meta(CUDA, |m| {
        m["build-info"]["abi-findings"] = serde_json::json!([{"symbol": "x"}])
    });
    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    r.failed();
    assert!(r.stderr.contains("--allow-noncompliant"), "{}", r.stderr);
    assert!(r.stderr.contains("compliant is false"), "{}", r.stderr);
    assert!(r.stderr.contains("abi-findings"), "{}", r.stderr);
    assert!(hub.log().is_empty());

    // Both refusals at once name both flags.
    k.set_meta(CUDA, |m| m["provenance"]["kernel"]["dirty"] = true.into());
    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    assert!(
        r.failed().stderr.contains("--allow-dirty") && r.stderr.contains("--allow-noncompliant")
    );

    run(
        &hub,
        k.path(),
        &[
            "--repo-id",
            "org/relu",
            "--allow-noncompliant",
            "--allow-dirty",
        ],
    )
    .ok();
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
}

#[test]
fn variants_must_agree_on_the_version() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    k.add_variant(CUDA, 2);
    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    r.failed();
    assert!(
        r.stderr.contains(&format!("version 1: {CPU}")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("version 2: {CUDA}")),
        "{}",
        r.stderr
    );
    assert!(hub.log().is_empty());

    // A `v<N>` branch must match the builds' version.
    let k = Kernel::new(&[CPU], 1);
    let r = run(&hub, k.path(), &["--repo-id", "org/relu", "--branch", "v2"]);
    assert!(r.failed().stderr.contains("version 1"), "{}", r.stderr);
}

#[test]
fn files_changed_after_the_build_are_refused() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    let init = std::fs::read(k.path().join(format!("build/{CPU}/__init__.py"))).unwrap();
    use base64::Engine;
    use sha2::Digest;
    let good = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&init));
    k.set_meta(
        CPU,
        |m| {
            m["digest"] = serde_json::json!({"algorithm": "sha256", "files": {"__init__.py": good}})
        },
    );
    run(&hub, k.path(), &["--repo-id", "org/relu"]).ok();
    k.write(&format!("build/{CPU}/__init__.py"), b"tampered = True\n");
    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    assert!(
        r.failed().stderr.contains("`__init__.py` does not match"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_missing_or_rejected_token_is_a_clear_error() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    let r = run_env(&hub, k.path(), &["--repo-id", "org/relu"], &[]);
    assert!(r.failed().stderr.contains("HF_TOKEN"), "{}", r.stderr);
    assert!(hub.log().is_empty());

    let hub = FakeHub::start("hf_SomeOtherTokenTheServerWantsXXXXXX");
    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    assert!(r.failed().stderr.contains("HTTP 401"), "{}", r.stderr);
}

#[test]
fn server_errors_are_retried() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    hub.fault("GET", "/tree/", 1, Fault::Status(502, "bad gateway".into()));
    hub.fault("POST", "/preupload/", 1, Fault::Status(503, "busy".into()));
    hub.fault(
        "PUT",
        "/upload/",
        1,
        Fault::Status(500, "storage hiccup".into()),
    );
    hub.fault(
        "POST",
        "/commit/",
        2,
        Fault::Status(503, "try later".into()),
    );
    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    r.ok();
    assert!(r.stderr.contains("retry 1/5"), "{}", r.stderr);
    assert_eq!(
        hub.requests("POST", "/commit/"),
        4,
        "two failures, then v1 and main"
    );
    assert_eq!(hub.commits_applied(), 2);
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
}

#[test]
fn persistent_server_errors_end_clearly_without_a_commit() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    // The server even echoes the credentials back in its error page.
    hub.fault(
        "POST",
        "/commit/",
        usize::MAX,
        Fault::Status(
            500,
            format!("internal error handling Authorization: Bearer {TOKEN}"),
        ),
    );
    let r = run_env(
        &hub,
        k.path(),
        &["--repo-id", "org/relu"],
        &[("HF_TOKEN", TOKEN), ("KERNEL_BUILDER_HUB_RETRIES", "2")],
    );
    r.failed();
    assert!(
        r.stderr.contains("HTTP 500 after 3 attempts"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("No commit landed"), "{}", r.stderr);
    assert!(
        r.stderr.contains("run the same command again"),
        "{}",
        r.stderr
    );
    assert_eq!(hub.requests("POST", "/commit/"), 3);
    assert_eq!(hub.commits_applied(), 0);
    assert_eq!(
        content(hub.files(REPO, "v1")).len(),
        0,
        "the branch holds nothing new"
    );
}

#[test]
fn timeouts_are_retried_then_reported() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    let env = [
        ("HF_TOKEN", TOKEN),
        ("KERNEL_BUILDER_HUB_TIMEOUT", "0.5"),
        ("KERNEL_BUILDER_HUB_RETRIES", "2"),
    ];
    hub.fault("GET", "/refs", 1, Fault::Stall(Duration::from_secs(2)));
    hub.fault("PUT", "/upload/", 1, Fault::Stall(Duration::from_secs(2)));
    let r = run_env(&hub, k.path(), &["--repo-id", "org/relu"], &env);
    r.ok();
    assert!(r.stderr.contains("timed out"), "{}", r.stderr);
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());

    let hub = FakeHub::start(TOKEN);
    hub.fault(
        "GET",
        "/tree/",
        usize::MAX,
        Fault::Stall(Duration::from_secs(2)),
    );
    let r = run_env(&hub, k.path(), &["--repo-id", "org/relu"], &env);
    r.failed();
    assert!(r.stderr.contains("timed out"), "{}", r.stderr);
    assert!(
        r.stderr.contains("gave up after 3 attempts"),
        "{}",
        r.stderr
    );
    assert_eq!(hub.commits_applied(), 0);
}

#[test]
fn a_commit_whose_answer_was_lost_is_not_applied_twice() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    hub.fault("POST", "/commit/v1", 1, Fault::ApplyThenDrop);
    let s = run(&hub, k.path(), &["--repo-id", "org/relu", "--json"])
        .ok()
        .json();
    assert_eq!(hub.commits_applied(), 2, "v1 once, README once");
    assert_eq!(s["commits"][0]["recovered"], true);
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
}

#[test]
fn a_failing_later_batch_reports_what_landed_and_a_rerun_finishes() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    let env = [
        ("HF_TOKEN", TOKEN),
        ("KERNEL_BUILDER_HUB_BATCH_FILES", "4"),
        ("KERNEL_BUILDER_HUB_RETRIES", "1"),
    ];
    // Batches on v1: benchmarks, CPU, CUDA. The second commit fails for good.
    hub.fault_after(
        "POST",
        "/commit/v1",
        1,
        usize::MAX,
        Fault::Status(500, "down".into()),
    );
    let r = run_env(&hub, k.path(), &["--repo-id", "org/relu"], &env);
    r.failed();
    assert!(r.stderr.contains("commit 2/3"), "{}", r.stderr);
    assert!(
        r.stderr.contains("Landed before the failure: commit 1/3"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains(&format!("commits 2-3 of 3 (build/{CPU}, build/{CUDA})")),
        "{}",
        r.stderr
    );
    let files = content(hub.files(REPO, "v1"));
    assert!(
        files.keys().all(|p| p.starts_with("benchmarks/")),
        "{:?}",
        files.keys()
    );

    hub.clear_faults();
    let bytes = hub.file_bytes();
    let s = run_env(&hub, k.path(), &["--repo-id", "org/relu", "--json"], &env)
        .ok()
        .json();
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
    assert_eq!(s["files-unchanged"], 1, "the benchmark is not sent again");
    let rest: u64 = k
        .expected()
        .iter()
        .filter(|(p, _)| p.starts_with("build/"))
        .map(|(_, v)| v.len() as u64)
        .sum::<u64>()
        + k.card().len() as u64;
    // The first run may have uploaded the failed batch's LFS objects already; they are not resent.
    assert!(hub.file_bytes() - bytes <= rest);
}
