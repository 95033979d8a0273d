//! The build.toml patterns real kernels use (found on the community kernels
//! that build with the reference tool): accepted with the documented
//! warning, or refused when the build could not work. One fixture per
//! pattern in `builder/cli/tests/fixtures/compat/`; the rules are in
//! `docs/build-toml-rules.md`.

use std::path::{Path, PathBuf};

use kb_core::config::migrate::{migrate, Outcome};
use kb_core::config::{parse_str, Diagnostic, Framework, Severity};
use kb_core::plan::Plan;
use kb_core::KernelProject;

fn fixture(name: &str) -> PathBuf {
    crate::support::fixture("compat").join(name)
}

/// What `check-config` does: load, then plan every system.
fn check(name: &str) -> Result<(KernelProject, Plan), Vec<String>> {
    let project = KernelProject::load(Some(&fixture(name))).map_err(|e| lines(&e.0))?;
    let p = project.plan.clone();
    Ok((project, p))
}

fn lines(d: &[Diagnostic]) -> Vec<String> {
    d.iter().map(|d| d.to_string()).collect()
}

/// Accepted; every fragment appears in one warning (or note), which also
/// names the file, a key and a line:column.
fn accepted(name: &str, fragments: &[&str]) -> (KernelProject, Plan) {
    let (loaded, p) = check(name).unwrap_or_else(|e| panic!("{name} refused:\n{}", e.join("\n")));
    let shown = lines(&loaded.warnings);
    for f in fragments {
        let hit = loaded
            .warnings
            .iter()
            .find(|w| w.to_string().contains(f))
            .unwrap_or_else(|| panic!("{name}: no warning contains {f:?}:\n{}", shown.join("\n")));
        assert!(hit.position.is_some() && !hit.key.is_empty(), "{hit}");
        assert!(hit.help.is_some(), "{name}: no fix offered: {hit}");
        assert!(hit.to_string().contains("build.toml:"), "{hit}");
    }
    (loaded, p)
}

fn refused(name: &str, fragments: &[&str]) -> Vec<String> {
    let e = match check(name) {
        Ok(_) => panic!("{name} was accepted"),
        Err(e) => e,
    };
    for f in fragments {
        assert!(
            e.iter().any(|m| m.contains(f)),
            "{name}: no error contains {f:?}:\n{}",
            e.join("\n")
        );
    }
    e
}

fn names(p: &Plan) -> Vec<&str> {
    p.variants.iter().map(|v| v.name.as_str()).collect()
}

const EDITION4: &str = "edition-4 format (no `general.edition`)";

#[test]
fn legacy_noarch_keys_are_read_and_kept() {
    let (l, p) = accepted("legacy-noarch-pyext", &[EDITION4]);
    let Framework::TorchNoarch(n) = &l.config.framework else {
        panic!("noarch expected")
    };
    assert_eq!(n.pyext, ["py", "pyi", "json"]);
    assert_eq!(
        l.config.general.source.as_deref(),
        Some("https://github.com/kernel-builder-tests/noarch-data")
    );
    assert_eq!(p.kernel.pyext, ["py", "pyi", "json"]);
    assert_eq!(names(&p), ["torch-cuda", "torch-rocm"]);
    assert_eq!(p.variant("torch-cuda").unwrap().archs, ["8.0", "9.0"]);
    assert_eq!(p.variant("torch-rocm").unwrap().archs, ["gfx942"]);
}

#[test]
fn legacy_noarch_pyext_migrates_with_update_build() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("legacy-noarch-pyext"), dir.path());
    let src = std::fs::read_to_string(dir.path().join("build.toml")).unwrap();
    let file = dir.path().join("build.toml");
    let Outcome::Updated { text, .. } = migrate(&src, &file, dir.path()).unwrap() else {
        panic!("expected an update")
    };
    // Only `edition` is added: pyext and the reference-spelled lists stay.
    assert_eq!(
        text,
        src.replace(
            "name = \"noarch-data\"\n",
            "name = \"noarch-data\"\nedition = 5\n"
        ),
        "{text}"
    );
    let (old, _) = parse_str(&src, &file, dir.path(), true).unwrap();
    let (new, warnings) = parse_str(&text, &file, dir.path(), true).unwrap();
    assert_eq!(new.source_edition, 5);
    assert!(
        warnings.iter().all(|w| w.severity != Severity::Warning),
        "{warnings:?}"
    );
    assert_eq!(old.framework, new.framework);
    assert_eq!(old.general, new.general);
    assert_eq!(migrate(&text, &file, dir.path()).unwrap(), Outcome::Current);
}

#[test]
fn legacy_torch_and_tvm_ffi_cxx_flags() {
    let (l, p) = accepted("legacy-torch-cxx-flags", &[EDITION4]);
    let Framework::Torch(t) = &l.config.framework else {
        panic!()
    };
    assert_eq!(t.cxx_flags, ["-DLEGACY_FLAGS=1"]);
    assert!(p
        .variants
        .iter()
        .all(|v| v.cxx_flags == ["-DLEGACY_FLAGS=1"]));
    let (l, p) = accepted("legacy-tvm-ffi-cxx-flags", &[EDITION4]);
    let Framework::TvmFfi(t) = &l.config.framework else {
        panic!()
    };
    assert_eq!(t.cxx_flags, ["-DTVM_LEGACY=1"]);
    assert!(!p.variants.is_empty());
}

#[test]
fn version_zero() {
    let (l, _) = accepted("version-zero", &[]);
    assert_eq!(l.config.general.version, 0);
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
}

#[test]
fn section_names_the_reference_accepts() {
    let (l, p) = accepted("underscore-sections", &[EDITION4]);
    assert!(l.config.kernels.contains_key("_attn_sm90"));
    assert!(l.config.kernels.contains_key("moe-marlin"));
    let v = p.variant("torch215-cxx11-cu132-x86_64-linux").unwrap();
    assert_eq!(v.kernels.len(), 2);
}

#[test]
fn newer_cutlass_dependencies() {
    let (l, _) = accepted("cutlass-4-4", &[EDITION4]);
    assert_eq!(
        l.config.kernels["gemm_sm100"].depends,
        ["torch", "cutlass_4_4"]
    );
    assert_eq!(l.config.kernels["gemm"].depends, ["torch", "cutlass_4_5"]);
}

#[test]
fn dead_stable_abi_entry_is_a_warning() {
    let (_, p) = accepted(
        "stable-abi-dead-entry",
        &["`torch.stable-abi.rocm`: backend `rocm` is not listed in `general.backends`, so this entry is unused"],
    );
    assert!(p
        .variants
        .iter()
        .all(|v| v.name.starts_with("torch-stable-abi211-cu")));
}

#[test]
fn nonexistent_capability_is_dropped() {
    let (_, p) = accepted(
        "unknown-capability",
        &["`kernel.caps_cuda.cuda-capabilities[2]`: `11.8`: compute capability 11.8 does not exist, so it is ignored"],
    );
    let v = p.variant("torch215-cxx11-cu132-x86_64-linux").unwrap();
    let caps: Vec<String> = v.kernels[0]
        .cuda_capabilities
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(caps, ["8.0", "9.0", "12.0"]);
}

#[test]
fn kernel_of_an_unlisted_backend_is_never_built() {
    let (_, p) = accepted(
        "kernel-backend-not-listed",
        &["`kernel.unlisted_rocm.backend`: backend `rocm` is not listed in `general.backends`, so this kernel is never built"],
    );
    assert!(p.variants.iter().all(|v| v.backend.as_str() == "cuda"));
    assert!(p
        .variants
        .iter()
        .all(|v| v.kernels.iter().all(|k| k.name == "unlisted_cuda")));
}

#[test]
fn tvm_ffi_variants_match_the_reference() {
    let (_, p) = accepted("tvm-ffi-xpu", &[]);
    let x86: Vec<&str> = names(&p)
        .into_iter()
        .filter(|n| n.ends_with("x86_64-linux"))
        .collect();
    assert_eq!(
        x86,
        [
            "tvm-ffi01-cpu-x86_64-linux",
            "tvm-ffi01-cu126-x86_64-linux",
            "tvm-ffi01-cu130-x86_64-linux",
            "tvm-ffi01-cu132-x86_64-linux",
            "tvm-ffi01-xpu20253-x86_64-linux"
        ]
    );
    let xpu = p.variant("tvm-ffi01-xpu20253-x86_64-linux").unwrap();
    assert_eq!(xpu.kernels.len(), 1);
    assert_eq!(xpu.kernels[0].name, "tvm_xpu_xpu");
    assert_eq!(xpu.cxx_flags, ["-DTVM_XPU=1"]);
}

#[test]
fn torch_backends_without_kernels_get_noarch_variants() {
    let (_, p) = accepted(
        "torch-backend-without-kernel",
        &[
            "backend `cpu` has no `[kernel.*]` section: it gets the pure-Python variant `torch-cpu`",
            "backend `tpu` cannot have compiled kernels: it gets the pure-Python variant `torch-tpu`",
        ],
    );
    let n = names(&p);
    assert!(
        n.contains(&"torch-cpu") && n.contains(&"torch-tpu"),
        "{n:?}"
    );
    assert!(n.contains(&"torch215-cxx11-cu132-x86_64-linux"), "{n:?}");
    assert!(!n.iter().any(|v| v.contains("-cpu-")), "{n:?}");
    for v in ["torch-cpu", "torch-tpu"] {
        let v = p.variant(v).unwrap();
        assert_eq!(v.framework, "torch-noarch");
        assert!(v.system.is_none() && v.src.is_empty() && v.kernels.is_empty());
    }
}

#[test]
fn no_capability_left_still_fails_naming_the_kernel() {
    refused(
        "no-capability-left",
        &["`kernel.no_caps.cuda-capabilities`: kernel `no_caps` has no CUDA capability left: none of [11.8] exists"],
    );
    // The reference's own `relu-invalid-capability` pattern.
    let e = refused(
        "invalid-capability",
        &[
            "`kernel.relu.cuda-capabilities`: kernel `relu` has no CUDA capability left: none of [99999.0] exists",
            "`kernel.relu_rocm.rocm-archs[0]`: `gfx99999` is not a ROCm architecture",
        ],
    );
    assert!(e.iter().all(|m| m.contains("build.toml:")), "{e:?}");
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dest = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}
