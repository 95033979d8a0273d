//! What the test modules share: running the binary, the repository and its
//! fixtures, the Python the heavy tests use ([`python`]), host tools made
//! runnable in the Nix sandbox ([`nix_tools`]), and for the Hub
//! upload tests small fake kernel builds and a runner for `kernel-builder
//! upload` pointed at a [`FakeHub`] on 127.0.0.1.

#![allow(dead_code)]

pub mod fake_hub;
pub mod gen_oracle;
pub mod nix_tools;
pub mod python;

use std::process::Output;

/// The `kernel-builder` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_kernel-builder");

/// A command running the binary under test.
pub fn kb() -> Command {
    Command::new(BIN)
}

/// A command running the binary under test in `cwd`.
pub fn kb_in(cwd: &Path) -> Command {
    let mut c = kb();
    c.current_dir(cwd);
    c
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// A kernel under `builder/cli/tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Assert that a command succeeded, showing its output when it did not.
pub fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

#[allow(unused_imports)]
pub use fake_hub::{FakeHub, Fault};
use serde_json::{json, Value};

/// The token the tests use; it must never show up in any output.
pub const TOKEN: &str = "hf_TestSecretToken0123456789abcdefXYZ";

pub const CPU: &str = "torch215-cxx11-cpu-x86_64-linux";
pub const CUDA: &str = "torch215-cxx11-cu132-x86_64-linux";

/// Deterministic bytes that look like a binary.
pub fn binary(seed: &str, len: usize) -> Vec<u8> {
    let mut x: u64 = 0xcbf29ce484222325;
    for b in seed.bytes() {
        x = (x ^ b as u64).wrapping_mul(0x100000001b3);
    }
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(b"\x7fELF\x02\x01\x01\0");
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push((x & 0xff) as u8);
    }
    out.truncate(len);
    out
}

pub fn metadata(variant: &str, version: u64) -> Value {
    let backend = if variant.contains("-cu") {
        "cuda"
    } else {
        "cpu"
    };
    json!({
        "name": "relu",
        "id": format!("_relu_{backend}_0123abc"),
        "version": version,
        "license": "Apache-2.0",
        "python-depends": [],
        "kernel-depends": [],
        "backend": {"type": backend},
        "provenance": {
            "kernel-builder": {"version": "0.1.0", "commit": "a".repeat(40), "dirty": false},
            "kernel": {"commit": "b".repeat(40), "dirty": false}
        },
        "build-info": {"kind": "nix", "compliant": true, "toolchain": {}, "abi-findings": []}
    })
}

/// A kernel directory with `build/<variant>/…`, `benchmarks/` and `build/CARD.md`.
pub struct Kernel {
    pub dir: tempfile::TempDir,
}

impl Kernel {
    pub fn new(variants: &[&str], version: u64) -> Kernel {
        let k = Kernel {
            dir: tempfile::tempdir().unwrap(),
        };
        for v in variants {
            k.add_variant(v, version);
        }
        k.write("benchmarks/benchmark.py", b"print('bench')\n");
        k.write("build/CARD.md", b"# relu\n\nA ReLU kernel.\n");
        k
    }

    pub fn add_variant(&self, v: &str, version: u64) {
        let backend = if v.contains("-cu") { "cuda" } else { "cpu" };
        self.write(
            &format!("build/{v}/__init__.py"),
            b"from ._ops import ops\n\ndef relu(x):\n    return ops.relu(x)\n",
        );
        self.write(
            &format!("build/{v}/_ops.py"),
            format!("import torch\nops = torch.ops._relu_{backend}_0123abc\n").as_bytes(),
        );
        self.write(
            &format!("build/{v}/_relu_{backend}_0123abc.abi3.so"),
            &binary(v, 12 * 1024),
        );
        self.set_meta(v, |m| *m = metadata(v, version));
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    pub fn set_meta(&self, variant: &str, f: impl FnOnce(&mut Value)) {
        let p = self
            .dir
            .path()
            .join("build")
            .join(variant)
            .join("metadata.json");
        let mut v: Value = std::fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(json!({}));
        f(&mut v);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    /// What the repository branch should hold: `build/…` and `benchmarks/…` (not the card).
    pub fn expected(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for top in ["build", "benchmarks"] {
            collect(&self.dir.path().join(top), top, &mut out);
        }
        out.remove("build/CARD.md");
        out
    }

    pub fn card(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("build/CARD.md")).unwrap()
    }
}

fn collect(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let p = e.path();
        let rel = format!("{prefix}/{name}");
        if p.is_dir() {
            collect(&p, &rel, out);
        } else {
            out.insert(rel, std::fs::read(&p).unwrap());
        }
    }
}

/// Files of a branch without the repository's own `.gitattributes`.
pub fn content(files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files
        .into_iter()
        .filter(|(p, _)| p != ".gitattributes")
        .collect()
}

/// Compare two file maps by path, then by content, without dumping bytes on failure.
pub fn assert_files(actual: &BTreeMap<String, Vec<u8>>, expected: &BTreeMap<String, Vec<u8>>) {
    let a: Vec<&String> = actual.keys().collect();
    let e: Vec<&String> = expected.keys().collect();
    assert_eq!(a, e, "different files");
    for (p, v) in expected {
        assert!(actual[p] == *v, "{p}: different content");
    }
}

/// Only the files under `build/` and `benchmarks/`.
pub fn published(files: BTreeMap<String, Vec<u8>>) -> BTreeMap<String, Vec<u8>> {
    files
        .into_iter()
        .filter(|(p, _)| p.starts_with("build/") || p.starts_with("benchmarks/"))
        .collect()
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "upload failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn failed(&self) -> &Self {
        assert_ne!(
            self.code, 0,
            "upload should fail:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// `kernel-builder upload <dir> <args>` against `hub`, with a clean environment.
pub fn run(hub: &FakeHub, dir: &Path, args: &[&str]) -> Run {
    run_env(hub, dir, args, &[("HF_TOKEN", TOKEN)])
}

pub fn run_env(hub: &FakeHub, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kernel-builder"));
    cmd.arg("upload")
        .arg(dir)
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .env("HF_HOME", home.path().join("hf"))
        .env("HF_ENDPOINT", &hub.url)
        .env("KERNEL_BUILDER_HUB_BACKOFF", "0.001")
        .env("KERNEL_BUILDER_HUB_TIMEOUT", "2");
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for (name, text) in [("stdout", &r.stdout), ("stderr", &r.stderr)] {
        assert!(
            !text.contains(TOKEN) && !text.contains("TestSecretToken"),
            "the token leaked on {name}:\n{text}"
        );
    }
    r
}

pub fn kernel_dir(k: &Kernel) -> PathBuf {
    k.path().to_path_buf()
}

/// Run a command, failing the test if it has not finished within `secs`
/// (a hang on a special file must fail, not block the suite).
pub fn output_within(cmd: &mut Command, secs: u64) -> Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > std::time::Duration::from_secs(secs) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {secs}s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Make a FIFO at `path`.
pub fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}
