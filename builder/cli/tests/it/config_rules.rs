//! One test (at least) per validation rule of `build.toml`, per edition.

use std::path::Path;

use kb_core::config::{parse_str, Backend, BuildConfig, Framework, Severity};

/// A kernel directory with a few files every test can reference.
fn kernel_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for f in [
        "torch-ext/b.cpp",
        "k/a.cu",
        "k/a.cpp",
        "k/a.hip",
        "k/a.metal",
        "k/x.cpp",
    ] {
        let p = d.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, "").unwrap();
    }
    std::fs::create_dir_all(d.path().join("inc")).unwrap();
    d
}

const HEAD: &str = r#"[general]
name = "relu"
version = 1
edition = 5
license = "Apache-2.0"
backends = ["cpu", "cuda"]
"#;

const TORCH: &str = r#"
[torch]
src = ["torch-ext/b.cpp"]
"#;

fn parse_in(dir: &Path, src: &str) -> Result<(BuildConfig, Vec<String>), Vec<String>> {
    parse_str(src, &dir.join("build.toml"), dir, true)
        .map(|(c, w)| (c, w.iter().map(|d| d.to_string()).collect()))
        .map_err(|e| {
            e.0.iter()
                .map(|d| {
                    assert_eq!(d.severity, Severity::Error);
                    d.to_string()
                })
                .collect()
        })
}

fn ok(src: &str) -> (BuildConfig, Vec<String>) {
    let d = kernel_dir();
    parse_in(d.path(), src).unwrap_or_else(|e| panic!("expected valid, got:\n{}", e.join("\n")))
}

/// Parse and expect errors; every expected fragment must appear in one error.
fn errs(src: &str, expected: &[&str]) -> Vec<String> {
    let d = kernel_dir();
    let e = match parse_in(d.path(), src) {
        Ok(_) => panic!("expected errors {expected:?}, but the file was accepted"),
        Err(e) => e,
    };
    for x in expected {
        assert!(
            e.iter().any(|m| m.contains(x)),
            "no error contains {x:?}:\n{}",
            e.join("\n")
        );
    }
    for m in &e {
        assert!(
            m.contains("build.toml"),
            "error does not name the file: {m}"
        );
    }
    e
}

/// Parse and expect acceptance with, for every fragment, a warning or note
/// that contains it (and names the file).
fn warns(src: &str, expected: &[&str]) -> (BuildConfig, Vec<String>) {
    let (c, w) = ok(src);
    for x in expected {
        assert!(
            w.iter().any(|m| m.contains(x)),
            "no warning contains {x:?}:\n{}",
            w.join("\n")
        );
    }
    for m in &w {
        assert!(
            m.contains("build.toml"),
            "warning does not name the file: {m}"
        );
    }
    (c, w)
}

#[test]
fn minimal_edition5_is_valid() {
    let (c, w) = ok(&format!("{HEAD}{TORCH}"));
    assert_eq!(c.source_edition, 5);
    assert_eq!(c.general.backends, vec![Backend::Cpu, Backend::Cuda]);
    assert!(
        w.iter().any(|w| w.contains("no `[kernel.*]` section")),
        "{w:?}"
    );
}

#[test]
fn syntax_errors_have_positions() {
    let e = errs("[general]\nname = \"x\nversion = 1\n", &["invalid TOML"]);
    assert!(e[0].contains("build.toml:2:"), "{e:?}");
}

#[test]
fn missing_general_and_unknown_top_level() {
    errs("[torch]\nsrc = []\n", &["missing `[general]` section"]);
    let e = errs(
        &format!("{HEAD}{TORCH}\n[kernal.x]\nbackend = \"cpu\"\n"),
        &["`kernal`: unknown key", "did you mean `kernel`?"],
    );
    assert!(e.iter().any(|m| m.contains(":11:2")), "{e:?}");
}

#[test]
fn unknown_general_key_suggests() {
    errs(
        &format!("{HEAD}licence = \"MIT\"\n{TORCH}"),
        &["`general.licence`: unknown key", "did you mean `license`?"],
    );
}

#[test]
fn edition_checks() {
    errs(
        &HEAD.replace("edition = 5", "edition = 6").to_string(),
        &["edition 6 is not supported", "upgrade kernel-builder"],
    );
    errs(
        &HEAD.replace("edition = 5", "edition = \"5\""),
        &["expected an integer, found a string"],
    );
}

#[test]
fn exactly_one_framework() {
    errs(
        &format!("{HEAD}{TORCH}\n[tvm-ffi]\nsrc = []\n"),
        &["more than one framework section"],
    );
    errs(HEAD, &["no framework section"]);
}

#[test]
fn name_rules() {
    for bad in [
        "Relu", "re_lu", "relu-", "1relu", "re lu", "re\\\"lu", "r$lu", "r`x`", "a;b",
    ] {
        errs(
            &format!("{}{TORCH}", HEAD.replace("\"relu\"", &format!("\"{bad}\""))),
            &["general.name", "is not a valid kernel name"],
        );
    }
    errs(
        &format!("{}{TORCH}", HEAD.replace("name = \"relu\"\n", "")),
        &["`general.name`: missing required key"],
    );
}

#[test]
fn version_and_license_rules() {
    // 0 is a valid major version (no API stability promise in the loader).
    let (c, _) = ok(&format!(
        "{}{TORCH}",
        HEAD.replace("version = 1", "version = 0")
    ));
    assert_eq!(c.general.version, 0);
    errs(
        &format!("{}{TORCH}", HEAD.replace("version = 1", "version = -1")),
        &["must not be negative"],
    );
    errs(
        &format!("{}{TORCH}", HEAD.replace("version = 1", "version = \"1\"")),
        &["expected an integer"],
    );
    errs(
        &format!("{}{TORCH}", HEAD.replace("version = 1\n", "")),
        &["`general.version`: missing required key"],
    );
    errs(
        &format!("{}{TORCH}", HEAD.replace("license = \"Apache-2.0\"\n", "")),
        &["`general.license`: missing required key"],
    );
    errs(
        &format!(
            "{}{TORCH}",
            HEAD.replace("\"Apache-2.0\"", "\"MIT\\\"; rm -rf /\"")
        ),
        &["is not a license identifier"],
    );
}

#[test]
fn url_rules() {
    ok(&format!(
        "{HEAD}upstream = \"https://github.com/org/repo\"\n{TORCH}"
    ));
    errs(
        &format!("{HEAD}upstream = \"https://x/$(id)\"\n{TORCH}"),
        &["general.upstream", "is not a repository URL"],
    );
    errs(
        &format!("{HEAD}source = \"file:///etc\"\n{TORCH}"),
        &["general.source"],
    );
}

#[test]
fn backend_rules() {
    errs(
        &format!(
            "{}{TORCH}",
            HEAD.replace("[\"cpu\", \"cuda\"]", "[\"cdua\"]")
        ),
        &["unknown backend `cdua`", "did you mean `cuda`?"],
    );
    errs(
        &format!("{}{TORCH}", HEAD.replace("[\"cpu\", \"cuda\"]", "[]")),
        &["no backends listed"],
    );
    errs(
        &format!(
            "{}{TORCH}",
            HEAD.replace("backends = [\"cpu\", \"cuda\"]\n", "")
        ),
        &["`general.backends`: missing required key"],
    );
    let (_, w) = ok(&format!(
        "{}{TORCH}",
        HEAD.replace("[\"cpu\", \"cuda\"]", "[\"cpu\", \"cpu\"]")
    ));
    assert!(w.iter().any(|w| w.contains("listed twice")));
    // A [torch] backend that cannot have compiled kernels gets the
    // pure-Python variant, as in the reference.
    warns(
        &format!(
            "{}{TORCH}",
            HEAD.replace("[\"cpu\", \"cuda\"]", "[\"cpu\", \"neuron\"]")
        ),
        &["`neuron` cannot have compiled kernels: it gets the pure-Python variant `torch-neuron`"],
    );
}

#[test]
fn cuda_bounds_rules() {
    ok(&format!(
        "{HEAD}[general.cuda]\nminver = \"12.8\"\nmaxver = \"13.2\"\n{TORCH}"
    ));
    errs(
        &format!("{HEAD}[general.cuda]\nminver = \"13.2\"\nmaxver = \"12.8\"\n{TORCH}"),
        &["maxver 12.8 is lower than minver 13.2"],
    );
    errs(
        &format!("{HEAD}[general.cuda]\nminver = \"13\"\n{TORCH}"),
        &["wrong number of components"],
    );
    errs(
        &format!("{HEAD}[general.cuda]\ncapabilities = [\"8.0\"]\n{TORCH}"),
        &["`general.cuda.capabilities`: unknown key"],
    );
}

#[test]
fn python_depends_rules() {
    let (c, _) = ok(&format!("{HEAD}python-depends = [\"einops\"]\n[general.cuda]\npython-depends = [\"nvidia-cutlass-dsl\"]\n{TORCH}"));
    assert_eq!(c.general.python_depends, vec!["einops"]);
    errs(
        &format!("{HEAD}python-depends = [\"numpy\"]\n{TORCH}"),
        &["`numpy` is not an allowed Python dependency", "einops"],
    );
    errs(
        &format!("{HEAD}python-depends = [\"nvidia-cutlass-dsl\"]\n{TORCH}"),
        &["move it to `[general.cuda] python-depends`"],
    );
    errs(
        &format!("{HEAD}[general.cuda]\npython-depends = [\"onednn\"]\n{TORCH}"),
        &["allowed for cuda"],
    );
}

#[test]
fn kernel_depends_rules() {
    let (c, _) = ok(&format!("{HEAD}kernel-depends = [{{ repo-id = \"kernels-community/activation\", version = 1 }}, {{ repo-id = \"a/b\", revision = \"abc123\" }}]\n{TORCH}"));
    assert_eq!(c.general.kernel_depends.len(), 2);
    errs(&format!("{HEAD}kernel-depends = [{{ repo-id = \"a/b\", version = 1, revision = \"x\" }}]\n{TORCH}"), &["mutually exclusive"]);
    errs(
        &format!("{HEAD}kernel-depends = [{{ repo-id = \"a/b\" }}]\n{TORCH}"),
        &["needs `version` or `revision`"],
    );
    errs(
        &format!("{HEAD}kernel-depends = [{{ repo-id = \"ab\", version = 1 }}]\n{TORCH}"),
        &["not a Hub repository id"],
    );
    errs(
        &format!("{HEAD}kernel-depends = [\"a/b\"]\n{TORCH}"),
        &["expected an inline table"],
    );
}

#[test]
fn hub_rules() {
    let (c, _) = ok(&format!(
        "{HEAD}[general.hub]\nrepo-id = \"org/relu\"\nbranch = \"v1\"\n{TORCH}"
    ));
    assert_eq!(c.general.hub.repo_id.as_deref(), Some("org/relu"));
    errs(
        &format!("{HEAD}[general.hub]\nrepo-id = \"org/relu;id\"\n{TORCH}"),
        &["general.hub.repo-id"],
    );
    errs(
        &format!("{HEAD}[general.hub]\nbranch = \"--force\"\n{TORCH}"),
        &["not a valid branch name"],
    );
    errs(
        &format!("{HEAD}[general.hub]\nrepo = \"a/b\"\n{TORCH}"),
        &["`general.hub.repo`: unknown key", "did you mean `repo-id`?"],
    );
}

#[test]
fn torch_rules() {
    errs(
        &format!("{HEAD}{TORCH}minver = \"2.15\"\nmaxver = \"2.14\"\n"),
        &["maxver 2.14 is lower than minver 2.15"],
    );
    let (c, _) = ok(&format!("{HEAD}{TORCH}stable-abi = \"2.11\"\n"));
    assert!(matches!(&c.framework, Framework::Torch(t) if t.stable_abi.is_some()));
    ok(&format!(
        "{HEAD}{TORCH}stable-abi = {{ cuda = \"2.11\" }}\n"
    ));
    errs(
        &format!("{HEAD}{TORCH}stable-abi = {{ cdua = \"2.11\" }}\n"),
        &["unknown backend `cdua`"],
    );
    // A dead per-backend entry: warning with the entry's position.
    let (_, w) = warns(
        &format!("{HEAD}{TORCH}stable-abi = {{ rocm = \"2.11\" }}\n"),
        &["`torch.stable-abi.rocm`: backend `rocm` is not listed in `general.backends`, so this entry is unused"],
    );
    assert!(w.iter().any(|m| m.contains("build.toml:10:16")), "{w:?}");
    errs(
        &format!("{HEAD}{TORCH}stable-abi = 2.11\n"),
        &["expected a Torch version string"],
    );
    errs(
        &format!("{HEAD}{TORCH}pyext = [\".py\"]\n"),
        &["is not a file extension"],
    );
    errs(
        &format!("{HEAD}{TORCH}cxx-flags = [\"-O2\\n-DX\"]\n"),
        &["control character"],
    );
    errs(
        &format!("{HEAD}{TORCH}include = [\"torch-ext/b.cpp\"]\n"),
        &["is not a directory"],
    );
    errs(
        &format!("{HEAD}[torch]\nsrc = [\"k\"]\n"),
        &["`k` is a directory"],
    );
}

#[test]
fn tvm_ffi_rules() {
    ok(&format!("{HEAD}[tvm-ffi]\nsrc = [\"torch-ext/b.cpp\"]\n"));
    errs(
        &format!("{HEAD}[tvm-ffi]\ninclude = []\n"),
        &["`tvm-ffi.src`: missing required key"],
    );
    // xpu has tvm-ffi variants (as in the reference).
    ok(&format!(
        "{}[tvm-ffi]\nsrc = [\"torch-ext/b.cpp\"]\n",
        HEAD.replace("[\"cpu\", \"cuda\"]", "[\"cpu\", \"cuda\", \"xpu\"]")
    ));
    // A backend without tvm-ffi variants is ignored with a warning ...
    warns(
        &format!(
            "{}[tvm-ffi]\nsrc = [\"torch-ext/b.cpp\"]\n",
            HEAD.replace("[\"cpu\", \"cuda\"]", "[\"cpu\", \"rocm\"]")
        ),
        &["tvm-ffi kernels have no `rocm` variants, so this backend is ignored"],
    );
    // ... but nothing to build at all is an error.
    errs(
        &format!(
            "{}[tvm-ffi]\nsrc = []\n",
            HEAD.replace("[\"cpu\", \"cuda\"]", "[\"rocm\"]")
        ),
        &["no backend of this kernel has tvm-ffi variants"],
    );
}

#[test]
fn noarch_rules() {
    let (c, _) = ok(&format!(
        "{}[torch-noarch]\ncuda-capabilities = [\"8.0\"]\nrocm-archs = [\"gfx942\"]\n",
        HEAD.replace("[\"cpu\", \"cuda\"]", "[\"cuda\", \"rocm\", \"neuron\"]")
    ));
    assert!(matches!(c.framework, Framework::TorchNoarch(_)));
    errs(&format!("{HEAD}[torch-noarch]\n[kernel.x]\nbackend = \"cpu\"\ndepends = []\nsrc = [\"k/a.cpp\"]\n"), &["cannot have `[kernel.*]` sections"]);
    errs(
        &format!("{HEAD}[torch-noarch]\nsrc = []\n"),
        &["`torch-noarch.src`: unknown key"],
    );
    // The reference's spelling of the lists is read too; both at once is ambiguous.
    let (c, _) = ok(&format!(
        "{}[torch-noarch]\ncuda_capabilities = [\"8.0\"]\nrocm_archs = [\"gfx942\"]\n",
        HEAD.replace("[\"cpu\", \"cuda\"]", "[\"cuda\", \"rocm\"]")
    ));
    let Framework::TorchNoarch(n) = &c.framework else {
        panic!()
    };
    assert_eq!(n.rocm_archs.as_deref(), Some(&["gfx942".to_string()][..]));
    assert_eq!(n.cuda_capabilities.as_ref().unwrap().len(), 1);
    errs(
        &format!("{HEAD}[torch-noarch]\ncuda_capabilities = [\"8.0\"]\ncuda-capabilities = [\"9.0\"]\n"),
        &["`torch-noarch.cuda_capabilities`: `cuda_capabilities` and `cuda-capabilities` are the same key"],
    );
    // Unknown keys list the known ones, also without `edition`.
    errs(
        "[general]\nname = \"relu\"\nlicense = \"MIT\"\nbackends = [\"cuda\"]\n[torch-noarch]\npyexts = [\"py\"]\n",
        &["did you mean `pyext`? Known keys in [torch-noarch]: pyext, cuda-capabilities"],
    );
    // Older files: general.cuda.capabilities and the noarch list both set.
    errs(
        "[general]\nname = \"relu\"\nlicense = \"MIT\"\nbackends = [\"cuda\"]\n[general.cuda]\ncapabilities = [\"8.0\"]\n[torch-noarch]\ncuda_capabilities = [\"9.0\"]\n",
        &["`general.cuda.capabilities`: set both here and in `torch-noarch.cuda-capabilities`"],
    );
}

fn kernel(body: &str) -> String {
    format!("{HEAD}{TORCH}\n[kernel.k]\n{body}")
}

#[test]
fn kernel_rules() {
    ok(&kernel("backend = \"cuda\"\ndepends = [\"torch\", \"cutlass_4_0\"]\nsrc = [\"k/a.cu\"]\ncuda-capabilities = [\"8.0\", \"9.0a\", \"10.0f\", \"12.1+PTX\"]\ncuda-flags = [\"-lineinfo\"]\ncuda-minver = \"12.8\"\ninclude = [\"inc\"]\n"));
    errs(
        &kernel("backend = \"gpu\"\ndepends = []\nsrc = []\n"),
        &["unknown backend `gpu`"],
    );
    // Dead section: the reference accepts it and never builds it.
    warns(
        &kernel("backend = \"rocm\"\ndepends = []\nsrc = [\"k/a.hip\"]\n"),
        &["`kernel.k.backend`: backend `rocm` is not listed in `general.backends`, so this kernel is never built"],
    );
    errs(
        &kernel("backend = \"cpu\"\ndepends = []\nsrc = [\"k/a.cpp\"]\nhip-flags = [\"-O3\"]\n"),
        &["`hip-flags` only applies to rocm kernels"],
    );
    errs(
        &kernel("backend = \"cpu\"\ndepends = []\nsrc = [\"k/a.cpp\"]\nsrcs = []\n"),
        &["`kernel.k.srcs`: unknown key", "did you mean `src`?"],
    );
    errs(
        &kernel("backend = \"cpu\"\ndepends = []\n"),
        &["`kernel.k.src`: missing required key"],
    );
    errs(
        &kernel("backend = \"cpu\"\nsrc = [\"k/a.cpp\"]\n"),
        &["`kernel.k.depends`: missing required key"],
    );
    errs(
        &kernel("depends = []\nsrc = [\"k/a.cpp\"]\n"),
        &["`kernel.k.backend`: missing required key"],
    );
    errs(
        &kernel("backend = \"cpu\"\ndepends = [\"torh\"]\nsrc = [\"k/a.cpp\"]\n"),
        &["unknown dependency `torh`", "did you mean `torch`?"],
    );
    errs(
        &kernel("backend = \"cpu\"\ndepends = [\"cutlass_4_0\"]\nsrc = [\"k/a.cpp\"]\n"),
        &["`cutlass_4_0` is a cuda dependency"],
    );
    errs(&format!("{HEAD}{TORCH}\n[kernel.\"a;b\"]\nbackend = \"cpu\"\ndepends = []\nsrc = [\"k/a.cpp\"]\n"), &["cannot be used as a kernel section name"]);
    // Any name that is safe in generated files is accepted.
    ok(&format!("{HEAD}{TORCH}\n[kernel._qattn_sm90]\nbackend = \"cpu\"\ndepends = []\nsrc = [\"k/a.cpp\"]\n"));
    errs(
        &format!(
            "{}{TORCH}\n[kernel.k]\nbackend = \"neuron\"\ndepends = []\nsrc = [\"k/a.cpp\"]\n",
            HEAD.replace("[\"cpu\", \"cuda\"]", "[\"cpu\", \"neuron\"]")
        ),
        &["cannot be compiled"],
    );
}

#[test]
fn capability_rules() {
    for bad in ["sm_90", "8.0a", "8", "12.1+ptx"] {
        errs(&kernel(&format!("backend = \"cuda\"\ndepends = []\nsrc = [\"k/a.cu\"]\ncuda-capabilities = [\"{bad}\"]\n")), &["cuda-capabilities[0]"]);
    }
    errs(
        &kernel("backend = \"cuda\"\ndepends = []\nsrc = [\"k/a.cu\"]\ncuda-capabilities = []\n"),
        &["empty capability list"],
    );
    // Well-formed but nonexistent: dropped with a warning ...
    let (c, _) = warns(
        &kernel("backend = \"cuda\"\ndepends = []\nsrc = [\"k/a.cu\"]\ncuda-capabilities = [\"8.0\", \"11.8\"]\n"),
        &["`kernel.k.cuda-capabilities[1]`: `11.8`: compute capability 11.8 does not exist, so it is ignored"],
    );
    assert_eq!(c.kernels["k"].cuda_capabilities.as_ref().unwrap().len(), 1);
    // ... and an error, naming the kernel, when none is left.
    errs(
        &kernel("backend = \"cuda\"\ndepends = []\nsrc = [\"k/a.cu\"]\ncuda-capabilities = [\"9.1\", \"11.8\"]\n"),
        &["kernel `k` has no CUDA capability left: none of [9.1, 11.8] exists"],
    );
}

#[test]
fn rocm_arch_rules() {
    let head = HEAD.replace("[\"cpu\", \"cuda\"]", "[\"rocm\"]");
    ok(&format!("{head}{TORCH}\n[kernel.k]\nbackend = \"rocm\"\ndepends = []\nsrc = [\"k/a.hip\"]\nrocm-archs = [\"gfx90a\", \"gfx942:xnack-\"]\nhip-flags = [\"-O3\"]\n"));
    errs(&format!("{head}{TORCH}\n[kernel.k]\nbackend = \"rocm\"\ndepends = []\nsrc = [\"k/a.hip\"]\nrocm-archs = [\"sm_80\"]\n"), &["is not a ROCm architecture"]);
}

#[test]
fn adversarial_paths_are_rejected() {
    let d = kernel_dir();
    std::os::unix::fs::symlink("/etc/passwd", d.path().join("k/evil.cu")).unwrap();
    std::os::unix::fs::symlink("/etc", d.path().join("outside")).unwrap();
    let cases: &[(&str, &str)] = &[
        ("../x.cpp", "contains `..`"),
        ("k/../../x.cpp", "contains `..`"),
        ("/etc/passwd", "absolute path"),
        ("~/x.cpp", "absolute path"),
        ("k/a\\\"b.cpp", "contains '\"'"),
        ("k/$(id).cpp", "contains '$'"),
        ("k/`id`.cpp", "contains '`'"),
        ("k/a;b.cpp", "contains ';'"),
        ("k/a\\nb.cpp", "contains '\\n'"),
        ("k/a b.cpp", "contains ' '"),
        ("k/evil.cu", "symlink out of the kernel directory"),
        ("outside/passwd", "symlink out of the kernel directory"),
        ("k/missing.cu", "does not exist"),
        ("", "empty path"),
    ];
    for (path, msg) in cases {
        let src = format!("{HEAD}[torch]\nsrc = [\"{path}\"]\n");
        let e = parse_in(d.path(), &src)
            .err()
            .unwrap_or_else(|| panic!("{path:?} accepted"));
        assert!(
            e.iter()
                .any(|m| m.contains(msg) && m.contains("torch.src[0]")),
            "{path:?}: {e:?}"
        );
    }
    // A symlink that stays inside the tree is fine.
    std::os::unix::fs::symlink("a.cpp", d.path().join("k/link.cpp")).unwrap();
    parse_in(
        d.path(),
        &format!("{HEAD}[torch]\nsrc = [\"k/link.cpp\"]\n"),
    )
    .unwrap();
}

#[test]
fn all_errors_are_reported_at_once() {
    let e = errs(
        &format!(
            "{}\n[torch]\nsrc = [\"nope.cpp\"]\nfoo = 1\n",
            HEAD.replace("\"relu\"", "\"Relu\"")
        ),
        &[
            "is not a valid kernel name",
            "does not exist",
            "`torch.foo`: unknown key",
        ],
    );
    assert!(e.len() >= 3);
}

// ------------------------------------------------------------- editions

#[test]
fn edition3_without_framework_is_noarch() {
    let (c, w) = ok("[general]\nname = \"relu\"\nlicense = \"MIT\"\nbackends = [\"cuda\"]\n");
    assert_eq!(c.source_edition, 3);
    assert_eq!(c.general.version, 1);
    assert!(matches!(c.framework, Framework::TorchNoarch(_)));
    assert!(
        w.iter()
            .any(|w| w.contains("edition-3 format") && w.contains("update-build")),
        "{w:?}"
    );
}

#[test]
fn edition3_requires_license() {
    errs(
        "[general]\nname = \"relu\"\nbackends = [\"cuda\"]\n[torch]\nsrc = [\"torch-ext/b.cpp\"]\n",
        &["missing `license`", "update-build"],
    );
}

#[test]
fn edition4_general_capabilities_move_to_kernels() {
    let src = "[general]\nname = \"relu\"\nversion = 3\nlicense = \"MIT\"\nbackends = [\"cuda\", \"rocm\"]\n\n[general.cuda]\ncapabilities = [\"8.0\", \"9.0\"]\n\n[general.rocm]\narchs = [\"gfx942\"]\n\n[torch]\nsrc = [\"torch-ext/b.cpp\"]\nstable-abi = \"2.11\"\n\n[kernel.a]\nbackend = \"cuda\"\ndepends = [\"torch\"]\nsrc = [\"k/a.cu\"]\n\n[kernel.b]\nbackend = \"rocm\"\ndepends = [\"torch\"]\nsrc = [\"k/a.hip\"]\n";
    let (c, w) = ok(src);
    assert_eq!(c.source_edition, 4);
    assert_eq!(c.general.version, 3);
    let caps: Vec<String> = c.kernels["a"]
        .cuda_capabilities
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(caps, ["8.0", "9.0"]);
    assert_eq!(
        c.kernels["b"].rocm_archs.as_deref(),
        Some(&["gfx942".to_string()][..])
    );
    assert!(w.iter().any(|w| w.contains("edition-4")));
}

#[test]
fn edition4_rejects_edition5_only_keys_and_vice_versa() {
    errs("[general]\nname = \"relu\"\nversion = 1\nlicense = \"MIT\"\nbackends = [\"cpu\"]\nminver = \"0.17.0\"\n[torch]\nsrc = [\"torch-ext/b.cpp\"]\n", &["`general.minver`: unknown key"]);
    errs("[general]\nname = \"relu\"\nversion = 1\nlicense = \"MIT\"\nbackends = [\"cpu\"]\n[torch]\nsrc = [\"torch-ext/b.cpp\"]\nstable-abi = { cpu = \"2.11\" }\n", &["expected a Torch version string"]);
    errs(
        &format!("{HEAD}[general.rocm]\narchs = [\"gfx90a\"]\n{TORCH}"),
        &["`general.rocm`: unknown key"],
    );
}

/// Flags that no generated CMake or nvcc could pass on as one unchanged
/// argument are refused with the reason; everything else is accepted.
#[test]
fn flags_that_cannot_reach_the_compiler_unchanged() {
    let cpu = |flags: &str| {
        format!(
            "{HEAD}{TORCH}[kernel.k]\nbackend = \"cpu\"\ndepends = [\"torch\"]\nsrc = [\"k/a.cpp\"]\ncxx-flags = {flags}\n"
        )
    };
    let cuda = |key: &str, flags: &str| {
        format!(
            "{HEAD}{TORCH}[kernel.k]\nbackend = \"cuda\"\ndepends = [\"torch\"]\nsrc = [\"k/a.cu\"]\n{key} = {flags}\n"
        )
    };
    // CMake and generator-expression syntax is carried as written.
    ok(&cpu(
        r#"['-DA=$<1:G>', '-DB="x y">z', '-DC=${V}', '-Dd=a,b', '-DE=a\b']"#,
    ));
    ok(&format!(
        "{HEAD}{TORCH}cxx-flags = ['-DA=$<TARGET_FILE_NAME:x>', '\"-O2\"']\n"
    ));
    errs(
        &cpu(r#"["-DX=1;-DY=2"]"#),
        &[
            "`kernel.k.cxx-flags[0]`",
            "contains `;`",
            "own list element",
        ],
    );
    errs(
        &format!("{HEAD}{TORCH}cxx-flags = [\"SHELL:-O2 -g\"]\n"),
        &["`torch.cxx-flags[0]`", "starts with `SHELL:`"],
    );
    // nvcc: host flags are split at commas; everything goes through `sh`.
    ok(&cuda(
        "cuda-flags",
        r#"["-Xptxas=-v,-warn-spills", "--use_fast_math"]"#,
    ));
    ok(&cuda("cxx-flags", r#"["-Wno-unused", "-DX=1"]"#));
    errs(
        &cuda("cxx-flags", r#"["-Wl,-z,now"]"#),
        &[
            "`kernel.k.cxx-flags[0]`",
            "-Xcompiler=-Wl,-z,now",
            "splits it at every comma",
        ],
    );
    errs(
        &cuda("cuda-flags", r#"['-DX=a$b']"#),
        &["`kernel.k.cuda-flags[0]`", "'$'", "through a shell"],
    );
    errs(
        &cuda("cxx-flags", r#"['-DX="a"']"#),
        &["`kernel.k.cxx-flags[0]`", "through a shell"],
    );
}

/// Branch names the Hub (and upload) refuse are refused by check-config.
#[test]
fn hub_branch_names_upload_would_refuse() {
    for b in [
        "refs/heads/main",
        "v1.lock",
        "v1/",
        ".v1",
        "a/.b",
        "-v1",
        "a..b",
    ] {
        errs(
            &format!("{HEAD}[general.hub]\nrepo-id = \"org/relu\"\nbranch = \"{b}\"\n{TORCH}"),
            &["`general.hub.branch`", "is not a valid branch name"],
        );
        assert!(kb_hub::check_branch(b).is_err(), "{b}");
    }
    ok(&format!(
        "{HEAD}[general.hub]\nrepo-id = \"org/relu\"\nbranch = \"v1\"\n{TORCH}"
    ));
    ok(&format!(
        "{HEAD}[general.hub]\nrepo-id = \"org/relu\"\nbranch = \"release/v1.2\"\n{TORCH}"
    ));
}

/// A name whose ops name would pass only in a clean Git tree is refused;
/// the longest allowed one gives a valid ops name even when dirty.
#[test]
fn kernel_names_too_long_for_the_ops_name() {
    let n43 = format!("k{}", "a".repeat(42));
    let longest = kb_core::ops_id::ops_name(&n43, "neuron", "abcdef0_dirty");
    assert!(kb_core::ops_id::check_unique_id(longest.trim_start_matches('_')).is_ok());
    ok(&format!("{HEAD}{TORCH}").replace("name = \"relu\"", &format!("name = \"{n43}\"")));
    let n44 = format!("{n43}a");
    errs(
        &format!("{HEAD}{TORCH}").replace("name = \"relu\"", &format!("name = \"{n44}\"")),
        &["`general.name`", "44 characters long", "at most 43"],
    );
}

/// A Python keyword as the package name builds and loads (the loader uses
/// importlib) but `import <name>` does not parse: a warning with a fix.
#[test]
fn python_keyword_names_warn() {
    let (_, w) = warns(
        &format!("{HEAD}{TORCH}").replace("name = \"relu\"", "name = \"class\""),
        &[
            "`general.name`",
            "`class` is a Python keyword",
            "class-kernel",
        ],
    );
    let keyword = |w: &[String]| w.iter().filter(|m| m.contains("Python keyword")).count();
    assert_eq!(keyword(&w), 1, "{w:?}");
    let (_, w) = ok(&format!("{HEAD}{TORCH}").replace("name = \"relu\"", "name = \"classy\""));
    assert_eq!(keyword(&w), 0, "{w:?}");
}
