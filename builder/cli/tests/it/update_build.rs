//! `update-build`: edition 3/4 -> 5, keeping comments, order and formatting.

use std::path::Path;

use kb_core::config::migrate::{migrate, Outcome};
use kb_core::config::parse_str;

fn dir_with(files: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for f in files {
        let p = d.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }
    d
}

fn run(src: &str, root: &Path) -> Outcome {
    migrate(src, &root.join("build.toml"), root).unwrap_or_else(|e| panic!("{e}"))
}

const V4: &str = r#"# My kernel.
[general]
name = "relu"   # the name
license = "Apache-2.0"
version = 2
backends = [
    "cuda",   # NVIDIA
    "rocm",
]

[general.cuda]
# Only Hopper and newer.
capabilities = ["9.0", "10.0"]
minver = "12.8"

[general.rocm]
archs = ["gfx942"]

[torch]
src = ["torch-ext/torch_binding.cpp"] # bindings

# The CUDA kernel.
[kernel.relu_cuda]
backend = "cuda"
depends = ["torch"]
src = ["relu_cuda/relu.cu"]

[kernel.relu_rocm]
backend = "rocm"
depends = ["torch"]
src = ["relu_cuda/relu.cu"]
rocm-archs = ["gfx90a"]
"#;

#[test]
fn edition4_to_5_keeps_everything_else() {
    let d = dir_with(&["torch-ext/torch_binding.cpp", "relu_cuda/relu.cu"]);
    let Outcome::Updated { text, changes } = run(V4, d.path()) else {
        panic!("expected an update")
    };
    let expected = r#"# My kernel.
[general]
name = "relu"   # the name
edition = 5
license = "Apache-2.0"
version = 2
backends = [
    "cuda",   # NVIDIA
    "rocm",
]

[general.cuda]
minver = "12.8"

[torch]
src = ["torch-ext/torch_binding.cpp"] # bindings

# The CUDA kernel.
[kernel.relu_cuda]
backend = "cuda"
depends = ["torch"]
src = ["relu_cuda/relu.cu"]
cuda-capabilities = ["9.0", "10.0"]

[kernel.relu_rocm]
backend = "rocm"
depends = ["torch"]
src = ["relu_cuda/relu.cu"]
rocm-archs = ["gfx90a"]
"#;
    assert_eq!(text, expected, "changes: {changes:?}");
    assert!(
        changes
            .iter()
            .any(|c| c.contains("cuda-capabilities") && c.contains("kernel.relu_cuda")),
        "{changes:?}"
    );
    // The kernel with its own rocm-archs keeps them; nobody else needs general.rocm.archs.
    assert!(
        changes
            .iter()
            .any(|c| c.contains("dropped `general.rocm.archs`")),
        "{changes:?}"
    );

    // The result is edition 5 and has the same meaning.
    let (old, _) = parse_str(V4, &d.path().join("build.toml"), d.path(), true).unwrap();
    let (new, warnings) = parse_str(&text, &d.path().join("build.toml"), d.path(), true).unwrap();
    assert_eq!(new.source_edition, 5);
    assert!(
        warnings.iter().all(|w| !w.message.contains("edition")),
        "{warnings:?}"
    );
    assert_eq!(old.general, new.general);
    assert_eq!(old.kernels, new.kernels);
    assert_eq!(old.framework, new.framework);

    // Idempotent: a second run changes nothing.
    assert_eq!(run(&text, d.path()), Outcome::Current);
}

#[test]
fn edition3_noarch_gets_framework_and_version() {
    let d = dir_with(&[]);
    let src = "[general]\n# pure python\nname = \"relu\"\nlicense = \"MIT\"\nbackends = [\"cuda\"]\n\n[general.cuda]\ncapabilities = [\"8.0\"]\n";
    let Outcome::Updated { text, .. } = run(src, d.path()) else {
        panic!()
    };
    assert_eq!(
        text,
        "[general]\n# pure python\nname = \"relu\"\nedition = 5\nversion = 1\nlicense = \"MIT\"\nbackends = [\"cuda\"]\n\n[torch-noarch]\ncuda-capabilities = [\"8.0\"]\n"
    );
    assert_eq!(run(&text, d.path()), Outcome::Current);
}

#[test]
fn invalid_files_are_never_rewritten() {
    let d = dir_with(&[]);
    let e = migrate(
        "[general]\nname = \"relu\"\nbackends = [\"cuda\"]\n",
        &d.path().join("build.toml"),
        d.path(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("license"), "{e}");
}

#[test]
fn cli_update_build_writes_and_is_idempotent() {
    let d = dir_with(&["torch-ext/torch_binding.cpp", "relu_cuda/relu.cu"]);
    let path = d.path().join("build.toml");
    std::fs::write(&path, V4).unwrap();
    let bin = env!("CARGO_BIN_EXE_kernel-builder");
    let out = std::process::Command::new(bin)
        .arg("update-build")
        .arg(d.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = std::fs::read(&path).unwrap();
    assert_ne!(first, V4.as_bytes());
    let out = std::process::Command::new(bin)
        .arg("update-build")
        .arg(d.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to do"));
    assert_eq!(std::fs::read(&path).unwrap(), first);
}

#[test]
fn cli_update_build_keeps_noarch_pyext_of_an_older_file() {
    // The edition-4 pattern the reference accepts: [torch-noarch] with pyext
    // and the metadata lists in the reference's spelling.
    let d = dir_with(&["torch-ext/noarch_data/__init__.py"]);
    let src = std::fs::read_to_string(crate::support::fixture(
        "compat/legacy-noarch-pyext/build.toml",
    ))
    .unwrap();
    let path = d.path().join("build.toml");
    std::fs::write(&path, &src).unwrap();
    let out = crate::support::kb()
        .arg("update-build")
        .arg(d.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("edition = 5\n"), "{text}");
    assert!(
        text.contains("pyext = [\"py\", \"pyi\", \"json\"]"),
        "{text}"
    );
    assert!(
        text.contains("cuda_capabilities = [\"8.0\", \"9.0\"]"),
        "{text}"
    );
    let (c, _) = parse_str(&text, &path, d.path(), true).unwrap();
    assert_eq!(c.framework.pyext(), ["py", "pyi", "json"]);
}
