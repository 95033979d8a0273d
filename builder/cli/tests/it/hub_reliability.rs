//! `kernel-builder upload` against a Hub that fails or misbehaves on purpose:
//! variants land whole or not at all, unsafe remote paths are refused, every
//! wait is bounded, the token is redacted in every form, and a variant
//! without a compliance verdict is not published.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use base64::Engine;

use crate::support::*;

const REPO: &str = "kernels/org/relu";

fn under(files: &BTreeMap<String, Vec<u8>>, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .filter(|(p, _)| p.starts_with(prefix))
        .map(|(p, v)| (p.clone(), v.clone()))
        .collect()
}

/// With commits of at most two files, each variant (four files) is still one
/// commit, so a commit failing at any point leaves every variant on the
/// branch either entirely as before or entirely new, and the message says so.
#[test]
fn each_variant_lands_whole_or_not_at_all() {
    let env = [
        ("HF_TOKEN", TOKEN),
        ("KERNEL_BUILDER_HUB_BATCH_FILES", "2"),
        ("KERNEL_BUILDER_HUB_RETRIES", "0"),
    ];
    for fail_at in 0..4 {
        let hub = FakeHub::start(TOKEN);
        let k = Kernel::new(&[CPU, CUDA], 1);
        k.write(&format!("build/{CPU}/old.py"), b"old = 1\n");
        run_env(&hub, k.path(), &["--repo-id", "org/relu"], &env).ok();
        let before = content(hub.files(REPO, "v1"));

        // A new build of both variants: a changed file, a new one, a removed one.
        for v in [CPU, CUDA] {
            k.write(
                &format!("build/{v}/_ops.py"),
                format!("# {v} v2\n").as_bytes(),
            );
            k.write(&format!("build/{v}/extra.py"), b"extra = 2\n");
        }
        std::fs::remove_file(k.path().join(format!("build/{CPU}/old.py"))).unwrap();
        let after = k.expected();
        let applied = hub.commits_applied();
        hub.fault_after(
            "POST",
            "/commit/v1",
            fail_at,
            usize::MAX,
            Fault::Status(500, "down".into()),
        );
        let r = run_env(&hub, k.path(), &["--repo-id", "org/relu"], &env);
        let now = content(hub.files(REPO, "v1"));
        for v in [CPU, CUDA] {
            let prefix = format!("build/{v}/");
            let got = under(&now, &prefix);
            assert!(
                got == under(&before, &prefix) || got == under(&after, &prefix),
                "fail_at {fail_at}: {v} is half-applied: {:?}",
                got.keys()
            );
        }
        // Two variant commits on v1 (no benchmark change); a later failure is
        // past the end and the upload succeeds.
        if fail_at < 2 {
            r.failed();
            assert_eq!(hub.commits_applied() - applied, fail_at);
            assert!(
                r.stderr
                    .contains("every variant on `v1` is either entirely old or entirely new"),
                "{}",
                r.stderr
            );
        } else {
            r.ok();
            assert_files(&now, &after);
        }
    }
}

/// Large files are stored before the first commit: a failed transfer leaves
/// the branch untouched.
#[test]
fn large_files_are_stored_before_any_commit() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    let env = [
        ("HF_TOKEN", TOKEN),
        ("KERNEL_BUILDER_HUB_BATCH_FILES", "4"),
        ("KERNEL_BUILDER_HUB_RETRIES", "0"),
    ];
    // The second variant's `.so` cannot be stored.
    hub.fault_after(
        "PUT",
        "/upload/",
        1,
        usize::MAX,
        Fault::Status(500, "storage down".into()),
    );
    let r = run_env(&hub, k.path(), &["--repo-id", "org/relu"], &env);
    r.failed();
    assert_eq!(hub.commits_applied(), 0, "{}", r.stderr);
    assert!(r.stderr.contains("No commit was made"), "{}", r.stderr);

    hub.clear_faults();
    run_env(&hub, k.path(), &["--repo-id", "org/relu"], &env).ok();
    let log = hub.log();
    let last_put = log.iter().rposition(|l| l.method == "PUT").unwrap();
    let first_commit = log
        .iter()
        .position(|l| l.method == "POST" && l.target.contains("/commit/") && l.status == 200)
        .unwrap();
    assert!(
        last_put < first_commit,
        "a commit went out before a large file"
    );
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
}

/// A remote path that starts with `build/<variant>/` but leaves it through
/// `..` is not deleted: the tree is refused before anything is sent.
#[test]
fn remote_paths_that_are_not_plain_are_refused() {
    for bad in [
        format!("build/{CPU}/../../README.md"),
        format!("build/{CPU}/./x.py"),
    ] {
        let hub = FakeHub::start(TOKEN);
        hub.seed(
            REPO,
            "v1",
            &[(bad.as_str(), &b"x"[..]), ("README.md", &b"keep me"[..])],
        );
        let k = Kernel::new(&[CPU], 1);
        let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
        r.failed();
        assert!(r.stderr.contains(&bad), "{}", r.stderr);
        assert!(
            r.stderr.contains("not plain repository paths"),
            "{}",
            r.stderr
        );
        assert_eq!(hub.commits_applied(), 0);
        assert_eq!(hub.requests("POST", "/preupload/"), 0);
        assert_eq!(hub.requests("PUT", "/"), 0);
        let files = hub.files(REPO, "v1");
        assert!(files.contains_key(&bad) && files["README.md"] == b"keep me");
    }
}

/// An answer trickled at a few bytes a second never stalls long enough for
/// the per-read timeout, but the request's deadline ends it.
#[test]
fn a_trickled_answer_hits_the_request_deadline() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    // The branch listing is ~150 bytes: 45 s at this pace.
    hub.fault(
        "GET",
        "/refs",
        usize::MAX,
        Fault::Trickle(Duration::from_millis(300)),
    );
    let start = Instant::now();
    let r = run_env(
        &hub,
        k.path(),
        &["--repo-id", "org/relu"],
        &[
            ("HF_TOKEN", TOKEN),
            ("KERNEL_BUILDER_HUB_TIMEOUT", "1"),
            ("KERNEL_BUILDER_HUB_RETRIES", "1"),
        ],
    );
    r.failed();
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(r.stderr.contains("timed out"), "{}", r.stderr);
    assert!(r.stderr.contains("per request"), "{}", r.stderr);
    assert_eq!(hub.commits_applied(), 0);
}

/// A `Link: rel="next"` back to the same page, or an endless run of empty
/// pages, ends the listing with an error after a request or two.
#[test]
fn pagination_that_does_not_advance_is_refused() {
    for (fault, says) in [
        (Fault::LinkToSelf, "already read"),
        (Fault::EndlessPages, "listed nothing new"),
    ] {
        let hub = FakeHub::start(TOKEN);
        let k = Kernel::new(&[CPU], 1);
        hub.fault("GET", "/tree/", usize::MAX, fault);
        let start = Instant::now();
        let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
        r.failed();
        assert!(r.stderr.contains(says), "{}", r.stderr);
        assert!(
            hub.requests("GET", "/tree/") <= 2,
            "{}",
            hub.requests("GET", "/tree/")
        );
        assert!(start.elapsed() < Duration::from_secs(20));
        assert_eq!(hub.commits_applied(), 0);
    }
}

/// The token as a server may echo it: percent-encoded, escaped, base64 of the
/// token and of `user:token`, a long substring. None of it is printed, on
/// the retry lines or in the final error.
#[test]
fn every_echoed_form_of_the_token_is_redacted() {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let pct: String = TOKEN.bytes().map(|b| format!("%{b:02X}")).collect();
    let forms = [
        TOKEN.replace('_', "%5F"),
        pct,
        TOKEN.bytes().map(|b| format!("\\u{b:04x}")).collect(),
        b64(TOKEN),
        b64(&format!("user:{TOKEN}")),
        b64(&format!("__token__:{TOKEN}")),
        TOKEN[4..20].to_string(),
    ];
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    hub.fault(
        "POST",
        "/preupload/",
        usize::MAX,
        Fault::Status(503, format!("bad credentials: {}", forms.join(" | "))),
    );
    let r = run_env(
        &hub,
        k.path(),
        &["--repo-id", "org/relu"],
        &[("HF_TOKEN", TOKEN), ("KERNEL_BUILDER_HUB_RETRIES", "1")],
    );
    r.failed();
    assert!(r.stderr.contains("retry 1/1"), "{}", r.stderr);
    assert!(r.stderr.contains("***"), "{}", r.stderr);
    let printed = format!("{}{}", r.stdout, r.stderr);
    // The base64 characters that encode `user:` or `__token__:` are not
    // secret (nor the one that mixes their last bits with the token's first
    // 2 or 4); every other 10-character run of a form is.
    let public: Vec<String> = ["user:", "__token__:"]
        .iter()
        .map(|p| b64(&format!("{p}{TOKEN}"))[..(p.len() * 8).div_ceil(6)].to_string())
        .collect();
    for f in &forms {
        for w in f.as_bytes().windows(10) {
            let w = std::str::from_utf8(w).unwrap();
            if public.iter().any(|p| p.contains(w)) {
                continue;
            }
            assert!(
                !printed.contains(w),
                "`{w}` of `{f}` was printed:\n{printed}"
            );
        }
    }
}

/// A variant whose metadata.json has no `build-info` (or one without a
/// verdict) is unverified: it is checked at upload, and refused before any
/// request when the checks fail (it used to be uploaded as compliant).
#[test]
fn a_variant_without_a_compliance_verdict_is_refused() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    k.set_meta(CPU, |m| {
        m.as_object_mut().unwrap().remove("build-info");
    });
    k.set_meta(CUDA, |m| {
        m["build-info"].as_object_mut().unwrap().remove("compliant");
    });
    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    r.failed();
    // Unverified builds are checked at upload (these fake modules fail).
    assert!(r.stderr.contains("not Hub-compliant"), "{}", r.stderr);
    for v in [CPU, CUDA] {
        assert!(r.stderr.contains(&format!("{v}: ")), "{}", r.stderr);
    }
    assert!(r.stderr.contains("--allow-noncompliant"), "{}", r.stderr);
    assert!(hub.log().is_empty());
    run(
        &hub,
        k.path(),
        &["--repo-id", "org/relu", "--allow-noncompliant"],
    )
    .ok();
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
}
