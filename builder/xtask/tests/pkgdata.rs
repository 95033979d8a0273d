//! The committed package data of the Nix layer (`pkgs/*/wheels*.json`):
//! its shape and its agreement with the matrix (offline), and a sample of its
//! URLs and hashes re-checked against the Python package index when that is
//! reachable (`sample_agrees_with_the_index`, which says SKIPPED with the
//! reason when it is not; ignored in the fast suite, `ci/nix.sh` runs it).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use kb_core::matrix::{Matrix, MatrixFramework};
use serde_json::Value;
use xtask::pkgmeta::{open_with, wheels};

const INDEX: &str = "https://pypi.org/simple";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(rel: &str) -> Value {
    let p = repo().join(rel);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn check_entry(file: &str, w: &Value) {
    let sha = w["sha256"].as_str().unwrap();
    assert!(
        sha.len() == 64
            && sha
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()),
        "{file}: {w}"
    );
    let url = w["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://files.pythonhosted.org/"),
        "{file}: {url}"
    );
    let f = w["filename"].as_str().unwrap();
    assert!(url.ends_with(&format!("/{f}")), "{file}: {url} vs {f}");
    assert!(wheels::parse_wheel_filename(f).is_some(), "{file}: {f}");
}

#[test]
fn torch_data_covers_only_matrix_cells_and_lists_the_rest() {
    let m = Matrix::get();
    let data = load("pkgs/torch/wheels.json");
    assert_eq!(data["index"], INDEX);
    assert_eq!(data["python"], "cp313");
    let mut cells = BTreeSet::new();
    for e in m
        .entries
        .iter()
        .filter(|e| e.framework == MatrixFramework::Torch)
    {
        for s in &e.systems {
            cells.insert((
                e.version.to_string(),
                e.backend.as_str().to_string(),
                e.toolkit.as_ref().map(|t| t.to_string()),
                s.clone(),
            ));
        }
    }
    let mut covered = BTreeSet::new();
    for w in data["wheels"].as_array().unwrap() {
        check_entry("pkgs/torch/wheels.json", w);
        let cell = (
            w["torch"].as_str().unwrap().to_string(),
            w["backend"].as_str().unwrap().to_string(),
            w["toolkit"].as_str().map(str::to_string),
            w["system"].as_str().unwrap().to_string(),
        );
        assert!(cells.contains(&cell), "not a matrix cell: {cell:?}");
        let release = &m.torch[&w["torch"].as_str().unwrap().parse().unwrap()].release;
        assert_eq!(w["version"], release.as_str(), "{w}");
        assert!(covered.insert(cell.clone()), "twice: {cell:?}");
    }
    // Every torch version of the matrix has index wheels for every system.
    for t in m.torch.keys() {
        for s in &m.systems {
            assert!(
                covered.iter().any(|c| c.0 == t.to_string() && &c.3 == s),
                "no torch {t} wheel for {s}"
            );
        }
    }
    // The cells the index does not serve are listed, none twice, none missing.
    let elsewhere = data["not-on-this-index"].as_array().unwrap();
    assert_eq!(elsewhere.len() + covered.len(), cells.len());
}

#[test]
fn python_data_has_the_layers_wheels_for_every_system() {
    let data = load("pkgs/python/wheels.json");
    assert_eq!(data["index"], INDEX);
    let all: Vec<&Value> = data["wheels"].as_array().unwrap().iter().collect();
    for w in &all {
        check_entry("pkgs/python/wheels.json", w);
        assert!(w["requires"].is_array(), "{w}");
    }
    let names: BTreeSet<&str> = all.iter().map(|w| w["name"].as_str().unwrap()).collect();
    // Every recorded requirement is either recorded itself or left to nixpkgs;
    // pinned ones were followed (nvidia-cutlass-dsl's native libraries).
    assert!(names.contains("nvidia-cutlass-dsl-libs-base"), "{names:?}");
    for pkg in ["kernels", "apache-tvm-ffi"] {
        for s in &Matrix::get().systems {
            assert!(
                all.iter()
                    .any(|w| w["name"] == pkg
                        && (w["system"].is_null() || w["system"] == s.as_str())),
                "{pkg} has no wheel for {s}"
            );
        }
    }
    // Each python-depends name the Nix layer maps resolves to recorded wheels.
    let map = load("pkgs/python/python-depends.json");
    for (dep, v) in map["depends"].as_object().unwrap() {
        for p in v["python"].as_array().unwrap() {
            let p = p.as_str().unwrap();
            assert!(
                names.contains(p) || v["unavailable"].is_string(),
                "{dep}: {p} is not in pkgs/python/wheels.json"
            );
        }
    }
}

/// Fetch a PEP 691 page with the tool's own HTTP client; `Err` with the
/// reason when the index cannot be reached.
fn page(project: &str) -> Result<Vec<wheels::Link>, String> {
    let url = format!("{INDEX}/{project}/");
    let o = open_with(&url, &[("Accept", "application/vnd.pypi.simple.v1+json")])
        .map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    o.body
        .take(64 << 20)
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    wheels::parse_simple_json(&body, &url).map_err(|e| e.to_string())
}

#[test]
#[ignore = "needs the Python package index (ci/nix.sh runs it)"]
fn sample_agrees_with_the_index() {
    // Reachability first: a failure here is a skip with its reason.
    let einops = match page("einops") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("SKIPPED: the Python package index is not reachable from here ({e}); the committed hashes were not re-checked");
            return;
        }
    };
    assert!(!einops.is_empty());
    let torch = load("pkgs/torch/wheels.json");
    let python = load("pkgs/python/wheels.json");
    // Sample: every torch wheel, and kernels / apache-tvm-ffi for each system.
    let mut sample: Vec<&Value> = torch["wheels"].as_array().unwrap().iter().collect();
    sample.extend(
        python["wheels"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["name"] == "kernels" || w["name"] == "apache-tvm-ffi"),
    );
    let mut pages = std::collections::BTreeMap::new();
    let mut checked = 0;
    for w in &sample {
        let name = w["name"].as_str().unwrap();
        if !pages.contains_key(name) {
            pages.insert(name.to_string(), page(name).unwrap());
        }
        let f = w["filename"].as_str().unwrap();
        let link = pages[name]
            .iter()
            .find(|l| l.filename == f)
            .unwrap_or_else(|| panic!("{f} is no longer on the index"));
        assert_eq!(link.url, w["url"].as_str().unwrap(), "{f}");
        assert_eq!(link.sha256.as_deref(), w["sha256"].as_str(), "{f}");
        assert!(!link.yanked, "{f} was yanked");
        checked += 1;
    }
    // The compute backend recorded for one CUDA wheel is what it was built with.
    let cuda = sample
        .iter()
        .find(|w| w["backend"] == "cuda")
        .expect("a CUDA torch wheel");
    let (_, text) =
        wheels::wheel_member(cuda["url"].as_str().unwrap(), &|n| n == "torch/version.py").unwrap();
    let build = wheels::parse_torch_version_py(&text);
    assert_eq!(build.cuda.as_deref(), cuda["toolkit"].as_str(), "{text}");
    eprintln!(
        "{checked} committed wheels agree with {INDEX}; {} is CUDA {}",
        cuda["filename"],
        build.cuda.unwrap()
    );
}
