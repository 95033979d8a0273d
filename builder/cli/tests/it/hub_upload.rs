//! `kernel-builder upload` against a local Hub stand-in: what lands where, and what is (not) sent.

use crate::support::*;

const REPO: &str = "kernels/org/relu";

#[test]
fn first_upload_creates_repository_branch_and_files() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    let r = run(&hub, k.path(), &["--repo-id", "org/relu", "--json"]);
    let s = r.ok().json();

    // A kernel-type repository, a `v1` branch holding exactly the local files, the card on main.
    assert!(hub.repo(REPO).is_some(), "kernel repository created");
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
    assert_eq!(hub.files(REPO, "main")["README.md"], k.card());
    assert!(!hub.files(REPO, "main").contains_key("build/CARD.md"));
    let lfs = hub.lfs_paths(REPO, "v1");
    assert_eq!(lfs.len(), 2, "{lfs:?}");
    assert!(lfs.iter().all(|p| p.ends_with(".abi3.so")));

    // Every byte went over the wire exactly once.
    let total: u64 =
        k.expected().values().map(|v| v.len() as u64).sum::<u64>() + k.card().len() as u64;
    assert_eq!(hub.file_bytes(), total);
    assert_eq!(s["bytes-sent"], total);
    assert_eq!(s["files-uploaded"], k.expected().len() + 1);
    assert_eq!(s["files-unchanged"], 0);
    assert_eq!(s["created-repository"], true);
    assert_eq!(s["created-branch"], true);
    assert_eq!(s["branch"], "v1");
    assert_eq!(s["version"], 1);
    assert_eq!(s["repo-type"], "kernel");
    assert_eq!(s["lfs-objects-uploaded"], 2);
    assert_eq!(s["commits"].as_array().unwrap().len(), 2);
    assert_eq!(s["url"], format!("{}/kernels/org/relu", hub.url));
    assert_eq!(hub.commits_applied(), 2);

    // The token goes to the Hub on every call, never to the storage host.
    for l in hub.log() {
        if l.server == "storage" {
            assert_eq!(l.authorization, None, "{} {}", l.method, l.target);
        } else {
            assert_eq!(
                l.authorization.as_deref(),
                Some(&*format!("Bearer {TOKEN}"))
            );
        }
    }
    assert!(hub.log().iter().any(|l| l.server == "storage"));
    // Progress went to stderr, the summary alone to stdout.
    assert!(r.stderr.contains("Found 2 build variants"), "{}", r.stderr);
}

#[test]
fn reupload_without_change_sends_no_file_bytes_and_no_commit() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    run(&hub, k.path(), &["--repo-id", "org/relu"]).ok();
    let bytes = hub.file_bytes();
    let commits = hub.commits_applied();
    hub.with(|s| s.log.clear());

    let r = run(&hub, k.path(), &["--repo-id", "org/relu", "--json"]);
    let s = r.ok().json();
    assert_eq!(
        hub.file_bytes(),
        bytes,
        "no file bytes on the second upload"
    );
    assert_eq!(
        hub.commits_applied(),
        commits,
        "no commit on the second upload"
    );
    assert_eq!(hub.requests("POST", "/commit/"), 0);
    assert_eq!(hub.requests("POST", "/preupload/"), 0);
    assert_eq!(hub.requests("POST", "/lfs/objects/batch"), 0);
    assert!(hub.log().iter().all(|l| l.method == "GET"), "only reads");
    assert_eq!(s["bytes-sent"], 0);
    assert_eq!(s["files-uploaded"], 0);
    assert_eq!(s["files-unchanged"], k.expected().len() + 1);
    assert_eq!(s["commits"].as_array().unwrap().len(), 0);

    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    assert!(
        r.ok().stdout.starts_with("Already up to date:"),
        "{}",
        r.stdout
    );
}

#[test]
fn change_in_one_variant_sends_only_that_file() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    run(&hub, k.path(), &["--repo-id", "org/relu"]).ok();

    // A regular (inline) file.
    let new_init = b"from ._ops import ops\n\ndef relu(x):\n    return ops.relu(x).clone()\n";
    k.write(&format!("build/{CPU}/__init__.py"), new_init);
    let (bytes, commits) = (hub.file_bytes(), hub.commits_applied());
    let s = run(&hub, k.path(), &["--repo-id", "org/relu", "--json"])
        .ok()
        .json();
    assert_eq!(hub.file_bytes() - bytes, new_init.len() as u64);
    assert_eq!(hub.commits_applied() - commits, 1);
    assert_eq!(s["files-uploaded"], 1);
    assert_eq!(s["files-unchanged"], k.expected().len()); // all others plus README.md
    assert_eq!(s["commits"][0]["files-added"], 1);
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());

    // A large (LFS) file in the other variant.
    let so = binary("changed", 20 * 1024);
    k.write(&format!("build/{CUDA}/_relu_cuda_0123abc.abi3.so"), &so);
    let (bytes, commits) = (hub.file_bytes(), hub.commits_applied());
    hub.with(|s| s.log.clear());
    let s = run(&hub, k.path(), &["--repo-id", "org/relu", "--json"])
        .ok()
        .json();
    assert_eq!(hub.file_bytes() - bytes, so.len() as u64);
    assert_eq!(hub.commits_applied() - commits, 1);
    assert_eq!(hub.requests("PUT", "/upload/"), 1);
    assert_eq!(s["lfs-objects-uploaded"], 1);
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
}

#[test]
fn stale_files_are_deleted_only_under_the_uploaded_prefixes() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    let sibling = format!("build/{CPU}-extra/x.py");
    let seeded: Vec<(String, &[u8])> = vec![
        (format!("build/{CPU}/old_module.py"), b"stale"),
        (format!("build/{CUDA}/sub/old.bin"), b"stale too"),
        (
            "build/torch214-cxx11-cpu-x86_64-linux/__init__.py".into(),
            b"older variant",
        ),
        (
            sibling.clone(),
            b"a name that merely starts like an uploaded variant",
        ),
        ("benchmarks/old_benchmark.py".into(), b"stale benchmark"),
        ("docs/notes.md".into(), b"not ours"),
        ("build/loose-file.txt".into(), b"not in a variant"),
    ];
    hub.seed(REPO, "v1", &seeded);
    let s = run(&hub, k.path(), &["--repo-id", "org/relu", "--json"])
        .ok()
        .json();
    let files = hub.files(REPO, "v1");
    for gone in [
        format!("build/{CPU}/old_module.py"),
        format!("build/{CUDA}/sub/old.bin"),
        "benchmarks/old_benchmark.py".to_string(),
    ] {
        assert!(!files.contains_key(&gone), "{gone} should be deleted");
    }
    for kept in [
        "build/torch214-cxx11-cpu-x86_64-linux/__init__.py",
        sibling.as_str(),
        "docs/notes.md",
        "build/loose-file.txt",
        ".gitattributes",
    ] {
        assert!(files.contains_key(kept), "{kept} must survive");
    }
    for (p, v) in k.expected() {
        assert!(files[&p] == v, "{p}: different content");
    }
    assert_eq!(s["files-deleted"], 3);
    assert_eq!(
        s["untouched-remote-variants"],
        serde_json::json!([
            "build/torch214-cxx11-cpu-x86_64-linux",
            format!("build/{CPU}-extra")
        ])
    );
}

#[test]
fn benchmarks_are_left_alone_when_there_are_none_locally() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    std::fs::remove_dir_all(k.path().join("benchmarks")).unwrap();
    hub.seed(REPO, "v1", &[("benchmarks/keep.py", b"x")]);
    run(&hub, k.path(), &["--repo-id", "org/relu"]).ok();
    assert!(hub.files(REPO, "v1").contains_key("benchmarks/keep.py"));
}

#[test]
fn repository_and_branch_from_build_toml() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    k.write(
        "build.toml",
        b"[general]\nname = \"relu\"\nversion = 1\nedition = 5\nlicense = \"Apache-2.0\"\nbackends = [\"cpu\"]\n\n[general.hub]\nrepo-id = \"org/from-toml\"\n\n[torch-noarch]\n",
    );
    k.write("torch-ext/relu/__init__.py", b"");
    let s = run(&hub, k.path(), &["--json"]).ok().json();
    assert_eq!(s["repo-id"], "org/from-toml");
    assert_files(
        &content(hub.files("kernels/org/from-toml", "v1")),
        &k.expected(),
    );

    // `[general.hub] branch` wins over the metadata version; the flag wins over both.
    let toml = std::fs::read_to_string(k.path().join("build.toml")).unwrap();
    k.write(
        "build.toml",
        toml.replace("[general.hub]\n", "[general.hub]\nbranch = \"staging\"\n")
            .as_bytes(),
    );
    run(&hub, k.path(), &[]).ok();
    // A new branch starts from `main`, so it also carries main's README.md.
    assert_files(
        &published(hub.files("kernels/org/from-toml", "staging")),
        &k.expected(),
    );
    run(
        &hub,
        k.path(),
        &["--branch", "other", "--repo-id", "org/flag"],
    )
    .ok();
    assert_files(
        &published(hub.files("kernels/org/flag", "other")),
        &k.expected(),
    );

    // Builds older than build.toml's version are stale.
    k.write(
        "build.toml",
        toml.replace("version = 1", "version = 2").as_bytes(),
    );
    let r = run(&hub, k.path(), &[]);
    assert!(
        r.failed().stderr.contains("build.toml says version 2"),
        "{}",
        r.stderr
    );
}

#[test]
fn no_repository_id_is_a_clear_error() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    let r = run(&hub, k.path(), &[]);
    assert!(r.failed().stderr.contains("--repo-id"), "{}", r.stderr);
    assert!(hub.log().is_empty());
    let r = run(&hub, k.path(), &["--repo-id", "not a repo"]);
    assert!(r.failed().stderr.contains("owner/name"), "{}", r.stderr);
}

#[test]
fn legacy_model_repositories() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    run(
        &hub,
        k.path(),
        &["--repo-id", "org/relu", "--repo-type", "model"],
    )
    .ok();
    assert!(hub.repo("models/org/relu").is_some());
    assert!(hub.repo(REPO).is_none());
    assert_files(&content(hub.files("models/org/relu", "v1")), &k.expected());
    assert!(hub.requests("POST", "/org/relu.git/info/lfs/objects/batch") > 0);
    assert_eq!(hub.requests("POST", "/kernels/org/relu.git/"), 0);
}

#[test]
fn create_pr_leaves_the_branch_alone() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA], 1);
    run(&hub, k.path(), &["--repo-id", "org/relu"]).ok();
    let before = hub.files(REPO, "v1");
    k.write(&format!("build/{CUDA}/_ops.py"), b"# changed\n");
    let r = run(&hub, k.path(), &["--repo-id", "org/relu", "--create-pr"]);
    assert!(r.ok().stdout.contains("/discussions/1"), "{}", r.stdout);
    assert_eq!(
        hub.files(REPO, "v1"),
        before,
        "the branch itself is unchanged"
    );
    assert_files(&content(hub.files(REPO, "refs/pr/1")), &k.expected());
}

#[test]
fn large_uploads_are_split_into_batches_that_keep_variants_whole() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU, CUDA, "torch215-cxx11-cu130-x86_64-linux"], 1);
    let r = run_env(
        &hub,
        k.path(),
        &["--repo-id", "org/relu", "--json"],
        &[("HF_TOKEN", TOKEN), ("KERNEL_BUILDER_HUB_BATCH_FILES", "4")],
    );
    let s = r.ok().json();
    let commits = s["commits"].as_array().unwrap();
    // benchmarks (1 file) + three variants (4 files each) on v1, README on main.
    let v1: Vec<_> = commits.iter().filter(|c| c["branch"] == "v1").collect();
    assert_eq!(v1.len(), 4, "{s}");
    for c in &v1 {
        assert_eq!(c["batches"], 4);
    }
    assert_eq!(hub.commits_applied(), 5);
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
}

#[test]
fn multipart_transfers_and_content_already_in_storage() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    let big = binary("big", 100 * 1024);
    k.write(&format!("build/{CPU}/_relu_cpu_0123abc.abi3.so"), &big);
    run(&hub, k.path(), &["--repo-id", "org/relu"]).ok();
    assert_eq!(hub.requests("PUT", "/part/"), 7); // 100 KiB in 16 KiB parts
    assert_eq!(hub.requests("POST", "/lfs-complete/"), 1);
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
    for l in hub.log().iter().filter(|l| l.target.contains("/part/")) {
        assert_eq!(l.authorization, None);
    }

    // The same build to another repository: the storage has the object, so only inline files travel.
    let bytes = hub.file_bytes();
    let s = run(&hub, k.path(), &["--repo-id", "org/relu-copy", "--json"])
        .ok()
        .json();
    let inline: u64 = k
        .expected()
        .iter()
        .filter(|(p, _)| !p.ends_with(".so"))
        .map(|(_, v)| v.len() as u64)
        .sum::<u64>()
        + k.card().len() as u64;
    assert_eq!(hub.file_bytes() - bytes, inline);
    assert_eq!(s["lfs-objects-already-stored"], 1);
    assert_eq!(s["lfs-objects-uploaded"], 0);
    assert_files(
        &content(hub.files("kernels/org/relu-copy", "v1")),
        &k.expected(),
    );
}

#[test]
fn quiet_mode_and_token_from_the_login_file() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("token"), format!("{TOKEN}\n")).unwrap();
    let r = run_env(
        &hub,
        k.path(),
        &["--repo-id", "org/relu", "-q"],
        &[("HF_HOME", home.path().to_str().unwrap())],
    );
    r.ok();
    assert_eq!(r.stderr, "", "-q prints no progress");
    assert!(r.stdout.starts_with("Kernel uploaded:"), "{}", r.stdout);
    assert_files(&content(hub.files(REPO, "v1")), &k.expected());
}

#[test]
fn kernel_dir_may_be_the_build_directory_itself() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    run(&hub, &k.path().join("build"), &["--repo-id", "org/relu"]).ok();
    let files = content(hub.files(REPO, "v1"));
    assert!(
        files
            .keys()
            .all(|p| p.starts_with(&format!("build/{CPU}/"))),
        "{:?}",
        files.keys()
    );
    assert_eq!(files.len(), 4);
}

/// `hash` and `upload` see the same files (the one walk): a hidden file and
/// a `.pyo` in a variant are hashed, so they are uploaded too. Before, the
/// upload skipped them and then refused the variant for not matching its
/// digest, which `hash` could not fix.
#[test]
fn hidden_and_pyo_files_are_hashed_and_uploaded_alike() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    k.write(&format!("build/{CPU}/sub/.keep"), b"");
    k.write(&format!("build/{CPU}/old.pyo"), b"pyo");
    let out = kb().arg("hash").arg(k.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let meta: serde_json::Value = serde_json::from_slice(
        &std::fs::read(k.path().join("build").join(CPU).join("metadata.json")).unwrap(),
    )
    .unwrap();
    assert!(meta["digest"]["files"]["sub/.keep"].is_string(), "{meta:#}");
    assert!(meta["digest"]["files"]["old.pyo"].is_string(), "{meta:#}");

    run(&hub, k.path(), &["--repo-id", "org/relu"]).ok();
    let files = hub.files(REPO, "v1");
    assert!(files.contains_key(&format!("build/{CPU}/sub/.keep")));
    assert_eq!(files[&format!("build/{CPU}/old.pyo")], b"pyo");
    assert_files(&content(files), &k.expected());
}

/// The upload never reads through a link that leaves the variant, and
/// refuses special files instead of blocking on them.
#[test]
fn links_out_of_a_variant_and_fifos_are_refused() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    k.write("outside.txt", b"secret");
    let v = k.path().join("build").join(CPU);
    std::os::unix::fs::symlink(k.path().join("outside.txt"), v.join("leak.txt")).unwrap();
    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    r.failed();
    assert!(
        r.stderr.contains("leak.txt") && r.stderr.contains("outside"),
        "{}",
        r.stderr
    );
    std::fs::remove_file(v.join("leak.txt")).unwrap();

    let fifo = std::ffi::CString::new(v.join("pipe").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let start = std::time::Instant::now();
    let r = run(&hub, k.path(), &["--repo-id", "org/relu"]);
    r.failed();
    assert!(r.stderr.contains("FIFO"), "{}", r.stderr);
    assert!(start.elapsed() < std::time::Duration::from_secs(30));
}
