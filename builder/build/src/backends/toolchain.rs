//! Provisioning of the local toolchain: one cached Python environment per
//! torch version (torch `==X.Y.*`, kernels, cmake, ninja from PyPI; tvm-ffi
//! added on demand) and one CUDA toolkit per CUDA version (the compiler,
//! runtime, CCCL and math-library wheels of NVIDIA's `cuda-toolkit`).

use std::path::{Path, PathBuf};
use std::process::Command;

use kb_core::config::Version;
use kb_core::progress::Progress;
use kb_core::{bail, err, Context, Result};
use serde::{Deserialize, Serialize};

pub use kb_core::pyenv::{cache_dir, provisioned_pythons};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TorchEnv {
    pub python: PathBuf,
    pub torch_version: String,
    pub python_version: String,
    pub cxx11_abi: bool,
    pub cmake: PathBuf,
    pub ninja: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CudaToolkit {
    /// Layout of this record; a cached toolkit of another layout is reinstalled.
    pub layout: u32,
    pub version: String,
    pub nvcc: PathBuf,
    /// Runtime, CCCL and math-library headers (cuBLAS, cuSPARSE, ...).
    pub include_dirs: Vec<PathBuf>,
    /// Directories holding the toolkit's shared libraries.
    pub library_dirs: Vec<PathBuf>,
    pub cudart: PathBuf,
}

/// Current `CudaToolkit::layout`: 2 added the math libraries.
const CUDA_LAYOUT: u32 = 2;

/// Components of a CUDA toolkit: the compiler and runtime, plus the
/// math-library headers Torch's CUDA headers include (`ATen/cuda/CUDAContext.h`
/// includes cuSPARSE, cuBLAS/cuBLASLt and cuSOLVER; kernels use cuRAND, cuFFT
/// and NVTX). These are the extras of NVIDIA's `cuda-toolkit` meta-package,
/// which pins every component to the release (`cuda-toolkit==13.2.*`); `crt`
/// and `nvvm` are separate wheels from CUDA 13 on.
fn cuda_extras(major: u64) -> Vec<&'static str> {
    let mut extras = vec![
        "nvcc", "cudart", "cccl", "cublas", "cusparse", "cusolver", "curand", "cufft", "nvtx",
    ];
    if major >= 13 {
        extras.extend(["crt", "nvvm"]);
    }
    extras
}

pub(super) const ENV_MARKER: &str = ".kernel-builder-env.json";

pub(super) fn run_logged(cmd: &mut Command, log: &Path, what: &str) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("opening {}", log.display()))?;
    let out = cmd
        .stdout(
            file.try_clone()
                .context("duplicating the log file handle")?,
        )
        .stderr(file)
        .status()
        .with_context(|| format!("{what}: cannot start {:?}", cmd.get_program()))?;
    if !out.success() {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(20).collect();
        bail!(
            "{what} failed ({out}); last lines of {}:\n{}",
            log.display(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(())
}

const PROBE: &str = crate::scripts::TORCH_PROBE;

/// What the torch probe (`py/torch_probe.py`) reports about an environment.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TorchProbe {
    pub torch: String,
    pub python: String,
    pub abi: bool,
    /// Header directories of torch (`torch.utils.cpp_extension.include_paths()`).
    pub include_dirs: Vec<PathBuf>,
    /// torch's `lib/` directory (libc10, libtorch_cpu, ...).
    pub lib_dir: PathBuf,
    /// The interpreter's C headers (`sysconfig.get_path("include")`).
    pub python_include_dir: PathBuf,
}

/// `site-packages` of the environment `python` belongs to, if it is a venv-style layout.
fn site_packages(python: &Path) -> Option<PathBuf> {
    let root = python.parent()?.parent()?;
    let lib = std::fs::read_dir(root.join("lib")).ok()?;
    let mut dirs: Vec<PathBuf> = lib.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    dirs.sort();
    dirs.into_iter()
        .map(|d| d.join("site-packages"))
        .find(|p| p.join("torch/version.py").is_file())
}

fn mtime_ns(p: &Path) -> Option<u128> {
    std::fs::metadata(p)
        .ok()?
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_nanos())
}

/// A key that changes when the environment of `python` changes: the
/// interpreter, its `site-packages` (a package installed or removed changes
/// the directory), torch's and kernels' install, and `extra` (what else the
/// cached answer depends on). `None`: not a layout this can follow; do not cache.
pub fn env_key(python: &Path, extra: &str) -> Option<String> {
    use sha2::{Digest, Sha256};
    let site = site_packages(python)?;
    let mut h = Sha256::new();
    h.update(python.as_os_str().as_encoded_bytes());
    for p in [
        python.to_path_buf(),
        site.clone(),
        site.join("torch/version.py"),
        site.join("kernels"),
    ] {
        h.update(format!("\0{:?}", mtime_ns(&p)).as_bytes());
    }
    h.update(b"\0");
    h.update(extra.as_bytes());
    Some(
        h.finalize()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// A probe of `python` cached under the toolchain cache (`probes/<kind>-<key>.json`),
/// keyed by [`env_key`]: one Python start per environment, not per build.
pub fn cached_probe<T: Serialize + serde::de::DeserializeOwned>(
    python: &Path,
    kind: &str,
    extra: &str,
    run: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let Some(key) = env_key(python, extra) else {
        return run();
    };
    let cache = cache_dir()
        .join("probes")
        .join(format!("{kind}-{key}.json"));
    if let Ok(text) = std::fs::read_to_string(&cache) {
        if let Ok(v) = serde_json::from_str::<T>(&text) {
            return Ok(v);
        }
    }
    let v = run()?;
    let _ = std::fs::create_dir_all(cache.parent().expect("has parent"));
    if let Ok(text) = serde_json::to_string(&v) {
        let _ = kb_core::fsutil::write_atomic(&cache, text.as_bytes());
    }
    Ok(v)
}

/// The torch probe of `python` (cached per environment).
pub fn probe(python: &Path) -> Result<TorchProbe> {
    cached_probe(python, "torch", "", || probe_uncached(python))
}

fn probe_uncached(python: &Path) -> Result<TorchProbe> {
    let out = kb_core::pyenv::python_command(python)
        .args(["-c", PROBE])
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !out.status.success() {
        bail!(
            "{} cannot import torch: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    let last = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    serde_json::from_str(&last).context("parsing the torch probe")
}

fn torch_matches(installed: &str, wanted: &Version) -> bool {
    installed
        .split('+')
        .next()
        .and_then(|v| v.parse::<Version>().ok())
        .is_some_and(|v| v.major_minor() == wanted.major_minor())
}

fn find_tool(bin_dir: &Path, name: &str) -> Result<PathBuf> {
    let local = bin_dir.join(name);
    if local.is_file() {
        return Ok(local);
    }
    which::which(name).map_err(|_| {
        err!(
            "`{name}` not found next to {} or on PATH; install it (`pip install {name}`)",
            bin_dir.display()
        )
    })
}

impl TorchEnv {
    /// The CMake to run. PyPI's `cmake` installs `bin/cmake` as a Python
    /// script that starts the real binary (`cmake/data/bin/cmake` in
    /// site-packages); that binary is called directly, saving an interpreter
    /// start per call. Any other `cmake` is used as found.
    pub fn cmake_binary(&self) -> PathBuf {
        native_pypi_tool(&self.cmake, "cmake").unwrap_or_else(|| self.cmake.clone())
    }
}

/// The binary behind a PyPI console script `script` of package `name`
/// (`<env>/lib/python*/site-packages/<name>/data/bin/<name>`), when `script`
/// is such a script.
fn native_pypi_tool(script: &Path, name: &str) -> Option<PathBuf> {
    use std::io::Read;
    let mut head = [0u8; 2];
    std::fs::File::open(script)
        .ok()?
        .read_exact(&mut head)
        .ok()?;
    if &head != b"#!" {
        return None;
    }
    let root = script.parent()?.parent()?;
    let mut libs: Vec<PathBuf> = std::fs::read_dir(root.join("lib"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    libs.sort();
    libs.into_iter()
        .map(|l| {
            l.join("site-packages")
                .join(name)
                .join("data/bin")
                .join(name)
        })
        .find(|b| b.is_file())
}

/// The Python environment for torch `version`. `KERNEL_BUILDER_PYTHON` selects
/// an existing interpreter instead (it must have that torch version).
pub fn torch_env(version: &Version, log: &Path) -> Result<TorchEnv> {
    if let Some(py) = std::env::var_os("KERNEL_BUILDER_PYTHON") {
        let python = PathBuf::from(py);
        let TorchProbe {
            torch,
            python: pyver,
            abi,
            ..
        } = probe(&python)?;
        if !torch_matches(&torch, version) {
            bail!("KERNEL_BUILDER_PYTHON={} has torch {torch}, but this variant needs torch {version}; unset KERNEL_BUILDER_PYTHON to let kernel-builder provision it", python.display());
        }
        let bin = python.parent().unwrap_or(Path::new("."));
        return Ok(TorchEnv {
            cmake: find_tool(bin, "cmake")?,
            ninja: find_tool(bin, "ninja")?,
            python,
            torch_version: torch,
            python_version: pyver,
            cxx11_abi: abi,
        });
    }
    let dir = cache_dir()
        .join("envs")
        .join(format!("torch-{}", version.major_minor()));
    let marker = dir.join(ENV_MARKER);
    if let Ok(text) = std::fs::read_to_string(&marker) {
        if let Ok(env) = serde_json::from_str::<TorchEnv>(&text) {
            if env.python.exists() {
                return Ok(env);
            }
        }
    }
    let host_python = which::which("python3").map_err(|_| err!("python3 not found: the local backend needs Python >= 3.9 to provision torch (or install Nix and use the Nix backend)"))?;
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let python = dir.join("bin/python");
    if !python.exists() {
        run_logged(
            kb_core::pyenv::python_command(&host_python)
                .args(["-m", "venv"])
                .arg(&dir),
            log,
            "creating a Python environment",
        )?;
    }
    let spec = format!("torch=={}.*", version.major_minor());
    run_logged(
        kb_core::pyenv::python_command(&python).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            &spec,
            "kernels",
            "cmake>=3.26",
            "ninja",
            "setuptools",
            "wheel",
            "pytest",
            "numpy",
        ]),
        log,
        &format!("installing {spec} from PyPI"),
    )?;
    let p = probe(&python)?;
    let (torch, pyver, abi) = (p.torch, p.python, p.abi);
    let bin = dir.join("bin");
    let env = TorchEnv {
        cmake: find_tool(&bin, "cmake")?,
        ninja: find_tool(&bin, "ninja")?,
        python,
        torch_version: torch,
        python_version: pyver,
        cxx11_abi: abi,
    };
    std::fs::write(&marker, serde_json::to_string_pretty(&env)?)?;
    Ok(env)
}

/// Make `apache-tvm-ffi==<version>.*` importable in `env` (installed from
/// PyPI into kernel-builder's own environments; an interpreter chosen with
/// KERNEL_BUILDER_PYTHON must have it already).
pub fn ensure_tvm_ffi(env: &TorchEnv, version: &Version, log: &Path) -> Result<String> {
    let probe = || -> Option<String> {
        let out = kb_core::pyenv::python_command(&env.python)
            .args(["-c", "import tvm_ffi; print(tvm_ffi.__version__)"])
            .output()
            .ok()?;
        let v = String::from_utf8(out.stdout).ok()?.trim().to_string();
        let mm: Vec<&str> = v.split('.').take(2).collect();
        (out.status.success() && mm.join(".") == version.major_minor().to_string()).then_some(v)
    };
    if let Some(v) = probe() {
        return Ok(v);
    }
    let spec = format!("apache-tvm-ffi=={}.*", version.major_minor());
    if std::env::var_os("KERNEL_BUILDER_PYTHON").is_some() {
        bail!(
            "KERNEL_BUILDER_PYTHON={} has no tvm-ffi {}; install it there (`pip install '{spec}'`)",
            env.python.display(),
            version.major_minor()
        );
    }
    run_logged(
        kb_core::pyenv::python_command(&env.python).args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--progress-bar",
            "off",
            &spec,
        ]),
        log,
        &format!("installing {spec} from PyPI"),
    )?;
    probe().ok_or_else(|| {
        err!(
            "{} still has no tvm-ffi {} after installing {spec}",
            env.python.display(),
            version.major_minor()
        )
    })
}

/// The PyPI requirement that makes up CUDA toolkit `version`.
fn cuda_packages(version: &Version) -> Vec<String> {
    let major = version.0.first().copied().unwrap_or(0);
    vec![format!(
        "cuda-toolkit[{}]=={}.*",
        cuda_extras(major).join(","),
        version.major_minor()
    )]
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    if depth > 6 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() && !p.is_symlink() {
            walk(&p, out, depth + 1);
        } else {
            out.push(p);
        }
    }
}

/// Locate nvcc, headers, libraries and the CUDA runtime in an installed
/// wheel tree. CUDA 13 wheels share one `nvidia/cu13/{bin,include,lib}`
/// tree (CCCL under `include/cccl`); CUDA 12 wheels have one tree per
/// component (`nvidia/cublas/include`, `nvidia/cuda_runtime/lib`, ...).
pub fn locate_cuda(dir: &Path, version: &str) -> Result<CudaToolkit> {
    let mut files = Vec::new();
    walk(dir, &mut files, 0);
    let nvcc = files
        .iter()
        .find(|p| {
            p.file_name().is_some_and(|n| n == "nvcc")
                && p.parent().is_some_and(|b| b.ends_with("bin"))
        })
        .cloned()
        .ok_or_else(|| err!("no bin/nvcc under {}", dir.display()))?;
    let cudart = files
        .iter()
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libcudart.so."))
        })
        .cloned()
        .ok_or_else(|| err!("no libcudart.so.* under {}", dir.display()))?;
    // `<component>/include` and `<component>/lib` directly below `nvidia/`.
    let component_dir = |p: &Path, leaf: &str| -> Option<PathBuf> {
        let rel = p.strip_prefix(dir).ok()?;
        let parts: Vec<_> = rel.components().collect();
        let i = parts.iter().position(|c| c.as_os_str() == "nvidia")?;
        (parts.len() > i + 3 && parts[i + 2].as_os_str() == leaf)
            .then(|| dir.join(parts[..i + 3].iter().collect::<PathBuf>()))
    };
    let mut include_dirs: Vec<PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "h"))
        .filter_map(|p| component_dir(p, "include"))
        .collect();
    let cccl: Vec<PathBuf> = files
        .iter()
        .filter_map(|p| {
            let s = p.to_string_lossy();
            s.find("/include/cccl/")
                .map(|i| PathBuf::from(&s[..i + "/include/cccl".len()]))
        })
        .collect();
    include_dirs.extend(cccl);
    include_dirs.sort();
    include_dirs.dedup();
    let mut library_dirs: Vec<PathBuf> = files
        .iter()
        .filter(|p| p.to_string_lossy().contains(".so"))
        .filter_map(|p| component_dir(p, "lib"))
        .collect();
    library_dirs.sort();
    library_dirs.dedup();
    if !include_dirs
        .iter()
        .any(|d| d.join("cuda_runtime.h").is_file())
    {
        bail!("no include/cuda_runtime.h under {}", dir.display());
    }
    Ok(CudaToolkit {
        layout: CUDA_LAYOUT,
        version: version.to_string(),
        nvcc,
        include_dirs,
        library_dirs,
        cudart,
    })
}

/// The CUDA toolkit for `version`, installed from PyPI wheels with `python`'s pip.
pub fn cuda_toolkit(version: &Version, python: &Path, log: &Path) -> Result<CudaToolkit> {
    let dir = cache_dir()
        .join("toolkits")
        .join(format!("cuda-{}", version.major_minor()));
    let marker = dir.join(ENV_MARKER);
    if let Ok(text) = std::fs::read_to_string(&marker) {
        if let Ok(tk) = serde_json::from_str::<CudaToolkit>(&text) {
            if tk.layout == CUDA_LAYOUT && tk.nvcc.exists() {
                return Ok(tk);
            }
        }
    }
    std::fs::create_dir_all(&dir)?;
    let pkgs = cuda_packages(version);
    run_logged(
        kb_core::pyenv::python_command(python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
                "--upgrade",
                "--target",
            ])
            .arg(&dir)
            .args(&pkgs),
        log,
        &format!("installing CUDA {version} ({})", pkgs.join(" ")),
    )?;
    let tk = locate_cuda(&dir, &version.to_string())?;
    std::fs::write(&marker, serde_json::to_string_pretty(&tk)?)?;
    Ok(tk)
}

/// First line of `<tool> --version`.
pub fn tool_version(tool: &Path) -> String {
    Command::new(tool)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| {
            s.lines()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// What `kernel-builder toolchain` provisions.
#[derive(Debug, Clone, Default)]
pub struct ToolchainOptions {
    /// Torch version (`2.15`); default: the newest in the matrix.
    pub torch: Option<String>,
    /// Also provision this CUDA toolkit (`13.2`).
    pub cuda: Option<String>,
}

/// The provisioned toolchain (`kernel-builder toolchain`).
#[derive(Debug, Clone, Serialize)]
pub struct ToolchainReport {
    pub torch: TorchEnv,
    pub cuda: Option<CudaToolkit>,
}

impl kb_core::Report for ToolchainReport {
    fn text(&self) -> String {
        let mut s = format!(
            "python {}\ntorch {}\n",
            self.torch.python.display(),
            self.torch.torch_version
        );
        if let Some(tk) = &self.cuda {
            s.push_str(&format!("nvcc {}\n", tk.nvcc.display()));
        }
        s
    }
}

/// Provision the local toolchain: the torch environment and, on request, a
/// CUDA toolkit.
pub fn provision(options: &ToolchainOptions, progress: &dyn Progress) -> Result<ToolchainReport> {
    let torch: Version = match &options.torch {
        Some(t) => t.parse().map_err(|e: String| err!("--torch: {e}"))?,
        None => kb_core::matrix::Matrix::get()
            .torch
            .keys()
            .next_back()
            .cloned()
            .expect("matrix has torch versions"),
    };
    let log_dir = cache_dir();
    std::fs::create_dir_all(&log_dir).map_err(|e| kb_core::Error::io(&log_dir, e))?;
    let log = log_dir.join("toolchain.log");
    progress.note(&format!(
        "provisioning torch {torch} (log: {})",
        log.display()
    ));
    let env = torch_env(&torch, &log)?;
    let cuda = match &options.cuda {
        Some(c) => {
            let v: Version = c.parse().map_err(|e: String| err!("--cuda: {e}"))?;
            progress.note(&format!("provisioning CUDA {v}"));
            Some(cuda_toolkit(&v, &env.python, &log)?)
        }
        None => None,
    };
    Ok(ToolchainReport { torch: env, cuda })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// PyPI's `cmake` console script resolves to the binary in its package;
    /// anything else is used as found.
    #[test]
    fn cmake_binary_skips_the_pypi_wrapper() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        let real = d
            .path()
            .join("lib/python3.11/site-packages/cmake/data/bin/cmake");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(real.parent().unwrap()).unwrap();
        std::fs::write(
            bin.join("cmake"),
            "#!/env/bin/python\nfrom cmake import cmake\n",
        )
        .unwrap();
        std::fs::write(&real, b"\x7fELF").unwrap();
        let env = |cmake: PathBuf| TorchEnv {
            python: bin.join("python"),
            torch_version: "2.15.0".into(),
            python_version: "3.11.7".into(),
            cxx11_abi: true,
            cmake,
            ninja: bin.join("ninja"),
        };
        assert_eq!(env(bin.join("cmake")).cmake_binary(), real);
        // A binary, or a script without the package binary: unchanged.
        assert_eq!(env(real.clone()).cmake_binary(), real);
        std::fs::remove_file(&real).unwrap();
        assert_eq!(env(bin.join("cmake")).cmake_binary(), bin.join("cmake"));
    }

    #[test]
    fn cuda_package_names() {
        assert_eq!(
            cuda_packages(&"13.2".parse().unwrap()),
            ["cuda-toolkit[nvcc,cudart,cccl,cublas,cusparse,cusolver,curand,cufft,nvtx,crt,nvvm]==13.2.*"]
        );
        assert_eq!(
            cuda_packages(&"12.6".parse().unwrap()),
            ["cuda-toolkit[nvcc,cudart,cccl,cublas,cusparse,cusolver,curand,cufft,nvtx]==12.6.*"]
        );
    }

    fn touch(root: &Path, files: &[&str]) {
        for f in files {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "").unwrap();
        }
    }

    #[test]
    fn locate_cuda_13_layout() {
        let d = tempfile::tempdir().unwrap();
        touch(
            d.path(),
            &[
                "nvidia/cu13/bin/nvcc",
                "nvidia/cu13/include/cuda_runtime.h",
                "nvidia/cu13/include/cusparse.h",
                "nvidia/cu13/include/cccl/cuda/std/x.h",
                "nvidia/cu13/lib/libcudart.so.13",
                "nvidia/cu13/lib/libcublas.so.13",
            ],
        );
        let tk = locate_cuda(d.path(), "13.2").unwrap();
        assert!(tk.nvcc.ends_with("nvidia/cu13/bin/nvcc"));
        assert!(tk.cudart.ends_with("libcudart.so.13"));
        let rel = |v: &[PathBuf]| -> Vec<String> {
            v.iter()
                .map(|p| p.strip_prefix(d.path()).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            rel(&tk.include_dirs),
            ["nvidia/cu13/include", "nvidia/cu13/include/cccl"]
        );
        assert_eq!(rel(&tk.library_dirs), ["nvidia/cu13/lib"]);
        assert!(locate_cuda(&d.path().join("nvidia/cu13/include"), "13.2").is_err());
    }

    #[test]
    fn locate_cuda_12_layout() {
        let d = tempfile::tempdir().unwrap();
        touch(
            d.path(),
            &[
                "nvidia/cuda_nvcc/bin/nvcc",
                "nvidia/cuda_runtime/include/cuda_runtime.h",
                "nvidia/cuda_runtime/lib/libcudart.so.12",
                "nvidia/cuda_cccl/include/cub/cub.cuh",
                "nvidia/cuda_cccl/include/cuda/std/version.h",
                "nvidia/cublas/include/cublas_v2.h",
                "nvidia/cublas/lib/libcublas.so.12",
                "nvidia/cusparse/include/cusparse.h",
                "nvidia/cusparse/lib/libcusparse.so.12",
            ],
        );
        let tk = locate_cuda(d.path(), "12.6").unwrap();
        let rel = |v: &[PathBuf]| -> Vec<String> {
            v.iter()
                .map(|p| p.strip_prefix(d.path()).unwrap().display().to_string())
                .collect()
        };
        assert_eq!(
            rel(&tk.include_dirs),
            [
                "nvidia/cublas/include",
                "nvidia/cuda_cccl/include",
                "nvidia/cuda_runtime/include",
                "nvidia/cusparse/include"
            ]
        );
        assert_eq!(
            rel(&tk.library_dirs),
            [
                "nvidia/cublas/lib",
                "nvidia/cuda_runtime/lib",
                "nvidia/cusparse/lib"
            ]
        );
        // Without the runtime headers the tree is not a toolkit.
        std::fs::remove_file(d.path().join("nvidia/cuda_runtime/include/cuda_runtime.h")).unwrap();
        assert!(locate_cuda(d.path(), "12.6").is_err());
    }

    #[test]
    fn torch_version_matching() {
        assert!(torch_matches("2.15.0+cu132", &"2.15".parse().unwrap()));
        assert!(!torch_matches("2.14.1", &"2.15".parse().unwrap()));
    }
}
