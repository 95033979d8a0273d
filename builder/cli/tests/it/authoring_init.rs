//! `kernel-builder init`: names, the scaffold, all-or-nothing writes,
//! `--overwrite`, Git staging and the owner lookup (against a loopback Hub).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn kb(cwd: &Path, home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kernel-builder"));
    c.current_dir(cwd)
        .env("HOME", home)
        .env_remove("HF_TOKEN")
        .env_remove("HF_TOKEN_PATH")
        .env_remove("HF_HOME")
        .env_remove("HF_ENDPOINT")
        .env_remove("HF_HUB_OFFLINE")
        .env_remove("XDG_CACHE_HOME");
    c
}

struct Sandbox {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
}

fn sandbox() -> Sandbox {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("work");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    Sandbox {
        _tmp: tmp,
        root,
        home,
    }
}

fn run(s: &Sandbox, cwd: &Path, args: &[&str]) -> Output {
    kb(cwd, &s.home).args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    o
}

/// Every file under `dir`, relative, sorted (skipping `.git`).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(d: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.file_name().unwrap() == ".git" {
                continue;
            }
            if p.is_dir() {
                walk(&p, root, out);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut v = Vec::new();
    if dir.exists() {
        walk(dir, dir, &mut v);
    }
    v.sort();
    v
}

const CPU_SCAFFOLD: &[&str] = &[
    ".envrc",
    ".gitattributes",
    ".gitignore",
    "CARD.md",
    "benchmarks/benchmark.py",
    "build.toml",
    "example.py",
    "flake.nix",
    "kernel-plan.json",
    "my_relu_cpu/my_relu.cpp",
    "tests/__init__.py",
    "tests/conftest.py",
    "tests/test_my_relu.py",
    "torch-ext/my_relu/__init__.py",
    "torch-ext/torch_binding.cpp",
    "torch-ext/torch_binding.h",
];

#[test]
fn cpu_scaffold_passes_check_config_and_lists_variants() {
    let s = sandbox();
    let o = ok(run(
        &s,
        &s.root,
        &["init", "--name", "kb-test/my_relu", "--backends", "cpu"],
    ));
    assert!(String::from_utf8_lossy(&o.stdout).contains("kb-test/my-relu"));
    let dir = s.root.join("my-relu");
    assert_eq!(tree(&dir), CPU_SCAFFOLD);

    let toml = std::fs::read_to_string(dir.join("build.toml")).unwrap();
    assert!(toml.contains("edition = 5"));
    assert!(toml.contains("repo-id = \"kb-test/my-relu\""));
    assert!(toml.contains("backends = [\"cpu\"]"));
    let binding = std::fs::read_to_string(dir.join("torch-ext/torch_binding.cpp")).unwrap();
    for needle in [
        "TORCH_LIBRARY_EXPAND(TORCH_EXTENSION_NAME, ops)",
        "REGISTER_EXTENSION(TORCH_EXTENSION_NAME)",
        "#include \"registration.h\"",
        "#if defined(CPU_KERNEL)",
    ] {
        assert!(binding.contains(needle), "{needle}");
    }
    let kernel = std::fs::read_to_string(dir.join("my_relu_cpu/my_relu.cpp")).unwrap();
    assert!(!kernel.contains("torch/torch.h"));
    let tests = std::fs::read_to_string(dir.join("tests/test_my_relu.py")).unwrap();
    assert!(tests.contains("@pytest.mark.kernels_ci"));
    let bench = std::fs::read_to_string(dir.join("benchmarks/benchmark.py")).unwrap();
    assert!(bench.contains("class MyReluBenchmark(Benchmark)"));
    let flake = std::fs::read_to_string(dir.join("flake.nix")).unwrap();
    assert!(flake.contains("kernel-builder.lib.genKernelFlakeOutputs"));
    assert!(flake.contains("path = ./.;"));
    assert_eq!(
        std::fs::read_to_string(dir.join(".envrc"))
            .unwrap()
            .lines()
            .last(),
        Some("use flake")
    );

    let o = ok(run(&s, &dir, &["check-config"]));
    assert!(String::from_utf8_lossy(&o.stdout).contains("is valid"));
    // The plan file for the flake is current.
    let o = ok(run(&s, &dir, &["plan", "--write"]));
    assert!(stderr(&o).contains("is up to date"), "{}", stderr(&o));
    let o = ok(run(&s, &dir, &["list-variants"]));
    let variants = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(variants.lines().count() >= 2, "{variants}");
    assert!(variants.lines().all(|v| v.contains("-cpu-")), "{variants}");

    // Every scaffold file is staged in a new repository.
    let repo = git2::Repository::open(&dir).unwrap();
    let index = repo.index().unwrap();
    let mut staged: Vec<String> = index
        .iter()
        .map(|e| String::from_utf8(e.path).unwrap())
        .collect();
    staged.sort();
    assert_eq!(staged, CPU_SCAFFOLD);
}

#[test]
fn every_backend_scaffold_is_valid() {
    let s = sandbox();
    ok(run(
        &s,
        &s.root,
        &[
            "init",
            "all-in",
            "--name",
            "kb-test/all-in",
            "--backends",
            "all",
        ],
    ));
    let dir = s.root.join("all-in");
    for f in [
        "all_in_cpu/all_in.cpp",
        "all_in_cuda/all_in.cu",
        "all_in_rocm/all_in.hip",
        "all_in_metal/all_in.mm",
        "all_in_metal/all_in.metal",
        "all_in_xpu/all_in.cpp",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    ok(run(&s, &dir, &["check-config"]));
    let o = ok(run(&s, &dir, &["list-variants", "--json"]));
    let rows: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let backends: std::collections::BTreeSet<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["backend"].as_str().unwrap())
        .collect();
    assert_eq!(
        backends.into_iter().collect::<Vec<_>>(),
        ["cpu", "cuda", "metal", "rocm", "xpu"]
    );
    let binding = std::fs::read_to_string(dir.join("torch-ext/torch_binding.cpp")).unwrap();
    for m in [
        "CPU_KERNEL",
        "CUDA_KERNEL",
        "ROCM_KERNEL",
        "XPU_KERNEL",
        "METAL_KERNEL",
    ] {
        assert!(binding.contains(m), "{m}");
    }

    // Comma-separated and repeated values work too.
    ok(run(
        &s,
        &s.root,
        &[
            "init",
            "two",
            "--name",
            "kb-test/two",
            "--backends",
            "cuda,xpu",
        ],
    ));
    let toml = std::fs::read_to_string(s.root.join("two/build.toml")).unwrap();
    assert!(toml.contains("backends = [\"cuda\", \"xpu\"]"), "{toml}");
}

#[test]
fn invalid_names_and_arguments_are_rejected_without_writing() {
    let s = sandbox();
    for (args, needle) in [
        (vec!["--name", "relu"], "expected OWNER/REPO"),
        (vec!["--name", "org/Relu"], "not a valid kernel name"),
        (vec!["--name", "org/1relu"], "not a valid kernel name"),
        (vec!["--name", "org/relu-"], "not a valid kernel name"),
        (vec!["--name", "org/class"], "is a Python keyword"),
        (vec!["--name", "org/lambda"], "is a Python keyword"),
        (vec!["--name", "bad owner/relu"], "not a Hub repository id"),
        (
            vec!["--name", "org/relu", "--backends", "neuron"],
            "choose from all, cpu, cuda, metal, rocm, xpu",
        ),
        (
            vec!["--name", "org/relu", "--license", "MIT\"; x"],
            "--license",
        ),
    ] {
        let mut a = vec!["init", "target"];
        a.extend(args.iter());
        let o = run(&s, &s.root, &a);
        assert!(!o.status.success(), "{a:?} succeeded");
        assert!(stderr(&o).contains(needle), "{a:?}: {}", stderr(&o));
    }
    assert!(tree(&s.root).is_empty(), "{:?}", tree(&s.root));
    // A suggestion for a fixable name.
    let o = run(&s, &s.root, &["init", "--name", "org/My.Kernel"]);
    assert!(stderr(&o).contains("my-kernel"), "{}", stderr(&o));
}

#[test]
fn conflicts_abort_before_anything_is_written() {
    let s = sandbox();
    let dir = s.root.join("relu");
    std::fs::create_dir_all(dir.join("tests")).unwrap();
    std::fs::write(dir.join("build.toml"), "# mine\n").unwrap();
    std::fs::write(dir.join("tests/test_relu.py"), "# mine too\n").unwrap();
    std::fs::write(dir.join("NOTES.md"), "unrelated\n").unwrap();
    let o = run(
        &s,
        &s.root,
        &["init", "relu", "--name", "org/relu", "--backends", "cpu"],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("build.toml") && err.contains("tests/test_relu.py"),
        "{err}"
    );
    assert!(
        err.contains("--overwrite") && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(tree(&dir), ["NOTES.md", "build.toml", "tests/test_relu.py"]);
    assert!(!dir.join(".git").exists());
    assert_eq!(
        std::fs::read_to_string(dir.join("build.toml")).unwrap(),
        "# mine\n"
    );

    // A directory where a scaffold file goes is never replaced.
    let dir2 = s.root.join("gelu");
    std::fs::create_dir_all(dir2.join("example.py")).unwrap();
    let o = run(
        &s,
        &s.root,
        &[
            "init",
            "gelu",
            "--name",
            "org/gelu",
            "--backends",
            "cpu",
            "--overwrite",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("example.py (a directory)"),
        "{}",
        stderr(&o)
    );
    assert!(tree(&dir2).is_empty());
    assert!(!dir2.join("build.toml").exists());

    // A file where a scaffold directory goes.
    let dir3 = s.root.join("silu");
    std::fs::create_dir_all(&dir3).unwrap();
    std::fs::write(dir3.join("tests"), "").unwrap();
    let o = run(
        &s,
        &s.root,
        &["init", "silu", "--name", "org/silu", "--backends", "cpu"],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("tests (a file where a directory is needed)"),
        "{}",
        stderr(&o)
    );
    assert_eq!(tree(&dir3), ["tests"]);
}

#[test]
fn overwrite_replaces_scaffold_files_and_keeps_user_files() {
    let s = sandbox();
    ok(run(
        &s,
        &s.root,
        &["init", "relu", "--name", "org/relu", "--backends", "cpu"],
    ));
    let dir = s.root.join("relu");
    let pristine = std::fs::read(dir.join("tests/test_relu.py")).unwrap();

    // Re-running over an untouched scaffold is a no-op, not a conflict.
    let o = ok(run(
        &s,
        &s.root,
        &["init", "relu", "--name", "org/relu", "--backends", "cpu"],
    ));
    assert!(
        stderr(&o).contains("0 created, 0 overwritten, 16 unchanged"),
        "{}",
        stderr(&o)
    );

    std::fs::write(dir.join("tests/test_relu.py"), "# edited\n").unwrap();
    std::fs::write(dir.join("relu_cpu/extra.cpp"), "// user code\n").unwrap();
    std::fs::write(dir.join("NOTES.md"), "keep me\n").unwrap();
    let o = run(
        &s,
        &s.root,
        &["init", "relu", "--name", "org/relu", "--backends", "cpu"],
    );
    assert!(!o.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.join("tests/test_relu.py")).unwrap(),
        "# edited\n"
    );

    let o = ok(run(
        &s,
        &s.root,
        &[
            "init",
            "relu",
            "--name",
            "org/relu",
            "--backends",
            "cpu",
            "--overwrite",
        ],
    ));
    assert!(
        stderr(&o).contains("0 created, 1 overwritten, 15 unchanged"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(dir.join("tests/test_relu.py")).unwrap(),
        pristine
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("relu_cpu/extra.cpp")).unwrap(),
        "// user code\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("NOTES.md")).unwrap(),
        "keep me\n"
    );

    // Adding a backend with --overwrite rewrites build.toml and adds files.
    ok(run(
        &s,
        &s.root,
        &[
            "init",
            "relu",
            "--name",
            "org/relu",
            "--backends",
            "cpu",
            "cuda",
            "--overwrite",
        ],
    ));
    assert!(dir.join("relu_cuda/relu.cu").is_file());
    ok(run(&s, &dir, &["check-config"]));
}

#[test]
fn name_defaults_to_directory_in_place() {
    let s = sandbox();
    let dir = s.root.join("flash-mla");
    std::fs::create_dir_all(&dir).unwrap();
    // `--name` matching the current directory initializes in place.
    ok(run(
        &s,
        &dir,
        &["init", "--name", "org/flash_mla", "--backends", "cpu"],
    ));
    assert!(dir.join("build.toml").is_file());
    assert!(!dir.join("flash-mla").exists());
}

#[test]
fn without_name_or_login_says_which_flag_to_pass() {
    let s = sandbox();
    let dir = s.root.join("my-kernel");
    std::fs::create_dir_all(&dir).unwrap();
    let o = run(&s, &dir, &["init", "--backends", "cpu"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("--name <owner>/my-kernel"), "{err}");
    assert!(err.contains("not logged in"), "{err}");
    assert!(tree(&dir).is_empty());

    // Offline mode does not ask the Hub even with a token.
    let o = kb(&dir, &s.home)
        .args(["init", "--backends", "cpu"])
        .env("HF_TOKEN", "hf_unused")
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("HF_HUB_OFFLINE"), "{}", stderr(&o));
}

/// A one-shot HTTP server answering `whoami-v2` on loopback; returns the
/// port and a handle yielding the request head it received.
fn mock_hub(status: &'static str, body: &'static str) -> (u16, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let resp = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(resp.as_bytes()).unwrap();
        let _ = stream.flush();
        let mut rest = Vec::new();
        let _ = reader.read_to_end(&mut rest);
        head
    });
    (port, handle)
}

#[test]
fn owner_comes_from_the_hub_login() {
    let s = sandbox();
    let dir = s.root.join("fused_norm");
    std::fs::create_dir_all(&dir).unwrap();
    let token_dir = s.home.join(".cache/huggingface");
    std::fs::create_dir_all(&token_dir).unwrap();
    std::fs::write(token_dir.join("token"), "hf_testtoken123\n").unwrap();
    let (port, server) = mock_hub("200 OK", r#"{"type":"user","name":"alice"}"#);
    let o = ok(kb(&dir, &s.home)
        .args(["init", "--backends", "cpu"])
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap());
    let head = server.join().unwrap();
    assert!(head.starts_with("GET /api/whoami-v2 "), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer hf_testtoken123"),
        "{head}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("alice/fused-norm"));
    let toml = std::fs::read_to_string(dir.join("build.toml")).unwrap();
    assert!(toml.contains("repo-id = \"alice/fused-norm\""));
    assert!(toml.contains("name = \"fused-norm\""));

    // A rejected token explains itself and still names the flag.
    let dir2 = s.root.join("other");
    std::fs::create_dir_all(&dir2).unwrap();
    let (port, server) = mock_hub("401 Unauthorized", r#"{"error":"Invalid credentials"}"#);
    let o = kb(&dir2, &s.home)
        .args(["init", "--backends", "cpu"])
        .env("HF_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    server.join().unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("rejected the token") && err.contains("--name <owner>/other"),
        "{err}"
    );
    assert!(!err.contains("hf_testtoken123"), "token leaked: {err}");
}

#[test]
fn stages_in_an_enclosing_repository() {
    let s = sandbox();
    git2::Repository::init(&s.root).unwrap();
    ok(run(
        &s,
        &s.root,
        &[
            "init",
            "kernels/relu",
            "--name",
            "org/relu",
            "--backends",
            "cpu",
        ],
    ));
    assert!(!s.root.join("kernels/relu/.git").exists());
    let repo = git2::Repository::open(&s.root).unwrap();
    let index = repo.index().unwrap();
    assert!(index
        .get_path(Path::new("kernels/relu/build.toml"), 0)
        .is_some());
    assert!(index
        .get_path(Path::new("kernels/relu/relu_cpu/relu.cpp"), 0)
        .is_some());
}

/// The example kernels' shared test fixture is the one `init` writes.
#[test]
fn example_conftests_come_from_the_init_template() {
    let repo = kb_author::init::parse_name("org/relu").unwrap();
    let files =
        kb_author::init::render(&repo, &[kb_core::config::Backend::Cpu], "Apache-2.0").unwrap();
    let rendered = String::from_utf8(files["tests/conftest.py"].clone()).unwrap();
    let mut checked = 0;
    for e in std::fs::read_dir(crate::support::repo().join("examples")).unwrap() {
        let conftest = e.unwrap().path().join("tests/conftest.py");
        if conftest.is_file() {
            assert_eq!(
                std::fs::read_to_string(&conftest).unwrap(),
                rendered,
                "{} differs from templates/init/tests/conftest.py.j2",
                conftest.display()
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "only {checked} example conftest.py files found"
    );
}

/// A symbolic link inside the target is not written through (it could lead
/// out of the target).
#[test]
fn init_does_not_write_through_symlinked_directories() {
    let s = sandbox();
    let target = s.root.join("k");
    let outside = s.root.join("outside");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("tests")).unwrap();
    let o = run(&s, &s.root, &["init", "k", "--name", "org/relu"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("is a symbolic link"), "{}", stderr(&o));
    assert!(tree(&outside).is_empty(), "{:?}", tree(&outside));
    assert_eq!(
        std::fs::read_dir(&target).unwrap().count(),
        1,
        "only the link"
    );
}
