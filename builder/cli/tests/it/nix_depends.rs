//! `depends` in the Nix layer (lib/depends.nix) and the hash both build paths
//! agree on: the tree hash kernel-builder computes for an unpacked archive is
//! the one `nix-hash` (and so fetchzip) computes, and lib/depends.nix turns
//! data/depends.toml into the same fetches and CMake variables.
//! Run by ci/nix.sh (Debian's nix-bin).

use std::process::Command;

use serde_json::Value;

use crate::support::repo;

fn eval(expr: &str) -> Result<Value, String> {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("e.nix");
    std::fs::write(&f, expr).unwrap();
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json"])
        .arg(&f)
        .output()
        .expect("nix-instantiate runs (ci/nix.sh installs Debian's nix-bin)");
    if out.status.success() {
        Ok(serde_json::from_slice(&out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// lib/depends.nix for a variant whose kernel depends on `deps`, with stub
/// fetchers that return what they were asked for.
fn cmake_flags(toolkit: &str, deps: &[&str]) -> Result<Value, String> {
    let list: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
    eval(&format!(
        r#"let
  pkgs = {{
    fetchurl = a: "fetchurl(" + a.url + " " + a.sha256 + ")";
    fetchzip = a: "fetchzip(" + a.url + " " + a.hash + ")";
    runCommand = name: _: script: "/store/" + name;
    unzip = "unzip";
  }};
  d = import "{lib}/depends.nix" {{
    lib = {{ }};
    inherit pkgs;
    variant = {{ toolkit = "{toolkit}"; kernels = [ {{ depends = [ {list} ]; }} {{ }} ]; }};
  }};
in d.cmakeFlags"#,
        lib = repo().join("lib").display(),
        list = list.join(" ")
    ))
}

#[test]
#[ignore = "needs nix"]
fn nix_depends_fetches_match_the_data_file() {
    let data = kb_core::config::depends::get();
    let wheel = &data.dependency["cutlass_3_8"].fetch[0];
    let archive = &data.dependency["cutlass_3_9"].fetch[0];
    let flags = cmake_flags("13.2", &["torch", "cutlass_3_8", "cutlass_3_9"]).unwrap();
    assert_eq!(
        flags,
        serde_json::json!([
            "-DKERNEL_BUILDER_DEP_CUTLASS_3_8=/store/cutlass_3_8-3.8.0/cutlass_library/source",
            format!(
                "-DKERNEL_BUILDER_DEP_CUTLASS_3_9=fetchzip({} {})",
                archive.url,
                archive.hash.as_deref().unwrap()
            ),
        ])
    );
    assert_eq!(wheel.root.as_deref(), Some("cutlass_library/source"));
    // Nothing to provide for `torch` alone.
    assert_eq!(
        cmake_flags("13.2", &["torch"]).unwrap(),
        serde_json::json!([])
    );
}

#[test]
#[ignore = "needs nix"]
fn nix_depends_refuses_unpinned_and_unknown_dependencies() {
    let e = cmake_flags("13.2", &["cutlass_4_5"]).unwrap_err();
    assert!(e.contains("`cutlass_4_5` cannot be fetched"), "{e}");
    assert!(e.contains("KERNEL_BUILDER_DEP_CUTLASS_4_5"), "{e}");
    let e = cmake_flags("13.2", &["cutlass_9_9"]).unwrap_err();
    assert!(e.contains("unknown dependency `cutlass_9_9`"), "{e}");
    // sycl_tla has a source per oneAPI release only.
    let e = cmake_flags("2024.1", &["sycl_tla"]).unwrap_err();
    assert!(e.contains("no source for toolkit 2024.1"), "{e}");
    let ok = cmake_flags("2025.3.2", &["sycl_tla"]).unwrap();
    assert!(
        ok[0].as_str().unwrap().starts_with(
            "-DKERNEL_BUILDER_DEP_SYCL_TLA=fetchzip(https://github.com/intel/sycl-tla/"
        ),
        "{ok}"
    );
}

#[test]
#[ignore = "needs nix"]
fn nix_tree_hash_matches_nix_hash() {
    use base64::Engine;
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let root = d.path().join("t");
    std::fs::create_dir_all(root.join("sub/deeper")).unwrap();
    std::fs::write(root.join("a.txt"), "hello\n").unwrap();
    std::fs::write(root.join("empty"), "").unwrap();
    std::fs::write(root.join("sub/run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        root.join("sub/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("../a.txt", root.join("sub/link")).unwrap();
    std::fs::write(root.join("odd name \u{e9}"), vec![7u8; 100_001]).unwrap();
    let out = Command::new("nix-hash")
        .args(["--type", "sha256"])
        .arg(&root)
        .output()
        .expect("nix-hash runs (ci/nix.sh installs Debian's nix-bin)");
    assert!(out.status.success());
    let nix_hex = String::from_utf8(out.stdout).unwrap();
    let ours = kb_build::backends::depends::nar_hash(&root).unwrap();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(ours.trim_start_matches("sha256-"))
        .unwrap();
    let ours_hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(ours_hex, nix_hex.trim());
}
