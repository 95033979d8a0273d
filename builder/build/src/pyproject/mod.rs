//! The generated CMake/setuptools project for one variant of the plan.
//!
//! Every value comes from the plan (variant name, ops name, capabilities,
//! sources, flags). Strings are escaped for the language they land in by the
//! template filters (`cmake`, `py`, `toml`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kb_core::config::Backend;
use kb_core::plan::{Plan, Variant};
use kb_core::{bail, Context, Framework, Result};
use minijinja::{Environment, Value};
use serde::Serialize;

/// The CMake target of the module: it is linked as `<MODULE_TARGET><suffix>`
/// and copied to `<ops name><suffix>` (the ops name is not in CMake).
pub const MODULE_TARGET: &str = "kb_module";

const CMAKELISTS: &str = include_str!("templates/CMakeLists.txt.j2");
const KB_CMAKE: &str = include_str!("templates/kernel-builder.cmake");
const EMBED_CMAKE: &str = include_str!("templates/embed-binary.cmake");
const MODULE_NAME_CMAKE: &str = include_str!("templates/module-name.cmake");
const HIPIFY_PY: &str = crate::scripts::HIPIFY;
const REGISTRATION_H: &str = include_str!("templates/registration.h");
const OPS_PY: &str = include_str!("templates/_ops.py.j2");
const SETUP_PY: &str = include_str!("templates/setup.py.j2");
const PYPROJECT: &str = include_str!("templates/pyproject.toml.j2");

/// Generated files, relative path -> contents (sorted: deterministic output).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Generated {
    pub files: BTreeMap<PathBuf, String>,
    pub ops_name: String,
    pub variant: String,
}

/// Quote and escape a string as one CMake argument.
pub fn cmake_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("\\$"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One compiler argument, quoted for CMake and opaque to generator
/// expressions: the only way build.toml flags reach the generated CMake.
/// Every place the value lands (`COMPILE_OPTIONS`, custom commands)
/// evaluates generator expressions, so `$` and `>` are spelled as
/// expressions that yield themselves (`$<1:$>`, `$<ANGLE-R>`). `;` cannot be
/// carried and is refused by `check-config` (`kb_core::config::check_flag`).
pub fn cmake_arg(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '$' => out.push_str("$<1:$>"),
            '>' => out.push_str("$<ANGLE-R>"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_quote(s: &str) -> String {
    serde_json::to_string(s).expect("strings serialize")
}

fn env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .keep_trailing_newline(true)
            .build()
            .expect("default delimiters are valid"),
    );
    env.add_filter("cmake", |v: Value| cmake_quote(&v.to_string()));
    env.add_filter("cmake_arg", |v: Value| cmake_arg(&v.to_string()));
    env.add_filter("py", |v: Value| json_quote(&v.to_string()));
    env.add_filter("toml", |v: Value| json_quote(&v.to_string()));
    env
}

#[derive(Serialize)]
struct KernelCtx {
    name: String,
    backend: String,
    src: Vec<String>,
    include: Vec<String>,
    cxx_flags: Vec<String>,
    cuda_flags: Vec<String>,
    cuda_capabilities: Vec<String>,
    rocm_archs: Vec<String>,
    hip_flags: Vec<String>,
    sycl_flags: Vec<String>,
    /// Definitions of the kernel's dependencies.
    defines: Vec<String>,
    /// CMake variables of the kernel's dependencies (`<var>_INCLUDE_DIRS`).
    dep_vars: Vec<String>,
}

#[derive(Serialize)]
struct DependencyCtx {
    name: String,
    version: Option<String>,
    var: String,
    include: Vec<String>,
    how: String,
}

#[derive(Serialize)]
struct SyclCtx {
    targets: String,
    devices: String,
    options: String,
}

/// Libraries Torch's CMake config links into CUDA extensions besides its
/// own (`Caffe2_PUBLIC_CUDA_DEPENDENCY_LIBS`: cuBLAS + cuBLASLt, cuRAND,
/// cuFFT; torch 2.15 share/cmake/Caffe2/public/cuda.cmake) and the ones whose
/// headers `ATen/cuda/CUDAContextLight.h` includes (cuSPARSE, cuSOLVER).
const CUDA_MATH_LIBS: &[&str] = &[
    "cublas", "cublasLt", "cusparse", "cusolver", "cufft", "curand",
];
/// The ROCm counterparts (torch's LoadHIP.cmake: hipBLAS/hipBLASLt/rocBLAS,
/// hipSPARSE, hipSOLVER, hipFFT, hipRAND).
const HIP_MATH_LIBS: &[&str] = &[
    "hipblas",
    "hipblaslt",
    "rocblas",
    "hipsparse",
    "hipsolver",
    "hipfft",
    "hiprand",
];

/// Ahead-of-time SYCL targets. Facts from the reference kernel-builder's
/// CMake (torch/preamble.cmake and xpu/dep-sycl-tla.cmake, 2026-08): by
/// default `spir64_gen,spir64` with AOT images for pvc, xe-lpg and ats-m150;
/// kernels using sycl-tla on oneAPI 2026.0 get pvc, bmg-g21 (Xe2) and cri.
fn sycl_targets(variant: &Variant) -> SyclCtx {
    let uses_tla = variant
        .kernels
        .iter()
        .any(|k| k.depends.iter().any(|d| d == "sycl_tla"));
    let v2026 = variant
        .toolkit
        .as_ref()
        .is_some_and(|t| t.0.first().copied().unwrap_or(0) >= 2026);
    let devices = if uses_tla && v2026 {
        "pvc,bmg-g21,cri"
    } else {
        "pvc,xe-lpg,ats-m150"
    };
    SyclCtx {
        targets: "spir64_gen,spir64".into(),
        devices: devices.into(),
        options: " -cl-intel-enable-auto-large-GRF-mode -cl-poison-unsupported-fp64-kernels -cl-intel-greater-than-4GB-buffer-required".into(),
    }
}

fn backend_define(b: Backend) -> &'static str {
    match b {
        Backend::Cpu => "CPU_KERNEL",
        Backend::Cuda => "CUDA_KERNEL",
        Backend::Rocm => "ROCM_KERNEL",
        Backend::Xpu => "XPU_KERNEL",
        Backend::Metal => "METAL_KERNEL",
        Backend::Neuron => "NEURON_KERNEL",
        Backend::Tpu => "TPU_KERNEL",
        Backend::Cann => "CANN_KERNEL",
    }
}

/// Torch's encoding of a target version: major << 56 | minor << 48.
fn stable_abi_hex(v: &kb_core::config::Version) -> String {
    let major = v.0.first().copied().unwrap_or(0);
    let minor = v.0.get(1).copied().unwrap_or(0);
    format!("0x{:016X}", (major << 56) | (minor << 48))
}

/// Directories (relative to the kernel root) holding binding sources, sorted.
fn binding_dirs(src: &[String]) -> Vec<String> {
    let mut dirs: Vec<String> = src
        .iter()
        .filter_map(|s| {
            Path::new(s)
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .filter(|d| !d.is_empty())
        .collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// The variant `create-pyproject` generates for, and why.
#[derive(Debug)]
pub struct VariantChoice<'p> {
    pub variant: &'p Variant,
    /// Set when the host has no variant of the kernel (a Metal-only kernel
    /// on Linux): the project is still generated, for editing, for another
    /// system's variant; this says which and lists the choices.
    pub note: Option<String>,
}

/// `wanted` when given; else a variant of `host`: the last (newest) of
/// backend `prefer`, else the last. When the host has none, the same pick
/// among all variants, with a note. An error only for an unknown `wanted`
/// or a plan without variants.
pub fn choose_variant<'p>(
    plan: &'p Plan,
    wanted: Option<&str>,
    host: &str,
    prefer: Backend,
) -> Result<VariantChoice<'p>> {
    if let Some(w) = wanted {
        return match plan.variant(w) {
            Some(variant) => Ok(VariantChoice {
                variant,
                note: None,
            }),
            None => bail!(
                "`{w}` is not a variant of this kernel; `kernel-builder list-variants` shows them"
            ),
        };
    }
    let pick = |vs: Vec<&'p Variant>| {
        vs.iter()
            .rev()
            .find(|v| v.backend == prefer)
            .or(vs.last())
            .copied()
    };
    let on_host = plan
        .variants
        .iter()
        .filter(|v| v.system.as_deref().is_none_or(|s| s == host))
        .collect();
    if let Some(variant) = pick(on_host) {
        return Ok(VariantChoice {
            variant,
            note: None,
        });
    }
    let Some(variant) = pick(plan.variants.iter().collect()) else {
        bail!("this kernel has no variants at all; check the version bounds in build.toml");
    };
    let choices: Vec<&str> = plan.variants.iter().map(|v| v.name.as_str()).collect();
    Ok(VariantChoice {
        variant,
        note: Some(format!(
            "this kernel has no variant for {host}; generating the project for `{}`, which builds on {} (choices: {}; pick one with --variant)",
            variant.name,
            variant.system.as_deref().unwrap_or("any system"),
            choices.join(", ")
        )),
    })
}

/// The unique id of a kernel outside git: derived from its content
/// (`build.toml`, the sources of every variant and kernel, the Python
/// package without generated files), so generating twice gives the same
/// project.
pub fn content_unique_id(root: &Path, plan: &Plan) -> String {
    let mut files = vec!["build.toml".to_string()];
    for v in &plan.variants {
        files.extend(v.src.iter().cloned());
        for k in &v.kernels {
            files.extend(k.src.iter().cloned());
        }
    }
    let pkg = &plan.kernel.python_package;
    let mut stack = vec![PathBuf::from(pkg)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.')
                || name == "__pycache__"
                || name == "_ops.py"
                || name.ends_with(".so")
            {
                continue;
            }
            let rel = dir.join(&name);
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(rel),
                Ok(t) if t.is_file() => files.push(rel.to_string_lossy().into_owned()),
                _ => {}
            }
        }
    }
    kb_core::ops_id::content_id(root, &files)
}

/// Whether the variant compiles a native extension.
pub fn is_native(variant: &Variant) -> bool {
    variant.framework != Framework::TorchNoarch
}

/// Generate the project for `variant`. `root` is the kernel directory as seen
/// from the generated `CMakeLists.txt`: `None` when both are the same directory.
pub fn generate(
    plan: &Plan,
    variant: &Variant,
    root: Option<&Path>,
    ops_name: &str,
) -> Result<Generated> {
    if kb_core::ops_id::check_unique_id(ops_name.trim_start_matches('_')).is_err() {
        bail!("invalid ops name `{ops_name}`");
    }
    let env = env();
    let native = is_native(variant);
    let mut files = BTreeMap::new();
    let pkg = &plan.kernel.python_package;
    let tvm_ffi = variant.framework == Framework::TvmFfi;
    let framework_requirement = match &variant.tvm_ffi {
        Some(t) => format!("apache-tvm-ffi=={}.*", t.version.major_minor()),
        None => "torch".to_string(),
    };
    let dependency_vars: Vec<String> = variant
        .external_depends()?
        .iter()
        .filter_map(|(_, d)| d.env.clone())
        .collect();
    let common = minijinja::context! {
        builder_version => env!("CARGO_PKG_VERSION"),
        variant => minijinja::context! { name => variant.name.clone(), backend => variant.backend.as_str() },
        ops_name => ops_name,
        python_name => plan.kernel.python_name.clone(),
        package_dir => pkg.clone(),
        version => plan.kernel.version,
        python_depends => variant.python_depends.clone(),
        native => native,
        tvm_ffi => tvm_ffi,
        module_suffix => if tvm_ffi { ".so" } else { ".abi3.so" },
        framework_requirement => framework_requirement,
        dependency_vars => dependency_vars,
    };
    let render = |tpl: &str, ctx: &Value| -> Result<String> {
        env.render_str(tpl, ctx)
            .context("rendering a built-in template")
    };

    if native {
        let root_expr = match root {
            None => "\"${CMAKE_CURRENT_LIST_DIR}\"".to_string(),
            Some(p) => cmake_quote(&p.to_string_lossy()),
        };
        let data = kb_core::config::depends::get();
        let deps = variant.external_depends()?;
        let kernels: Vec<KernelCtx> = variant
            .kernels
            .iter()
            .map(|k| {
                let ext: Vec<&kb_core::config::depends::Dependency> = k
                    .depends
                    .iter()
                    .filter_map(|d| data.dependency.get(d))
                    .filter(|d| d.is_external())
                    .collect();
                KernelCtx {
                    defines: ext.iter().flat_map(|d| d.defines.clone()).collect(),
                    dep_vars: ext.iter().filter_map(|d| d.env.clone()).collect(),
                    name: k.name.clone(),
                    backend: k.backend.as_str().to_string(),
                    src: k.src.clone(),
                    include: k.include.clone(),
                    cxx_flags: k.cxx_flags.clone(),
                    cuda_flags: k.cuda_flags.clone(),
                    cuda_capabilities: k.cuda_capabilities.iter().map(|c| c.to_string()).collect(),
                    rocm_archs: k.rocm_archs.clone(),
                    hip_flags: k.hip_flags.clone(),
                    sycl_flags: k.sycl_flags.clone(),
                }
            })
            .collect();
        let dependencies: Vec<DependencyCtx> = deps
            .iter()
            .map(|(name, d)| DependencyCtx {
                name: name.to_string(),
                version: d.version.clone(),
                var: d.env.clone().unwrap_or_default(),
                include: d.include.clone(),
                how: format!(
                    "`kernel-builder build` provisions it; otherwise {}.",
                    d.how_to_provide(name)
                ),
            })
            .collect();
        let (cuda_math_libs, hip_math_libs): (&[&str], &[&str]) = match variant.backend {
            Backend::Cuda => (CUDA_MATH_LIBS, &[]),
            Backend::Rocm => (&[], HIP_MATH_LIBS),
            _ => (&[], &[]),
        };
        let sycl = (variant.backend == Backend::Xpu).then(|| sycl_targets(variant));
        let has_source = |suffix: &str| {
            variant
                .kernels
                .iter()
                .flat_map(|k| k.src.iter())
                .chain(variant.src.iter())
                .any(|s| s.ends_with(suffix))
        };
        let objcxx = has_source(".mm");
        // C is enabled only for C sources: CMake's C detection costs a
        // noticeable part of a clean configure (the glibc compat source is
        // compiled as C++).
        let c_lang = has_source(".c");
        let cxx_standard = variant
            .torch
            .as_ref()
            .or(variant.tvm_ffi.as_ref())
            .map(|t| t.cxx_standard)
            .unwrap_or(17);
        let ctx = minijinja::context! {
            ..common.clone(),
            ..minijinja::context! {
                cxx_standard => cxx_standard,
                module_target => MODULE_TARGET,
                stable_abi_hex => variant.stable_abi.as_ref().map(stable_abi_hex).unwrap_or_default(),
                backend_define => backend_define(variant.backend),
                bindings => variant.src.clone(),
                binding_dirs => binding_dirs(&variant.src),
                framework_include => variant.include.clone(),
                framework_cxx_flags => variant.cxx_flags.clone(),
                kernels => Value::from(minijinja::value::Serde(&kernels)),
                objcxx => objcxx,
                c_lang => c_lang,
                dependencies => Value::from(minijinja::value::Serde(&dependencies)),
                cuda_math_libs => cuda_math_libs.to_vec(),
                hip_math_libs => hip_math_libs.to_vec(),
                sycl => sycl.as_ref().map(|s| Value::from(minijinja::value::Serde(s))),
                // Pre-rendered CMake (quoted and escaped above).
                root_expr => root_expr,
            }
        };
        files.insert(PathBuf::from("CMakeLists.txt"), render(CMAKELISTS, &ctx)?);
        files.insert(
            PathBuf::from("cmake/kernel-builder.cmake"),
            KB_CMAKE.to_string(),
        );
        files.insert(
            PathBuf::from("cmake/embed-binary.cmake"),
            EMBED_CMAKE.to_string(),
        );
        files.insert(
            PathBuf::from("cmake/module-name.cmake"),
            MODULE_NAME_CMAKE.to_string(),
        );
        // The ops name reaches the build only through this header (the
        // bindings include it): CMake never sees it, so a new ops name does
        // not reconfigure nor recompile the kernels.
        let name_macro = if tvm_ffi {
            "TVM_FFI_EXTENSION_NAME"
        } else {
            "TORCH_EXTENSION_NAME"
        };
        files.insert(
            PathBuf::from("cmake/ops_name.h"),
            format!("// Generated by kernel-builder. Do not edit.\n#pragma once\n#define {name_macro} {ops_name}\n"),
        );
        files.insert(PathBuf::from("cmake/hipify.py"), HIPIFY_PY.to_string());
        if !tvm_ffi {
            files.insert(
                PathBuf::from("torch-ext/registration.h"),
                REGISTRATION_H.to_string(),
            );
        }
    }
    files.insert(PathBuf::from(pkg).join("_ops.py"), render(OPS_PY, &common)?);
    files.insert(PathBuf::from("setup.py"), render(SETUP_PY, &common)?);
    files.insert(PathBuf::from("pyproject.toml"), render(PYPROJECT, &common)?);
    Ok(Generated {
        files,
        ops_name: ops_name.to_string(),
        variant: variant.name.clone(),
    })
}

/// Write generated files under `target`. Files whose content is unchanged are
/// left alone (keeps mtimes, so rebuilds stay incremental). Without `force`,
/// an existing file with other content is an error listing every such file.
pub fn write(generated: &Generated, target: &Path, force: bool) -> Result<Vec<PathBuf>> {
    let mut manifest = Manifest::read(target);
    let mut conflicts = Vec::new();
    for (rel, content) in &generated.files {
        let path = target.join(rel);
        if let Ok(existing) = std::fs::read(&path) {
            if existing != content.as_bytes() && !force && !manifest.wrote(rel, &existing) {
                conflicts.push(path);
            }
        }
    }
    if !conflicts.is_empty() {
        bail!(
            "these files exist and are not what kernel-builder generated there (see {MANIFEST}):\n  {}\nmove them away or pass --force to overwrite them",
            conflicts.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join("\n  ")
        );
    }
    // All or nothing: every changed file is first written to a temporary
    // file next to it; only when all are written are they renamed into
    // place. A failure before that removes the temporary files and the
    // directories created for them.
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let staged = stage_files(generated, target, &mut created_dirs);
    let staged = match staged {
        Ok(s) => s,
        Err(e) => {
            for d in created_dirs.iter().rev() {
                let _ = std::fs::remove_dir(d);
            }
            return Err(e);
        }
    };
    let mut written = Vec::new();
    for (path, tmp) in staged {
        tmp.persist(&path)
            .map_err(|e| e.error)
            .with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    for (rel, content) in &generated.files {
        manifest.files.insert(
            rel.to_string_lossy().into_owned(),
            sha256_hex(content.as_bytes()),
        );
    }
    manifest.ops_names.insert(generated.ops_name.clone());
    manifest.variants.insert(generated.variant.clone());
    let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
    let mpath = target.join(MANIFEST);
    kb_core::fsutil::write_atomic(&mpath, &bytes)
        .with_context(|| format!("writing {}", mpath.display()))?;
    Ok(written)
}

/// What `create-pyproject` wrote into a directory, so that it overwrites
/// (without --force) and `clean-pyproject` removes only that.
pub const MANIFEST: &str = ".kernel-builder-pyproject.json";

#[derive(Debug, Default, Serialize, serde::Deserialize)]
struct Manifest {
    /// Relative path -> SHA-256 of the content written.
    files: BTreeMap<String, String>,
    /// Ops names generated (the editable build's module is `<ops>.abi3.so`).
    ops_names: std::collections::BTreeSet<String>,
    /// Variants generated (setup.py builds in `build/cmake-<variant>`).
    variants: std::collections::BTreeSet<String>,
}

impl Manifest {
    fn read(target: &Path) -> Manifest {
        kb_core::fsutil::read_regular(&target.join(MANIFEST))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Whether `content` at `rel` is what we wrote there.
    fn wrote(&self, rel: &Path, content: &[u8]) -> bool {
        self.files
            .get(rel.to_string_lossy().as_ref())
            .is_some_and(|h| *h == sha256_hex(content))
    }
}

fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// `rel` below `target` with no symbolic link on the way (the file itself
/// included), so removing it cannot reach outside `target`.
fn no_links_below(target: &Path, rel: &Path) -> bool {
    let mut p = target.to_path_buf();
    for c in rel.components() {
        match c {
            std::path::Component::Normal(n) => p.push(n),
            _ => return false,
        }
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => return false,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    true
}

/// The changed files of `generated`, each written to a temporary file in its
/// destination directory (created as needed, recorded in `created_dirs`).
fn stage_files(
    generated: &Generated,
    target: &Path,
    created_dirs: &mut Vec<PathBuf>,
) -> Result<Vec<(PathBuf, tempfile::NamedTempFile)>> {
    use std::io::Write;
    let mut staged = Vec::new();
    for (rel, content) in &generated.files {
        let path = target.join(rel);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(content.as_str()) {
            continue;
        }
        if std::fs::symlink_metadata(&path).is_ok_and(|m| !m.is_file()) {
            bail!(
                "{} exists and is not a regular file; move it away",
                path.display()
            );
        }
        let parent = path.parent().unwrap_or(target);
        let mut missing: Vec<PathBuf> = parent
            .ancestors()
            .take_while(|a| !a.exists())
            .map(Path::to_path_buf)
            .collect();
        missing.reverse();
        for d in missing {
            std::fs::create_dir(&d).with_context(|| format!("creating {}", d.display()))?;
            created_dirs.push(d);
        }
        let write = || -> std::io::Result<tempfile::NamedTempFile> {
            let mut tmp = tempfile::NamedTempFile::new_in(parent)?;
            tmp.write_all(content.as_bytes())?;
            use std::os::unix::fs::PermissionsExt;
            let mode = match std::fs::metadata(&path) {
                Ok(m) => m.permissions().mode(),
                Err(_) => kb_core::fsutil::new_file_mode(false),
            };
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))?;
            Ok(tmp)
        };
        let tmp = write().with_context(|| format!("writing {}", path.display()))?;
        staged.push((path, tmp));
    }
    Ok(staged)
}

/// Files `clean-pyproject` removes under `target`: what `create-pyproject`
/// recorded in its manifest and is unchanged since, the editable build's
/// modules of the recorded ops names (`<package>/<ops>.abi3.so`, narrowed to
/// those containing `ops_id` when given), the CMake directories of the
/// recorded variants (`build/cmake-<variant>`), and the manifest. Nothing
/// reached through a symbolic link.
pub fn clean_candidates(target: &Path, python_package: &str, ops_id: Option<&str>) -> Vec<PathBuf> {
    let m = Manifest::read(target);
    let mut out = Vec::new();
    for rel in m.files.keys() {
        let rel = Path::new(rel);
        if !no_links_below(target, rel) {
            continue;
        }
        let p = target.join(rel);
        if std::fs::read(&p).is_ok_and(|c| m.wrote(rel, &c)) {
            out.push(p);
        }
    }
    for ops in &m.ops_names {
        if ops_id.is_some_and(|id| !ops.contains(id)) {
            continue;
        }
        for suffix in [".abi3.so", ".so"] {
            let rel = Path::new(python_package).join(format!("{ops}{suffix}"));
            if no_links_below(target, &rel) && target.join(&rel).is_file() {
                out.push(target.join(rel));
            }
        }
    }
    for v in &m.variants {
        let rel = Path::new("build").join(format!("cmake-{v}"));
        if no_links_below(target, &rel) && target.join(&rel).is_dir() {
            out.push(target.join(rel));
        }
    }
    if !out.is_empty() || target.join(MANIFEST).is_file() {
        out.push(target.join(MANIFEST));
    }
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use kb_core::config::{self, Backend};
    use kb_core::matrix::Matrix;
    use kb_core::plan::{self, Plan, Systems};

    use super::{choose_variant, cmake_arg};

    /// A failure part-way (here: a directory where a generated file goes)
    /// leaves nothing behind: no file written, no directory created.
    #[test]
    fn write_is_all_or_nothing() {
        let d = tempfile::tempdir().unwrap();
        let mut g = super::Generated::default();
        g.files.insert(
            "a/setup.py".into(),
            "# Generated by kernel-builder\n".into(),
        );
        g.files.insert("b/x.txt".into(), "x".into());
        g.files.insert("c/blocked".into(), "y".into());
        std::fs::create_dir_all(d.path().join("c/blocked")).unwrap();
        assert!(super::write(&g, d.path(), true).is_err());
        let mut left: Vec<String> = walkdir_names(d.path());
        left.sort();
        assert_eq!(left, vec!["c", "c/blocked"]);
        // Without the obstacle everything is written.
        std::fs::remove_dir_all(d.path().join("c")).unwrap();
        assert_eq!(super::write(&g, d.path(), true).unwrap().len(), 3);
    }

    fn walkdir_names(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                out.push(p.strip_prefix(root).unwrap().display().to_string());
                if p.is_dir() {
                    stack.push(p);
                }
            }
        }
        out
    }

    #[test]
    fn cmake_arg_is_one_opaque_argument() {
        // Quotes and backslashes escaped for CMake; `$` and `>` spelled as
        // generator expressions yielding themselves, so `$<...>` and `${...}`
        // in a flag are never evaluated.
        assert_eq!(cmake_arg("-O2"), "\"-O2\"");
        assert_eq!(cmake_arg(r#"-DA="x y"\z"#), r#""-DA=\"x y\"\\z""#);
        assert_eq!(
            cmake_arg("-DG=$<1:G>${V}"),
            "\"-DG=$<1:$><1:G$<ANGLE-R>$<1:$>{V}\""
        );
    }

    fn plan_of(src: &str) -> Plan {
        let dir = Path::new("/nonexistent-kernel");
        let (c, _) = config::parse_str(src, &dir.join("build.toml"), dir, false).unwrap();
        plan::plan(
            &c,
            Matrix::get(),
            &Systems::All,
            Path::new("build.toml"),
            b"",
        )
        .unwrap()
    }

    const METAL_ONLY: &str = "[general]\nname = \"mk\"\nversion = 1\nedition = 5\nlicense = \"MIT\"\nbackends = [\"metal\"]\n[torch]\nsrc = [\"t.cpp\"]\n[kernel.m]\nbackend = \"metal\"\ndepends = [\"torch\"]\nsrc = [\"m.metal\"]\n";

    #[test]
    fn host_without_variants_gets_a_choice_and_the_list() {
        let p = plan_of(METAL_ONLY);
        let c = choose_variant(&p, None, "x86_64-linux", Backend::Cpu).unwrap();
        assert_eq!(c.variant.name, "torch215-metal-aarch64-darwin");
        let note = c.note.unwrap();
        assert!(
            note.contains("no variant for x86_64-linux")
                && note.contains("torch214-metal-aarch64-darwin")
                && note.contains("--variant"),
            "{note}"
        );
        // On its own system there is nothing to explain.
        let c = choose_variant(&p, None, "aarch64-darwin", Backend::Cpu).unwrap();
        assert_eq!(c.variant.name, "torch215-metal-aarch64-darwin");
        assert!(c.note.is_none());
    }

    #[test]
    fn host_variants_prefer_the_requested_backend() {
        let p = plan_of(
            &METAL_ONLY
                .replace("[\"metal\"]", "[\"cpu\", \"metal\"]")
                .replace("backend = \"metal\"", "backend = \"cpu\""),
        );
        let c = choose_variant(&p, None, "x86_64-linux", Backend::Cpu).unwrap();
        assert_eq!(c.variant.name, "torch215-cxx11-cpu-x86_64-linux");
        assert!(c.note.is_none());
    }

    #[test]
    fn a_named_variant_must_exist() {
        let p = plan_of(METAL_ONLY);
        let c = choose_variant(
            &p,
            Some("torch214-metal-aarch64-darwin"),
            "x86_64-linux",
            Backend::Cpu,
        )
        .unwrap();
        assert_eq!(c.variant.name, "torch214-metal-aarch64-darwin");
        assert!(c.note.is_none());
        let e = choose_variant(
            &p,
            Some("torch215-cxx11-cpu-x86_64-linux"),
            "x86_64-linux",
            Backend::Cpu,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("is not a variant of this kernel"), "{e}");
    }
}
