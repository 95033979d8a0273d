//! Golden tests for the build plan of the example configurations in
//! `tests/fixtures/`. Regenerate with `UPDATE_GOLDEN=1 cargo test --test plan_golden`
//! and review the diff: these files are the contract with Nix and CMake.

use std::path::{Path, PathBuf};

use kb_core::config::{load, parse_str};
use kb_core::matrix::{Matrix, MATRIX_TOML};
use kb_core::plan::{plan, Plan, Systems};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn plan_of(name: &str, systems: &Systems) -> Plan {
    let dir = fixtures().join(name);
    let loaded = load(Some(&dir)).unwrap_or_else(|e| panic!("{e}"));
    plan(
        &loaded.config,
        Matrix::get(),
        systems,
        &loaded.path,
        loaded.source.as_bytes(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn golden(name: &str) {
    let json = plan_of(name, &Systems::All).to_json();
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &json).unwrap();
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing {}: run with UPDATE_GOLDEN=1", path.display()));
    assert!(
        json == expected,
        "plan of {name} differs from {}; rerun with UPDATE_GOLDEN=1 and review the diff",
        path.display()
    );
}

#[test]
fn golden_all_backends() {
    golden("all-backends");
}
#[test]
fn golden_noarch() {
    golden("noarch");
}
#[test]
fn golden_stable_abi() {
    golden("stable-abi");
}
#[test]
fn golden_stable_abi_per_backend() {
    golden("stable-abi-per-backend");
}
#[test]
fn golden_tvm_ffi() {
    golden("tvm-ffi");
}
#[test]
fn golden_bounds() {
    golden("bounds");
}

fn names(p: &Plan) -> Vec<&str> {
    p.variants.iter().map(|v| v.name.as_str()).collect()
}

#[test]
fn all_backends_variant_names() {
    let p = plan_of("all-backends", &Systems::One("x86_64-linux".into()));
    let n = names(&p);
    for want in [
        "torch215-cxx11-cpu-x86_64-linux",
        "torch215-cxx11-cu132-x86_64-linux",
        "torch215-cxx11-rocm72-x86_64-linux",
        "torch215-cxx11-xpu20260-x86_64-linux",
        "torch214-cxx11-cu126-x86_64-linux",
    ] {
        assert!(n.contains(&want), "{want} missing from {n:?}");
    }
    assert!(n.iter().all(|v| v.ends_with("-x86_64-linux")));
    let darwin = plan_of("all-backends", &Systems::One("aarch64-darwin".into()));
    assert_eq!(
        names(&darwin),
        [
            "torch214-cpu-aarch64-darwin",
            "torch214-metal-aarch64-darwin",
            "torch215-cpu-aarch64-darwin",
            "torch215-metal-aarch64-darwin"
        ]
    );
    // ROCm: kernel archs intersected with the toolkit's.
    let rocm = p.variant("torch215-cxx11-rocm72-x86_64-linux").unwrap();
    assert_eq!(rocm.kernels.len(), 1);
    assert_eq!(rocm.kernels[0].rocm_archs, ["gfx90a", "gfx942"]);
    assert_eq!(rocm.archs, ["gfx90a", "gfx942"]);
    // CUDA without a capability list: toolkit defaults, also in metadata archs.
    let cu = p.variant("torch215-cxx11-cu132-x86_64-linux").unwrap();
    assert_eq!(cu.archs.last().unwrap(), "12.1+PTX");
    assert_eq!(cu.python_depends, ["einops", "nvidia-cutlass-dsl"]);
    let cpu = p.variant("torch215-cxx11-cpu-x86_64-linux").unwrap();
    assert_eq!(cpu.python_depends, ["einops"]);
    assert_eq!(cpu.kernels[0].cxx_flags, ["-O3", "-DFOO=\"bar\""]);
    let cu126 = p.variant("torch215-cxx11-cu126-x86_64-linux").unwrap();
    assert_eq!(cu126.archs.first().unwrap(), "7.0");
}

#[test]
fn bounds_are_applied() {
    let p = plan_of("bounds", &Systems::One("x86_64-linux".into()));
    assert_eq!(
        names(&p),
        [
            "torch215-cxx11-cpu-x86_64-linux",
            "torch215-cxx11-cu130-x86_64-linux",
            "torch215-cxx11-cu132-x86_64-linux"
        ]
    );
    let cu130 = p.variant("torch215-cxx11-cu130-x86_64-linux").unwrap();
    // kernel `b` has cuda-minver 13.2; `a` keeps 9.0a and 12.0 (7.0 is gone in CUDA 13).
    assert_eq!(
        cu130
            .kernels
            .iter()
            .map(|k| k.name.as_str())
            .collect::<Vec<_>>(),
        ["a"]
    );
    let caps: Vec<String> = cu130.kernels[0]
        .cuda_capabilities
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(caps, ["9.0a", "12.0"]);
    let cu132 = p.variant("torch215-cxx11-cu132-x86_64-linux").unwrap();
    assert_eq!(cu132.kernels.len(), 2);
}

#[test]
fn stable_abi_builds_once_per_toolkit_with_newest_torch() {
    let p = plan_of("stable-abi", &Systems::One("x86_64-linux".into()));
    assert_eq!(
        names(&p),
        [
            "torch-stable-abi211-cpu-x86_64-linux",
            "torch-stable-abi211-cu126-x86_64-linux",
            "torch-stable-abi211-cu130-x86_64-linux",
            "torch-stable-abi211-cu132-x86_64-linux"
        ]
    );
    for v in &p.variants {
        assert_eq!(
            v.torch.as_ref().unwrap().version.to_string(),
            "2.15",
            "{}",
            v.name
        );
        assert_eq!(v.stable_abi.as_ref().unwrap().to_string(), "2.11");
    }
    // 10.0f needs CUDA >= 12.9; 9.0a is fine everywhere; 12.0 does not exist in 12.6.
    let caps = |n: &str| -> Vec<String> {
        p.variant(n).unwrap().kernels[0]
            .cuda_capabilities
            .iter()
            .map(|c| c.to_string())
            .collect()
    };
    assert_eq!(
        caps("torch-stable-abi211-cu126-x86_64-linux"),
        ["8.0", "9.0a"]
    );
    assert_eq!(
        caps("torch-stable-abi211-cu132-x86_64-linux"),
        ["8.0", "9.0a", "10.0f", "12.0+PTX"]
    );
    // Per-backend stable ABI: only CUDA uses it.
    let p = plan_of(
        "stable-abi-per-backend",
        &Systems::One("x86_64-linux".into()),
    );
    assert_eq!(
        names(&p),
        [
            "torch-stable-abi215-cu126-x86_64-linux",
            "torch-stable-abi215-cu130-x86_64-linux",
            "torch-stable-abi215-cu132-x86_64-linux",
            "torch214-cxx11-cpu-x86_64-linux",
            "torch215-cxx11-cpu-x86_64-linux"
        ]
    );
}

#[test]
fn noarch_and_tvm_ffi_names() {
    let p = plan_of("noarch", &Systems::All);
    assert_eq!(
        names(&p),
        [
            "torch-cpu",
            "torch-cuda",
            "torch-metal",
            "torch-neuron",
            "torch-rocm",
            "torch-xpu"
        ]
    );
    assert_eq!(p.variant("torch-cuda").unwrap().archs, ["8.0", "9.0"]);
    assert_eq!(p.variant("torch-neuron").unwrap().python_depends, ["nki"]);
    let p = plan_of("tvm-ffi", &Systems::One("x86_64-linux".into()));
    assert_eq!(
        names(&p),
        [
            "tvm-ffi01-cpu-x86_64-linux",
            "tvm-ffi01-cu126-x86_64-linux",
            "tvm-ffi01-cu130-x86_64-linux",
            "tvm-ffi01-cu132-x86_64-linux"
        ]
    );
    assert_eq!(p.kernel.python_package, "tvm-ffi-ext/tvm_ffi_relu");
}

#[test]
fn plan_is_deterministic_and_independent_of_kernel_order() {
    let a = plan_of("all-backends", &Systems::All).to_json();
    let b = plan_of("all-backends", &Systems::All).to_json();
    assert_eq!(a, b);
    // Reordering the kernel sections changes nothing but the file hash.
    let dir = fixtures().join("all-backends");
    let src = std::fs::read_to_string(dir.join("build.toml")).unwrap();
    let split = src.find("[kernel.").unwrap();
    let (head, kernels) = src.split_at(split);
    let mut sections: Vec<&str> = kernels.split("\n\n").collect();
    sections.reverse();
    let reordered = format!("{head}{}\n", sections.join("\n\n").trim_end());
    let (c1, _) = parse_str(&src, &dir.join("build.toml"), &dir, true).unwrap();
    let (c2, _) = parse_str(&reordered, &dir.join("build.toml"), &dir, true).unwrap();
    let p1 = plan(&c1, Matrix::get(), &Systems::All, Path::new("b"), b"x").unwrap();
    let p2 = plan(&c2, Matrix::get(), &Systems::All, Path::new("b"), b"x").unwrap();
    assert_eq!(p1.to_json(), p2.to_json());
}

#[test]
fn empty_capability_intersection_names_the_kernel() {
    let dir = fixtures().join("bounds");
    let src = std::fs::read_to_string(dir.join("build.toml"))
        .unwrap()
        .replace("[\"7.0\", \"9.0a\", \"12.0\"]", "[\"7.0\"]");
    let (c, _) = parse_str(&src, &dir.join("build.toml"), &dir, true).unwrap();
    let e = plan(
        &c,
        Matrix::get(),
        &Systems::All,
        &dir.join("build.toml"),
        src.as_bytes(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("kernel.a.cuda-capabilities")
            && e.contains("none of [7.0] is supported by CUDA 13.0"),
        "{e}"
    );
    assert!(e.contains("cuda-minver"), "the error suggests a fix: {e}");
}

#[test]
fn name_collisions_are_errors() {
    // A matrix where two XPU toolkits map to the same variant name.
    let m = MATRIX_TOML
        .replace(
            "[xpu.\"2026.0.0\"]",
            "[xpu.\"2025.3.1\"]\nsource = \"test\"\n\n[xpu.\"2026.0.0\"]",
        )
        .replace(
            "version = \"2.15\"\nbackend = \"xpu\"\ntoolkit = \"2026.0.0\"",
            "version = \"2.14\"\nbackend = \"xpu\"\ntoolkit = \"2025.3.1\"",
        );
    let m = Matrix::parse(&m).unwrap();
    let dir = fixtures().join("all-backends");
    let loaded = load(Some(&dir)).unwrap();
    let e = plan(&loaded.config, &m, &Systems::All, &loaded.path, b"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("two plan entries have the name `torch214-cxx11-xpu20253-x86_64-linux`"),
        "{e}"
    );
}

#[test]
fn unknown_system_is_an_error() {
    let dir = fixtures().join("bounds");
    let loaded = load(Some(&dir)).unwrap();
    let e = plan(
        &loaded.config,
        Matrix::get(),
        &Systems::One("riscv64-linux".into()),
        &loaded.path,
        b"",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("unknown system `riscv64-linux`") && e.contains("x86_64-linux"),
        "{e}"
    );
}
