//! `hash`: digests written into metadata.json, `hash --check`, and agreement
//! with the real loader (`kernels._rust.Digest.hash_variant`) byte for byte.

use crate::support::python as test_python;

use std::path::{Path, PathBuf};
use std::process::Command;

use kb_checks::hash::{check_digest, hash_variant, write_digest, Algorithm, Mismatch};

use crate::support::kb;

const VARIANT: &str = "torch215-cxx11-cpu-x86_64-linux";

/// A variant with the awkward cases: nested files, a nested metadata.json,
/// bytecode, hidden files, an empty file, a link to a file, a link to a
/// directory, a directory named like bytecode, non-ASCII names.
fn make_variant(root: &Path) -> PathBuf {
    let v = root.join("build").join(VARIANT);
    std::fs::create_dir_all(v.join("sub/__pycache__")).unwrap();
    std::fs::create_dir_all(v.join("__pycache__")).unwrap();
    std::fs::create_dir_all(v.join("d.pyc")).unwrap();
    std::fs::create_dir_all(root.join("outside")).unwrap();
    std::fs::write(v.join("__init__.py"), "from ._ops import ops\n").unwrap();
    std::fs::write(
        v.join("metadata.json"),
        r#"{"name": "relu", "id": "_relu_cpu_abc1234", "version": 1, "license": "Apache-2.0", "python-depends": [], "backend": {"type": "cpu"}}"#,
    )
    .unwrap();
    std::fs::write(v.join("sub/layers.py"), "x = 1\n").unwrap();
    std::fs::write(v.join("sub/metadata.json"), "{}").unwrap();
    // The loader leaves the top-level signature out of the digest too.
    std::fs::write(v.join("metadata.json.sigstore"), "sig").unwrap();
    std::fs::write(v.join("sub/metadata.json.sigstore"), "sig").unwrap();
    std::fs::write(v.join("sub/__pycache__/layers.cpython-311.pyc"), b"\0\0").unwrap();
    std::fs::write(v.join("__pycache__/x.pyc"), b"\0").unwrap();
    std::fs::write(v.join("stray.pyc"), b"\0").unwrap();
    std::fs::write(v.join("kept.pyo"), b"pyo").unwrap();
    std::fs::write(v.join("d.pyc/inner.txt"), b"inner").unwrap();
    std::fs::write(v.join(".hidden"), b"h").unwrap();
    std::fs::write(v.join("empty"), b"").unwrap();
    std::fs::write(v.join("ünïcödé.txt"), "u").unwrap();
    std::fs::write(v.join("sp ace.txt"), "s").unwrap();
    std::fs::write(v.join("_relu_cpu_abc1234.abi3.so"), vec![0x7fu8; 100_000]).unwrap();
    std::fs::write(root.join("outside/o.txt"), "o").unwrap();
    std::os::unix::fs::symlink("__init__.py", v.join("link.py")).unwrap();
    // Not descended into (the loader's rule); a link to a directory outside
    // the variant is refused instead (see `digest_rules`).
    std::os::unix::fs::symlink("sub", v.join("linkdir")).unwrap();
    v
}

#[test]
fn digest_rules() {
    let tmp = tempfile::tempdir().unwrap();
    let v = make_variant(tmp.path());
    let files = hash_variant(&v, Algorithm::Sha256).unwrap();
    let keys: Vec<&str> = files.keys().map(|s| s.as_str()).collect();
    assert_eq!(
        keys,
        vec![
            ".hidden",
            "__init__.py",
            "_relu_cpu_abc1234.abi3.so",
            "d.pyc/inner.txt",
            "empty",
            "kept.pyo",
            "link.py",
            "sp ace.txt",
            "sub/layers.py",
            "sub/metadata.json",
            "sub/metadata.json.sigstore",
            "ünïcödé.txt",
        ]
    );
    // sha256("") in standard base64 with padding.
    assert_eq!(
        files["empty"],
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    );
    assert_eq!(files["link.py"], files["__init__.py"]);

    // A link to a directory outside the variant is refused, not skipped.
    std::os::unix::fs::symlink(tmp.path().join("outside"), v.join("linkout")).unwrap();
    let e = hash_variant(&v, Algorithm::Sha256).unwrap_err().to_string();
    assert!(
        e.contains("linkout") && e.contains("outside the directory"),
        "{e}"
    );
}

#[test]
fn write_then_check_then_tamper() {
    let tmp = tempfile::tempdir().unwrap();
    let v = make_variant(tmp.path());
    let out = kb().arg("hash").arg(tmp.path()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(v.join("metadata.json")).unwrap()).unwrap();
    assert_eq!(meta["digest"]["algorithm"], "sha256");
    // Key order: the original keys in place, digest appended; files sorted.
    let keys: Vec<&String> = meta.as_object().unwrap().keys().collect();
    assert_eq!(keys.last().unwrap().as_str(), "digest");
    assert_eq!(keys[0].as_str(), "name");
    let first = std::fs::read(v.join("metadata.json")).unwrap();
    // Deterministic: hashing again gives the same bytes.
    assert!(kb().arg("hash").arg(tmp.path()).status().unwrap().success());
    assert_eq!(std::fs::read(v.join("metadata.json")).unwrap(), first);

    let out = kb()
        .args(["hash", "--check"])
        .arg(tmp.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(check_digest(&v).unwrap().is_empty());

    // Bytecode appearing later does not matter.
    std::fs::write(v.join("sub/__pycache__/new.pyc"), b"x").unwrap();
    assert!(check_digest(&v).unwrap().is_empty());

    std::fs::write(v.join("sub/layers.py"), "x = 2\n").unwrap();
    std::fs::remove_file(v.join("empty")).unwrap();
    std::fs::write(v.join("new.txt"), "n").unwrap();
    let m = check_digest(&v).unwrap();
    assert_eq!(m.len(), 3, "{m:?}");
    assert!(m.contains(&Mismatch::MissingFile {
        file: "empty".into()
    }));
    assert!(m.contains(&Mismatch::UnknownFile {
        file: "new.txt".into()
    }));
    assert!(m
        .iter()
        .any(|x| matches!(x, Mismatch::HashMismatch { file, .. } if file == "sub/layers.py")));
    let out = kb().args(["hash", "--check"]).arg(&v).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("`sub/layers.py` has changed"), "{text}");
    assert!(text.contains("`empty` is recorded but missing"), "{text}");
    assert!(
        text.contains("`new.txt` is present but not recorded"),
        "{text}"
    );
    let out = kb()
        .args(["hash", "--check", "--json"])
        .arg(&v)
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["variants"][0]["mismatches"].as_array().unwrap().len(), 3);
}

#[test]
fn check_without_digest_fails_with_a_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let v = make_variant(tmp.path());
    let err = check_digest(&v).unwrap_err();
    assert!(err.message.contains("kernel-builder hash"), "{err}");
    let out = kb().args(["hash", "--check"]).arg(&v).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn dangling_link_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let v = make_variant(tmp.path());
    std::os::unix::fs::symlink("nowhere", v.join("dangling")).unwrap();
    let err = hash_variant(&v, Algorithm::Sha256).unwrap_err();
    assert!(err.to_string().contains("dangling"), "{err}");
    assert!(write_digest(&v).is_err());
}

fn loader_python() -> Option<PathBuf> {
    test_python::with_imports("kernels._rust")
}

/// The loader's own digest, as JSON {algorithm, files}.
fn loader_digest(python: &Path, variant: &Path, alg: &str) -> serde_json::Value {
    let out = Command::new(python)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args([
            "-c",
            "import json, sys\nfrom kernels._rust import Digest, DigestAlgorithm\nd = Digest.hash_variant(getattr(DigestAlgorithm, sys.argv[2]), sys.argv[1])\nprint(json.dumps({'algorithm': str(d.algorithm), 'files': d.files}))",
        ])
        .arg(variant)
        .arg(alg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs torch"]
fn agrees_with_the_real_loader() {
    let Some(py) = loader_python() else {
        panic!("prerequisite missing: no Python with `kernels` (set KB_VENV)");
    };
    let tmp = tempfile::tempdir().unwrap();
    let v = make_variant(tmp.path());
    for (alg, ours) in [("SHA256", Algorithm::Sha256), ("SHA512", Algorithm::Sha512)] {
        let theirs = loader_digest(&py, &v, alg);
        assert_eq!(theirs["algorithm"], ours.as_str());
        let mine = hash_variant(&v, ours).unwrap();
        let theirs_files: std::collections::BTreeMap<String, String> =
            serde_json::from_value(theirs["files"].clone()).unwrap();
        assert_eq!(mine, theirs_files, "{alg}");
    }
    // And the loader accepts what we write: its validator finds no violation.
    write_digest(&v).unwrap();
    let out = Command::new(&py)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .args([
            "-c",
            "import sys\nfrom kernels._rust import Digest, DigestAlgorithm, Metadata\nm = Metadata.read_from_file(sys.argv[1] + '/metadata.json')\nm.digest.validate(Digest.hash_variant(DigestAlgorithm.SHA256, sys.argv[1]))\nprint('valid')",
        ])
        .arg(&v)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("valid"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
