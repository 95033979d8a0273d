//! The build plan: `build.toml` x matrix x systems -> ordered variants.
//!
//! This is the single source of truth for variant names, versions, effective
//! capabilities, sources and flags. `kernel-builder plan --json` exposes it to
//! the Nix layer and the generated CMake project; nothing else derives names.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{
    Backend, BuildConfig, Capability, ConfigErrors, Diagnostic, Framework, KernelDependency,
    Severity, Version,
};
use crate::matrix::{compute_tag, Entry, Matrix, MatrixFramework};
use crate::variant::{Framework as VariantFramework, VariantName};

pub const PLAN_SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Plan {
    pub schema: u32,
    pub kernel: PlanKernel,
    /// sha256 (hex) of the `build.toml` bytes this plan was computed from.
    pub build_toml_sha256: String,
    pub variants: Vec<Variant>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct PlanKernel {
    pub name: String,
    pub python_name: String,
    pub version: u64,
    pub license: String,
    pub framework: &'static str,
    pub backends: Vec<Backend>,
    pub repo_id: Option<String>,
    pub upstream: Option<String>,
    pub source: Option<String>,
    /// Directory with the Python package, relative to the kernel root.
    pub python_package: String,
    pub pyext: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct FrameworkVersion {
    /// `2.15`
    pub version: Version,
    /// `2.15.0`: the release the toolchain pins (`==2.15.*` on PyPI).
    pub release: String,
    pub cxx_standard: u32,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Variant {
    pub name: String,
    /// Nix system (`x86_64-linux`), or `None` for noarch variants.
    pub system: Option<String>,
    /// `torch`, `torch-stable-abi`, `torch-noarch` or `tvm-ffi`.
    pub framework: VariantFramework,
    pub backend: Backend,
    pub torch: Option<FrameworkVersion>,
    pub tvm_ffi: Option<FrameworkVersion>,
    /// Torch stable-ABI version the variant targets.
    pub stable_abi: Option<Version>,
    /// CUDA / ROCm / XPU toolkit version.
    pub toolkit: Option<Version>,
    pub cxx11_abi: bool,
    /// Part of the compliance set of the matrix.
    pub required: bool,
    pub python_depends: Vec<String>,
    pub kernel_depends: Vec<KernelDependency>,
    /// What `metadata.json` records as `backend.archs` (CUDA capabilities or ROCm archs).
    pub archs: Vec<String>,
    /// Framework binding sources (`[torch] src`, `[tvm-ffi] src`).
    pub src: Vec<String>,
    pub include: Vec<String>,
    pub cxx_flags: Vec<String>,
    pub kernels: Vec<PlannedKernel>,
}

impl Variant {
    /// The dependencies of `data/depends.toml` the variant's kernels use
    /// that a build path has to provide (not the framework), sorted by name.
    pub fn external_depends(
        &self,
    ) -> crate::Result<Vec<(&'static str, &'static crate::config::depends::Dependency)>> {
        let data = crate::config::depends::get();
        let mut out: Vec<(&'static str, &'static crate::config::depends::Dependency)> = Vec::new();
        for k in &self.kernels {
            for d in &k.depends {
                let Some((name, dep)) = data.dependency.get_key_value(d.as_str()) else {
                    crate::bail!(
                        "kernel.{}: dependency `{d}` is not in data/depends.toml",
                        k.name
                    );
                };
                if dep.is_external() && !out.iter().any(|(n, _)| n == name) {
                    out.push((name.as_str(), dep));
                }
            }
        }
        out.sort_by_key(|(n, _)| *n);
        Ok(out)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct PlannedKernel {
    pub name: String,
    pub backend: Backend,
    pub src: Vec<String>,
    pub include: Vec<String>,
    pub depends: Vec<String>,
    pub cxx_flags: Vec<String>,
    /// Effective CUDA capabilities (toolkit defaults intersected with the kernel's list).
    pub cuda_capabilities: Vec<Capability>,
    pub cuda_flags: Vec<String>,
    /// Effective ROCm architectures.
    pub rocm_archs: Vec<String>,
    pub hip_flags: Vec<String>,
    pub sycl_flags: Vec<String>,
}

/// Which systems to plan for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Systems {
    All,
    One(String),
}

impl Systems {
    fn includes(&self, s: &str) -> bool {
        match self {
            Systems::All => true,
            Systems::One(x) => x == s,
        }
    }
}

fn err(file: &Path, key: &str, message: String, help: String) -> Diagnostic {
    Diagnostic {
        severity: Severity::Error,
        file: file.to_path_buf(),
        key: key.to_string(),
        position: None,
        message,
        help: Some(help),
    }
}

/// Compute the plan. `build_toml` is the file's bytes (for the staleness hash)
/// and `file` its path (for messages).
pub fn plan(
    config: &BuildConfig,
    matrix: &Matrix,
    systems: &Systems,
    file: &Path,
    build_toml: &[u8],
) -> Result<Plan, ConfigErrors> {
    if let Systems::One(s) = systems {
        if !matrix.systems.contains(s) {
            return Err(ConfigErrors(vec![err(
                file,
                "",
                format!("unknown system `{s}`"),
                format!("known systems: {}", matrix.systems.join(", ")),
            )]));
        }
    }
    let g = &config.general;
    let mut errors = Vec::new();
    let mut variants: BTreeMap<String, Variant> = BTreeMap::new();
    let mut add = |v: Variant, errors: &mut Vec<Diagnostic>| {
        if let Some(prev) = variants.get(&v.name) {
            errors.push(err(file, "", format!("two plan entries have the name `{}` ({} {} and {} {})", v.name, prev.backend, describe(prev), v.backend, describe(&v)), "this is a matrix bug: two toolkit versions map to one variant name; report it or bound the versions in build.toml".into()));
        } else {
            variants.insert(v.name.clone(), v);
        }
    };

    let deps_for = |b: Backend| -> (Vec<String>, Vec<KernelDependency>) {
        let mut py = g.python_depends.clone();
        let mut kd = g.kernel_depends.clone();
        if let Some(d) = g.backend_deps.get(&b) {
            py.extend(d.python_depends.iter().cloned());
            kd.extend(d.kernel_depends.iter().cloned());
        }
        py.dedup();
        (py, kd)
    };

    match &config.framework {
        Framework::TorchNoarch(n) => {
            for &b in &g.backends {
                if !matrix.noarch_backends.contains(&b) {
                    continue;
                }
                let archs = match b {
                    Backend::Cuda => n
                        .cuda_capabilities
                        .iter()
                        .flatten()
                        .map(|c| c.to_string())
                        .collect(),
                    Backend::Rocm => n.rocm_archs.clone().unwrap_or_default(),
                    _ => Vec::new(),
                };
                add(noarch_variant(b, archs, &deps_for), &mut errors);
            }
        }
        Framework::Torch(t) => {
            // Candidate (entry, system) pairs inside the bounds.
            let mut regular = Vec::new();
            let mut stable: BTreeMap<(Backend, Option<Version>, String), (&Entry, Version)> =
                BTreeMap::new();
            // A backend without a compiled kernel (tpu, neuron and cann never
            // have one) gets the pure-Python variant `torch-<backend>`, as in
            // the reference; the others get the matrix's compiled variants.
            let compiled =
                |b: Backend| b.is_compiled() && config.kernels.values().any(|k| k.backend == b);
            for &b in g.backends.iter().filter(|b| !compiled(**b)) {
                if matrix.noarch_backends.contains(&b) {
                    add(noarch_variant(b, Vec::new(), &deps_for), &mut errors);
                }
            }
            for e in matrix.entries.iter().filter(|e| {
                e.framework == MatrixFramework::Torch
                    && g.backends.contains(&e.backend)
                    && compiled(e.backend)
            }) {
                if t.minver
                    .as_ref()
                    .is_some_and(|m| e.version < m.major_minor())
                    || t.maxver
                        .as_ref()
                        .is_some_and(|m| e.version > m.major_minor())
                {
                    continue;
                }
                if !cuda_in_bounds(config, e) {
                    continue;
                }
                for s in e.systems.iter().filter(|s| systems.includes(s)) {
                    match t
                        .stable_abi
                        .as_ref()
                        .and_then(|sa| sa.for_backend(e.backend))
                    {
                        Some(abi) => {
                            if e.version < abi.major_minor() {
                                continue;
                            }
                            // One build per toolkit and system, with the newest torch.
                            let key = (e.backend, e.toolkit.clone(), s.clone());
                            let newer = stable
                                .get(&key)
                                .is_none_or(|(prev, _)| prev.version < e.version);
                            if newer {
                                stable.insert(key, (e, abi.clone()));
                            }
                        }
                        None => regular.push((e, s.clone())),
                    }
                }
            }
            let mut items: Vec<(&Entry, String, Option<Version>)> =
                regular.into_iter().map(|(e, s)| (e, s, None)).collect();
            items.extend(
                stable
                    .into_iter()
                    .map(|((_, _, s), (e, abi))| (e, s, Some(abi))),
            );
            for (e, system, abi) in items {
                match torch_variant(config, t, matrix, e, &system, abi, file, &deps_for) {
                    Ok(v) => add(v, &mut errors),
                    Err(mut d) => errors.append(&mut d),
                }
            }
            if let (Some(sa), true) = (&t.stable_abi, errors.is_empty()) {
                for &b in &g.backends {
                    if let Some(abi) = sa.for_backend(b).filter(|_| compiled(b)) {
                        let any = matrix.entries.iter().any(|e| {
                            e.framework == MatrixFramework::Torch
                                && e.backend == b
                                && e.version >= abi.major_minor()
                        });
                        if !any {
                            errors.push(err(file, "torch.stable-abi", format!("no Torch version in the matrix supports stable ABI {abi} for {b}"), "lower the stable-abi version".into()));
                        }
                    }
                }
            }
        }
        Framework::TvmFfi(tf) => {
            for e in matrix.entries.iter().filter(|e| {
                e.framework == MatrixFramework::TvmFfi && g.backends.contains(&e.backend)
            }) {
                if !cuda_in_bounds(config, e) {
                    continue;
                }
                for s in e.systems.iter().filter(|s| systems.includes(s)) {
                    let fv = &matrix.tvm_ffi[&e.version];
                    let (kernels, archs) = match planned_kernels(config, matrix, e, file) {
                        Ok(k) => k,
                        Err(mut d) => {
                            errors.append(&mut d);
                            continue;
                        }
                    };
                    let (python_depends, kernel_depends) = deps_for(e.backend);
                    add(
                        Variant {
                            name: VariantName::compiled(
                                VariantFramework::TvmFfi,
                                &e.version,
                                None,
                                &compute_tag(e.backend, e.toolkit.as_ref()),
                                s,
                            )
                            .to_string(),
                            system: Some(s.clone()),
                            framework: VariantFramework::TvmFfi,
                            backend: e.backend,
                            torch: None,
                            tvm_ffi: Some(FrameworkVersion {
                                version: e.version.clone(),
                                release: fv.release.clone(),
                                cxx_standard: fv.cxx_standard,
                            }),
                            stable_abi: None,
                            toolkit: e.toolkit.clone(),
                            cxx11_abi: false,
                            required: e.required,
                            python_depends,
                            kernel_depends,
                            archs,
                            src: tf.src.clone(),
                            include: tf.include.clone(),
                            cxx_flags: tf.cxx_flags.clone(),
                            kernels,
                        },
                        &mut errors,
                    );
                }
            }
        }
    }

    if !errors.is_empty() {
        errors.dedup();
        return Err(ConfigErrors(errors));
    }
    let python_name = g.python_name();
    let python_package = match &config.framework {
        Framework::TvmFfi(_) => format!("tvm-ffi-ext/{python_name}"),
        _ => format!("torch-ext/{python_name}"),
    };
    Ok(Plan {
        schema: PLAN_SCHEMA,
        kernel: PlanKernel {
            name: g.name.clone(),
            python_name,
            version: g.version,
            license: g.license.clone(),
            framework: config.framework.name(),
            backends: g.backends.clone(),
            repo_id: g.hub.repo_id.clone(),
            upstream: g.upstream.clone(),
            source: g.source.clone(),
            python_package,
            pyext: config.framework.pyext().to_vec(),
        },
        build_toml_sha256: hex(&Sha256::digest(build_toml)),
        variants: variants.into_values().collect(),
    })
}

/// The system-independent pure-Python variant `torch-<backend>`.
fn noarch_variant(
    b: Backend,
    archs: Vec<String>,
    deps_for: &dyn Fn(Backend) -> (Vec<String>, Vec<KernelDependency>),
) -> Variant {
    let (python_depends, kernel_depends) = deps_for(b);
    Variant {
        name: VariantName::noarch(b.as_str()).to_string(),
        system: None,
        framework: VariantFramework::TorchNoarch,
        backend: b,
        torch: None,
        tvm_ffi: None,
        stable_abi: None,
        toolkit: None,
        cxx11_abi: false,
        required: true,
        python_depends,
        kernel_depends,
        archs,
        src: Vec::new(),
        include: Vec::new(),
        cxx_flags: Vec::new(),
        kernels: Vec::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn describe(v: &Variant) -> String {
    v.toolkit
        .as_ref()
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn split_system(s: &str) -> (&str, &str) {
    s.split_once('-').unwrap_or((s, ""))
}

fn cuda_in_bounds(config: &BuildConfig, e: &Entry) -> bool {
    if e.backend != Backend::Cuda {
        return true;
    }
    let Some(tk) = &e.toolkit else { return true };
    let g = &config.general;
    !(g.cuda_minver.as_ref().is_some_and(|m| tk < m)
        || g.cuda_maxver
            .as_ref()
            .is_some_and(|m| tk.major_minor() > m.major_minor()))
}

#[allow(clippy::too_many_arguments)]
fn torch_variant(
    config: &BuildConfig,
    t: &crate::config::Torch,
    matrix: &Matrix,
    e: &Entry,
    system: &str,
    abi: Option<Version>,
    file: &Path,
    deps_for: &dyn Fn(Backend) -> (Vec<String>, Vec<KernelDependency>),
) -> Result<Variant, Vec<Diagnostic>> {
    let fv = &matrix.torch[&e.version];
    let (kernels, archs) = planned_kernels(config, matrix, e, file)?;
    let (_, os) = split_system(system);
    let compute = compute_tag(e.backend, e.toolkit.as_ref());
    let darwin = os == "darwin";
    let name = match &abi {
        Some(a) => {
            VariantName::compiled(VariantFramework::TorchStableAbi, a, None, &compute, system)
        }
        None if darwin => {
            VariantName::compiled(VariantFramework::Torch, &e.version, None, &compute, system)
        }
        None => VariantName::compiled(
            VariantFramework::Torch,
            &e.version,
            Some(true),
            &compute,
            system,
        ),
    }
    .to_string();
    let (python_depends, kernel_depends) = deps_for(e.backend);
    Ok(Variant {
        name,
        system: Some(system.to_string()),
        framework: if abi.is_some() {
            VariantFramework::TorchStableAbi
        } else {
            VariantFramework::Torch
        },
        backend: e.backend,
        torch: Some(FrameworkVersion {
            version: e.version.clone(),
            release: fv.release.clone(),
            cxx_standard: fv.cxx_standard,
        }),
        tvm_ffi: None,
        stable_abi: abi,
        toolkit: e.toolkit.clone(),
        cxx11_abi: !darwin,
        required: e.required,
        python_depends,
        kernel_depends,
        archs,
        src: t.src.clone(),
        include: t.include.clone(),
        cxx_flags: t.cxx_flags.clone(),
        kernels,
    })
}

/// Kernels of the entry's backend with their effective capabilities/archs,
/// plus the union of archs for metadata.
fn planned_kernels(
    config: &BuildConfig,
    matrix: &Matrix,
    e: &Entry,
    file: &Path,
) -> Result<(Vec<PlannedKernel>, Vec<String>), Vec<Diagnostic>> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let mut caps_union: Vec<Capability> = Vec::new();
    let mut archs_union: Vec<String> = Vec::new();
    for k in config.kernels.values().filter(|k| k.backend == e.backend) {
        let mut cuda_capabilities = Vec::new();
        let mut rocm_archs = Vec::new();
        match (e.backend, &e.toolkit) {
            (Backend::Cuda, Some(tk)) => {
                if k.cuda_minver.as_ref().is_some_and(|m| tk < m) {
                    continue;
                }
                let defaults = &matrix.cuda[tk];
                cuda_capabilities = match &k.cuda_capabilities {
                    None => defaults.clone(),
                    Some(wanted) => wanted
                        .iter()
                        .filter(|c| defaults.iter().any(|d| d.base() == c.base()))
                        .filter(|c| {
                            c.suffix != Some('f') || *tk >= "12.9".parse::<Version>().unwrap()
                        })
                        .cloned()
                        .collect(),
                };
                if cuda_capabilities.is_empty() {
                    let wanted: Vec<String> = k
                        .cuda_capabilities
                        .iter()
                        .flatten()
                        .map(|c| c.to_string())
                        .collect();
                    let supported: Vec<String> = defaults.iter().map(|c| c.to_string()).collect();
                    errors.push(err(file, &format!("kernel.{}.cuda-capabilities", k.name), format!("none of [{}] is supported by CUDA {tk} (it builds for {})", wanted.join(", "), supported.join(", ")), format!("add a capability CUDA {tk} supports, or exclude this toolkit with `cuda-minver` on the kernel or `[general.cuda] minver`/`maxver`")));
                    continue;
                }
                for c in &cuda_capabilities {
                    if !caps_union.contains(c) {
                        caps_union.push(c.clone());
                    }
                }
            }
            (Backend::Rocm, Some(tk)) => {
                let defaults = &matrix.rocm[tk];
                rocm_archs = match &k.rocm_archs {
                    None => defaults.clone(),
                    Some(wanted) => wanted
                        .iter()
                        .filter(|a| {
                            let base = a.split(':').next().unwrap_or(a);
                            defaults.iter().any(|d| d == base)
                        })
                        .cloned()
                        .collect(),
                };
                if rocm_archs.is_empty() {
                    errors.push(err(
                        file,
                        &format!("kernel.{}.rocm-archs", k.name),
                        format!(
                            "none of [{}] is supported by ROCm {tk} (it builds for {})",
                            k.rocm_archs.clone().unwrap_or_default().join(", "),
                            defaults.join(", ")
                        ),
                        "add an architecture this ROCm version supports".into(),
                    ));
                    continue;
                }
                for a in &rocm_archs {
                    if !archs_union.contains(a) {
                        archs_union.push(a.clone());
                    }
                }
            }
            _ => {}
        }
        out.push(PlannedKernel {
            name: k.name.clone(),
            backend: k.backend,
            src: k.src.clone(),
            include: k.include.clone(),
            depends: k.depends.clone(),
            cxx_flags: k.cxx_flags.clone(),
            cuda_capabilities,
            cuda_flags: k.cuda_flags.clone(),
            rocm_archs,
            hip_flags: k.hip_flags.clone(),
            sycl_flags: k.sycl_flags.clone(),
        });
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    caps_union.sort();
    archs_union.sort();
    let archs = if e.backend == Backend::Cuda {
        caps_union.iter().map(|c| c.to_string()).collect()
    } else {
        archs_union
    };
    Ok((out, archs))
}

impl Plan {
    pub fn variant(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|v| v.name == name)
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("plan serializes");
        s.push('\n');
        s
    }
}
