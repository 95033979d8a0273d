//! The generated CMake/setuptools project: deterministic, escaped, driven by the plan.

use std::path::{Path, PathBuf};

use kb_build::pyproject::{cmake_quote, generate};
use kb_core::config::load;
use kb_core::matrix::Matrix;
use kb_core::plan::{plan, Plan, Systems};

fn plan_of(name: &str) -> Plan {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let loaded = load(Some(&dir)).unwrap();
    plan(
        &loaded.config,
        Matrix::get(),
        &Systems::All,
        &loaded.path,
        loaded.source.as_bytes(),
    )
    .unwrap()
}

fn file(g: &kb_build::pyproject::Generated, p: &str) -> String {
    g.files
        .get(&PathBuf::from(p))
        .unwrap_or_else(|| panic!("{p} not generated"))
        .clone()
}

#[test]
fn cmake_quoting_neutralizes_special_characters() {
    assert_eq!(cmake_quote("a b"), "\"a b\"");
    assert_eq!(cmake_quote("-DX=\"y\""), "\"-DX=\\\"y\\\"\"");
    assert_eq!(cmake_quote("${EVIL}"), "\"\\${EVIL}\"");
    assert_eq!(cmake_quote("a;b"), "\"a\\;b\"");
    assert_eq!(cmake_quote("a\\b\nc"), "\"a\\\\b\\nc\"");
}

#[test]
fn cuda_project_uses_plan_values() {
    let p = plan_of("all-backends");
    let v = p.variant("torch215-cxx11-cu132-x86_64-linux").unwrap();
    let g = generate(
        &p,
        v,
        Some(Path::new("/src/k")),
        "_all_backends_cuda_abc1234",
    )
    .unwrap();
    let cm = file(&g, "CMakeLists.txt");
    assert!(
        cm.contains("set(KB_VARIANT \"torch215-cxx11-cu132-x86_64-linux\")"),
        "{cm}"
    );
    // The ops name is only in the header the bindings include, never in CMake.
    assert!(!cm.contains("abc1234"), "{cm}");
    assert_eq!(
        file(&g, "cmake/ops_name.h").lines().last(),
        Some("#define TORCH_EXTENSION_NAME _all_backends_cuda_abc1234")
    );
    assert!(cm.contains("set(KB_ROOT \"/src/k\")"));
    assert!(cm.contains("set(CMAKE_CXX_STANDARD 20)"));
    assert!(
        cm.contains("\"12.1+PTX\""),
        "capabilities come from the plan"
    );
    assert!(cm.contains("\"--use_fast_math\""));
    assert!(cm.contains(
        "kb_add_binding_source(${KB_TARGET} \"${KB_ROOT}/torch-ext/torch_binding.cpp\")"
    ));
    assert!(cm.contains("\"${KB_ROOT}/include\""));
    assert!(
        !cm.contains("relu_cpu"),
        "only the variant's backend is built"
    );
    let ops = file(&g, "torch-ext/all_backends/_ops.py");
    assert!(ops.contains("from . import _all_backends_cuda_abc1234"));
    assert!(ops.contains("ops = torch.ops._all_backends_cuda_abc1234"));
    assert!(file(&g, "pyproject.toml").contains("kernels_ci"));
}

#[test]
fn flags_are_escaped() {
    let p = plan_of("all-backends");
    let v = p.variant("torch215-cxx11-cpu-x86_64-linux").unwrap();
    let g = generate(&p, v, None, "_all_backends_cpu_x").unwrap();
    let cm = file(&g, "CMakeLists.txt");
    assert!(cm.contains("\"-DFOO=\\\"bar\\\"\""), "{cm}");
    assert!(cm.contains("set(KB_ROOT \"${CMAKE_CURRENT_LIST_DIR}\")"));
}

#[test]
fn generation_is_deterministic() {
    let p = plan_of("all-backends");
    for v in p
        .variants
        .iter()
        .filter(|v| v.system.as_deref() == Some("x86_64-linux"))
    {
        let a = generate(&p, v, Some(Path::new("/k")), "_all_backends_x_1").unwrap();
        let b = generate(&p, v, Some(Path::new("/k")), "_all_backends_x_1").unwrap();
        assert_eq!(a, b, "{}", v.name);
    }
}

#[test]
fn stable_abi_and_noarch_projects() {
    let p = plan_of("stable-abi");
    let v = p.variant("torch-stable-abi211-cpu-x86_64-linux").unwrap();
    let cm = file(
        &generate(&p, v, None, "_stable_abi_cpu_1").unwrap(),
        "CMakeLists.txt",
    );
    assert!(
        cm.contains("set(KB_STABLE_ABI \"0x020B000000000000\")"),
        "{cm}"
    );
    let p = plan_of("noarch");
    let v = p.variant("torch-cuda").unwrap();
    let g = generate(&p, v, None, "_noarch_cuda_1").unwrap();
    assert!(!g.files.contains_key(&PathBuf::from("CMakeLists.txt")));
    let ops = file(&g, "torch-ext/noarch/_ops.py");
    assert!(!ops.contains("from . import"), "no native module: {ops}");
}

#[test]
fn invalid_ops_names_are_rejected() {
    let p = plan_of("all-backends");
    let v = p.variant("torch215-cxx11-cpu-x86_64-linux").unwrap();
    assert!(generate(&p, v, None, "_x;rm -rf").is_err());
    assert!(generate(&p, v, None, "_x\")").is_err());
}

#[test]
fn create_and_clean_pyproject_work_relative_to_target() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/all-backends");
    let target = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_kernel-builder");
    let out = std::process::Command::new(bin)
        .args([
            "create-pyproject",
            "--unique-id",
            "abc1234",
            "--variant",
            "torch215-cxx11-cpu-x86_64-linux",
        ])
        .arg(&src)
        .arg(target.path())
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(target.path().join("CMakeLists.txt").is_file());
    assert!(target
        .path()
        .join("torch-ext/all_backends/_ops.py")
        .is_file());
    let first = std::fs::read(target.path().join("CMakeLists.txt")).unwrap();
    // A user file is never clobbered without --force.
    std::fs::write(target.path().join("setup.py"), "# mine\n").unwrap();
    let out = std::process::Command::new(bin)
        .args([
            "create-pyproject",
            "--unique-id",
            "abc1234",
            "--variant",
            "torch215-cxx11-cpu-x86_64-linux",
        ])
        .arg(&src)
        .arg(target.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    std::fs::remove_file(target.path().join("setup.py")).unwrap();
    let out = std::process::Command::new(bin)
        .args([
            "create-pyproject",
            "--unique-id",
            "abc1234",
            "--variant",
            "torch215-cxx11-cpu-x86_64-linux",
        ])
        .arg(&src)
        .arg(target.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        std::fs::read(target.path().join("CMakeLists.txt")).unwrap(),
        first,
        "same input, same bytes"
    );
    // clean-pyproject removes generated files under TARGET only (cwd is elsewhere).
    let out = std::process::Command::new(bin)
        .args(["clean-pyproject", "--force"])
        .arg(&src)
        .arg(target.path())
        .current_dir(elsewhere.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!target.path().join("CMakeLists.txt").exists());
    assert!(!target
        .path()
        .join("torch-ext/all_backends/_ops.py")
        .exists());
    assert!(src.join("build.toml").exists(), "sources untouched");
}

fn plan_of_example(name: &str) -> Plan {
    let dir = crate::support::repo().join("examples").join(name);
    let loaded = load(Some(&dir)).unwrap();
    plan(
        &loaded.config,
        Matrix::get(),
        &Systems::All,
        &loaded.path,
        loaded.source.as_bytes(),
    )
    .unwrap()
}

#[test]
fn dependencies_and_math_libraries_reach_the_cmake_project() {
    let p = plan_of_example("gemm-cutlass");
    let v = p.variant("torch215-cxx11-cu132-x86_64-linux").unwrap();
    let g = generate(&p, v, None, "_gemm_cutlass_cuda_abc1234").unwrap();
    let cm = file(&g, "CMakeLists.txt");
    assert!(
        cm.contains("kb_dependency(\"cutlass_3_8\" KERNEL_BUILDER_DEP_CUTLASS_3_8 \"include;tools/util/include\""),
        "{cm}"
    );
    assert!(cm.contains("${KERNEL_BUILDER_DEP_CUTLASS_3_8_INCLUDE_DIRS}"));
    assert!(cm.contains(
        "set(KB_CUDA_MATH_LIBS \"cublas\" \"cublasLt\" \"cusparse\" \"cusolver\" \"cufft\" \"curand\")"
    ));
    // `torch` is the framework itself, never a dependency to provide.
    assert!(!cm.contains("kb_dependency(\"torch\""));
    let setup = file(&g, "setup.py");
    assert!(
        setup.contains("\"KERNEL_BUILDER_DEP_CUTLASS_3_8\""),
        "{setup}"
    );
    // The CPU variants of another kernel have neither.
    let p = plan_of("all-backends");
    let v = p.variant("torch215-cxx11-cpu-x86_64-linux").unwrap();
    let cm = file(
        &generate(&p, v, None, "_all_backends_cpu_abc1234").unwrap(),
        "CMakeLists.txt",
    );
    assert!(!cm.contains("KB_CUDA_MATH_LIBS") && !cm.contains("kb_dependency("));
}

#[test]
fn rocm_projects_carry_the_hipify_step_and_xpu_projects_aot_targets() {
    let p = plan_of_example("saxpy");
    let v = p.variant("torch215-cxx11-rocm72-x86_64-linux").unwrap();
    let g = generate(&p, v, None, "_saxpy_rocm_abc1234").unwrap();
    assert!(file(&g, "cmake/hipify.py").contains("torch.utils.hipify"));
    let cm = file(&g, "CMakeLists.txt");
    assert!(
        cm.contains("set(_kb_files \"${KB_ROOT}/saxpy_cuda/saxpy.cu\""),
        "{cm}"
    );
    assert!(cm.contains("set(KB_HIP_MATH_LIBS \"hipblas\""));
    let kb = file(&g, "cmake/kernel-builder.cmake");
    assert!(kb.contains("kb_hipify(_compile"));

    let p = plan_of("all-backends");
    let v = p
        .variants
        .iter()
        .find(|v| v.backend.as_str() == "xpu" && v.system.as_deref() == Some("x86_64-linux"))
        .unwrap();
    let cm = file(
        &generate(&p, v, None, "_all_backends_xpu_abc1234").unwrap(),
        "CMakeLists.txt",
    );
    assert!(
        cm.contains("set(KB_SYCL_TARGETS \"spir64_gen,spir64\")"),
        "{cm}"
    );
    assert!(cm.contains("set(KB_SYCL_AOT_DEVICES \"pvc,xe-lpg,ats-m150\")"));
}

#[test]
fn tvm_ffi_projects_build_a_plain_shared_library() {
    let p = plan_of_example("relu-tvm-ffi");
    let v = p.variant("tvm-ffi01-cu132-x86_64-linux").unwrap();
    let g = generate(&p, v, None, "_relu_tvm_ffi_cuda_abc1234").unwrap();
    let cm = file(&g, "CMakeLists.txt");
    assert!(cm.contains("kb_find_tvm_ffi()") && cm.contains("add_library(${KB_TARGET} SHARED)"));
    assert!(file(&g, "cmake/ops_name.h")
        .contains("#define TVM_FFI_EXTENSION_NAME _relu_tvm_ffi_cuda_abc1234"));
    assert!(!cm.contains("kb_find_torch()"));
    let ops = file(&g, "tvm-ffi-ext/relu_tvm_ffi/_ops.py");
    assert!(
        ops.contains("tvm_ffi.load_module") && ops.contains("\"_relu_tvm_ffi_cuda_abc1234.so\"")
    );
    assert!(!g
        .files
        .contains_key(&PathBuf::from("torch-ext/registration.h")));
    assert!(file(&g, "pyproject.toml").contains("\"apache-tvm-ffi==0.1.*\""));
}

#[test]
fn create_pyproject_on_a_host_without_variants_picks_one_and_says_so() {
    // A kernel of a backend this host never has: Metal off macOS, else CUDA.
    let backend = if cfg!(target_os = "macos") {
        "cuda"
    } else {
        "metal"
    };
    let ext = if backend == "metal" { "metal" } else { "cu" };
    let d = tempfile::tempdir().unwrap();
    for f in ["torch-ext/t.cpp".to_string(), format!("k/op.{ext}")] {
        let p = d.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }
    std::fs::write(
        d.path().join("build.toml"),
        format!(
            "[general]\nname = \"hostless\"\nversion = 1\nedition = 5\nlicense = \"MIT\"\nbackends = [\"{backend}\"]\n[torch]\nsrc = [\"torch-ext/t.cpp\"]\n[kernel.op]\nbackend = \"{backend}\"\ndepends = [\"torch\"]\nsrc = [\"k/op.{ext}\"]\n"
        ),
    )
    .unwrap();
    let target = tempfile::tempdir().unwrap();
    let out = crate::support::ok(
        crate::support::kb()
            .args(["--json", "create-pyproject", "--unique-id", "abc1234"])
            .arg(d.path())
            .arg(target.path())
            .output()
            .unwrap(),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let variant = v["variant"].as_str().unwrap();
    assert!(variant.contains(backend), "{v}");
    let note = v["host_note"].as_str().unwrap();
    assert!(
        note.contains("has no variant for") && note.contains("--variant"),
        "{note}"
    );
    assert!(target.path().join("CMakeLists.txt").is_file());
    // The text output shows the note on standard error; -q hides it.
    let out = crate::support::ok(
        crate::support::kb()
            .args(["create-pyproject", "--force", "--unique-id", "abc1234"])
            .arg(d.path())
            .arg(target.path())
            .output()
            .unwrap(),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("note: this kernel has no variant for"),
        "{err}"
    );
    let out = crate::support::ok(
        crate::support::kb()
            .args([
                "-q",
                "create-pyproject",
                "--force",
                "--unique-id",
                "abc1234",
            ])
            .arg(d.path())
            .arg(target.path())
            .output()
            .unwrap(),
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Outside git the ops id comes from the kernel's content: the same sources
/// give the same project (it was random on every run); other sources another.
#[test]
fn create_pyproject_outside_git_is_deterministic() {
    let tmp = tempfile::tempdir().unwrap();
    let kernel = tmp.path().join("k");
    copy_tree(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/all-backends"),
        &kernel,
    );
    let bin = env!("CARGO_BIN_EXE_kernel-builder");
    let ops = |target: &str| {
        let out = std::process::Command::new(bin)
            .args([
                "create-pyproject",
                "--variant",
                "torch215-cxx11-cpu-x86_64-linux",
            ])
            .arg(&kernel)
            .arg(tmp.path().join(target))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(
            tmp.path()
                .join(target)
                .join("torch-ext/all_backends/_ops.py"),
        )
        .unwrap()
    };
    let a = ops("t1");
    assert_eq!(a, ops("t2"));
    std::fs::write(kernel.join("relu_cpu/relu.cpp"), "// changed\n").unwrap();
    assert_ne!(a, ops("t3"));
}

/// clean-pyproject removes only what create-pyproject recorded (and is
/// unchanged); create-pyproject overwrites only that without --force.
#[test]
fn clean_pyproject_removes_only_what_was_generated() {
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/all-backends");
    let t = tmp.path().join("t");
    let bin = env!("CARGO_BIN_EXE_kernel-builder");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .arg(&src)
            .arg(&t)
            .output()
            .unwrap()
    };
    // A user setup.py that mentions the marker is still the user's.
    std::fs::create_dir_all(&t).unwrap();
    std::fs::write(
        t.join("setup.py"),
        "# Generated by kernel-builder (not really)\n",
    )
    .unwrap();
    let variant = [
        "--variant",
        "torch215-cxx11-cpu-x86_64-linux",
        "--unique-id",
        "abc1234",
    ];
    let o = run(&[&["create-pyproject"][..], &variant].concat());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    std::fs::remove_file(t.join("setup.py")).unwrap();
    let o = run(&[&["create-pyproject"][..], &variant].concat());
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // What a user adds next to the generated project.
    let pkg = t.join("torch-ext/all_backends");
    std::fs::write(pkg.join("_mine.abi3.so"), "user").unwrap();
    std::fs::write(
        pkg.join("_all_backends_cpu_abc1234.abi3.so"),
        "editable build",
    )
    .unwrap();
    std::fs::create_dir_all(t.join("build/cmake-mine")).unwrap();
    std::fs::create_dir_all(t.join("build/cmake-torch215-cxx11-cpu-x86_64-linux")).unwrap();
    std::fs::write(t.join("notes.txt"), "Generated by kernel-builder? no\n").unwrap();
    std::fs::write(t.join("pyproject.toml"), "# edited by the user\n").unwrap();
    let o = run(&["clean-pyproject", "--force"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!t.join("CMakeLists.txt").exists() && !pkg.join("_ops.py").exists());
    assert!(!pkg.join("_all_backends_cpu_abc1234.abi3.so").exists());
    assert!(!t
        .join("build/cmake-torch215-cxx11-cpu-x86_64-linux")
        .exists());
    for kept in [
        "torch-ext/all_backends/_mine.abi3.so",
        "build/cmake-mine",
        "notes.txt",
        "pyproject.toml",
    ] {
        assert!(t.join(kept).exists(), "{kept} was removed");
    }
}

/// A package directory that is a symlink out of the target is not followed.
#[test]
fn clean_pyproject_does_not_follow_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/all-backends");
    let t = tmp.path().join("t");
    let outside = tmp.path().join("outside");
    std::fs::create_dir_all(t.join("torch-ext")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    let bin = env!("CARGO_BIN_EXE_kernel-builder");
    let o = std::process::Command::new(bin)
        .args([
            "create-pyproject",
            "--variant",
            "torch215-cxx11-cpu-x86_64-linux",
            "--unique-id",
            "abc1234",
        ])
        .arg(&src)
        .arg(&t)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Replace the package dir with a link to a directory holding the same files.
    let pkg = t.join("torch-ext/all_backends");
    std::fs::rename(&pkg, outside.join("all_backends")).unwrap();
    std::os::unix::fs::symlink(outside.join("all_backends"), &pkg).unwrap();
    let o = std::process::Command::new(bin)
        .args(["clean-pyproject", "--force"])
        .arg(&src)
        .arg(&t)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        outside.join("all_backends/_ops.py").exists(),
        "followed the link"
    );
}

/// C is enabled only when the variant has C sources (CMake's C detection is
/// a fixed cost of every clean configure).
#[test]
fn c_language_only_for_c_sources() {
    let p = plan_of("all-backends");
    let v = p.variant("torch215-cxx11-cu132-x86_64-linux").unwrap();
    let g = generate(&p, v, Some(Path::new("/src/k")), "_k_abc1234").unwrap();
    let cm = file(&g, "CMakeLists.txt");
    assert!(cm.contains("project(kb_kernel LANGUAGES CXX)"), "{cm}");

    let mut with_c = v.clone();
    with_c.kernels[0].src.push("kernel/helper.c".into());
    let g = generate(&p, &with_c, Some(Path::new("/src/k")), "_k_abc1234").unwrap();
    let cm = file(&g, "CMakeLists.txt");
    assert!(cm.contains("project(kb_kernel LANGUAGES C CXX)"), "{cm}");
}
