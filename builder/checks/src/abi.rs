//! `check-abi`: the native modules of a build against the manylinux policy,
//! the allowed libraries, CPython's stable ABI, the macOS deployment target
//! and (optionally) the Torch stable ABI.
//!
//! ELF files are read through their *dynamic* symbol table and version
//! sections (`.dynsym`, `.gnu.version`, `.gnu.version_r`), which `strip`
//! keeps, so stripped binaries are checked as thoroughly as unstripped ones.
//! Only the sections that matter are touched: the file is memory-mapped and
//! the multi-hundred-megabyte code and debug sections of e.g. `libtorch_cpu.so`
//! are never read.
//!
//! Data (embedded at compile time):
//! - `data/manylinux-policy.json`: auditwheel's policy tables, byte for byte
//!   (`scripts/refresh-manylinux-policy.sh`).
//! - `data/python-stable-abi.json`: CPython's stable ABI symbols with the
//!   version that added each (`scripts/refresh-python-stable-abi.py`).
//! - `data/torch-stable-abi.json`: the Torch stable ABI C functions with the
//!   Torch version that added each (`scripts/refresh-torch-stable-abi.py`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use object::read::elf::{Dyn, FileHeader, Sym};
use object::{elf, macho, Endianness, FileKind, Object, ObjectSymbol};
use serde::{Deserialize, Serialize};

use kb_core::report::{Report, Status};

use super::{display_path, report_base, resolve_target, InputError, Target, VariantName};

pub const MANYLINUX_POLICY_JSON: &str = include_str!("../../../data/manylinux-policy.json");
pub const PYTHON_STABLE_ABI_JSON: &str = include_str!("../../../data/python-stable-abi.json");
pub const TORCH_STABLE_ABI_JSON: &str = include_str!("../../../data/torch-stable-abi.json");

// ------------------------------------------------------------------ data

/// One entry of auditwheel's `manylinux-policy.json`.
#[derive(Debug, Deserialize)]
pub struct ManylinuxPolicy {
    pub name: String,
    pub aliases: Vec<String>,
    pub priority: u32,
    /// arch -> symbol-version prefix (`GLIBC`) -> allowed versions (`2.28`, `PRIVATE`...).
    pub symbol_versions: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    pub lib_whitelist: Vec<String>,
    /// library -> symbols that may not be used from it.
    pub blacklist: BTreeMap<String, Vec<String>>,
}

pub fn manylinux_policies() -> &'static [ManylinuxPolicy] {
    static P: OnceLock<Vec<ManylinuxPolicy>> = OnceLock::new();
    P.get_or_init(|| {
        serde_json::from_str(MANYLINUX_POLICY_JSON)
            .expect("embedded data/manylinux-policy.json is valid")
    })
}

/// Find a policy by name or alias (`manylinux_2_28`, `manylinux2014`).
pub fn find_policy(name: &str) -> Result<&'static ManylinuxPolicy, String> {
    manylinux_policies()
        .iter()
        .filter(|p| p.name != "linux")
        .find(|p| p.name == name || p.aliases.iter().any(|a| a == name))
        .ok_or_else(|| {
            let known: Vec<&str> = manylinux_policies()
                .iter()
                .filter(|p| p.name != "linux")
                .map(|p| p.name.as_str())
                .collect();
            format!(
                "unknown manylinux policy `{name}`; known: {}",
                known.join(", ")
            )
        })
}

#[derive(Debug, Clone, Deserialize)]
pub struct StableAbiSymbol {
    pub added: String,
    pub kind: String,
    #[serde(default)]
    pub abi_only: bool,
    #[serde(default)]
    pub ifdef: Option<String>,
}

#[derive(Debug, Deserialize)]
struct StableAbiFile {
    #[allow(dead_code)]
    source: String,
    symbols: BTreeMap<String, StableAbiSymbol>,
}

/// CPython's stable ABI: symbol -> entry.
pub fn python_stable_abi() -> &'static BTreeMap<String, StableAbiSymbol> {
    static P: OnceLock<BTreeMap<String, StableAbiSymbol>> = OnceLock::new();
    P.get_or_init(|| {
        let f: StableAbiFile = serde_json::from_str(PYTHON_STABLE_ABI_JSON)
            .expect("embedded data/python-stable-abi.json is valid");
        f.symbols
    })
}

/// The Torch stable ABI: C function -> entry (`added` is a Torch version).
pub fn torch_stable_abi() -> &'static BTreeMap<String, StableAbiSymbol> {
    static P: OnceLock<BTreeMap<String, StableAbiSymbol>> = OnceLock::new();
    P.get_or_init(|| {
        let f: StableAbiFile = serde_json::from_str(TORCH_STABLE_ABI_JSON)
            .expect("embedded data/torch-stable-abi.json is valid");
        f.symbols
    })
}

// --------------------------------------------------------------- options

/// What to check against (the `check-abi` flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbiOptions {
    pub manylinux: String,
    pub macos: String,
    pub python: String,
    pub torch_stable_abi: Option<String>,
}

impl Default for AbiOptions {
    fn default() -> Self {
        AbiOptions {
            manylinux: "manylinux_2_28".into(),
            macos: "15.0".into(),
            python: "3.9".into(),
            torch_stable_abi: None,
        }
    }
}

/// Validated options.
struct Policy {
    manylinux: &'static ManylinuxPolicy,
    macos: Vec<u32>,
    python: (u32, u32),
    torch: Option<(u32, u32)>,
}

fn parse_numeric(s: &str) -> Option<Vec<u32>> {
    let v: Option<Vec<u32>> = s.split('.').map(|p| p.parse().ok()).collect();
    v.filter(|v| !v.is_empty())
}

fn major_minor(s: &str, what: &str, example: &str) -> Result<(u32, u32), String> {
    match parse_numeric(s).as_deref() {
        Some([a, b]) => Ok((*a, *b)),
        _ => Err(format!(
            "invalid {what} `{s}`: expected MAJOR.MINOR (e.g. `{example}`)"
        )),
    }
}

impl Policy {
    fn new(o: &AbiOptions) -> Result<Policy, String> {
        let macos = parse_numeric(&o.macos)
            .ok_or_else(|| format!("invalid macOS version `{}`: expected e.g. `15.0`", o.macos))?;
        Ok(Policy {
            manylinux: find_policy(&o.manylinux)?,
            macos,
            python: major_minor(&o.python, "Python ABI version", "3.9")?,
            torch: o
                .torch_stable_abi
                .as_deref()
                .map(|t| major_minor(t, "Torch stable ABI version", "2.11"))
                .transpose()?,
        })
    }
}

fn cmp_versions(a: &[u32], b: &[u32]) -> std::cmp::Ordering {
    let n = a.len().max(b.len());
    for i in 0..n {
        let (x, y) = (a.get(i).unwrap_or(&0), b.get(i).unwrap_or(&0));
        match x.cmp(y) {
            std::cmp::Ordering::Equal => continue,
            o => return o,
        }
    }
    std::cmp::Ordering::Equal
}

fn fmt_version(v: &[u32]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

// ------------------------------------------------------------- findings

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "kebab-case")]
pub enum ViolationKind {
    /// A versioned symbol newer than the manylinux policy allows.
    SymbolVersion,
    /// A needed library outside the whitelist.
    Library,
    /// A symbol the policy forbids using from a whitelisted library.
    BlacklistedSymbol,
    /// A CPython symbol outside the stable ABI of the chosen version.
    PythonSymbol,
    /// Linking a version-specific libpython.
    PythonLibrary,
    /// A macOS deployment target above `--macos`.
    MacosVersion,
    /// A Torch symbol outside the Torch stable ABI of the chosen version.
    TorchSymbol,
    /// An architecture the policy has no tables for.
    Architecture,
}

/// One violation: what, which symbol/library, what it requires, what is allowed.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub struct Violation {
    pub kind: ViolationKind,
    pub symbol: Option<String>,
    pub library: Option<String>,
    /// What the binary requires (`GLIBC_2.34`, `Python 3.10`, `macOS 26.0`).
    pub required: String,
    /// What the policy allows.
    pub allowed: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sym = self.symbol.as_deref().unwrap_or("");
        let lib = self.library.as_deref().unwrap_or("");
        match self.kind {
            ViolationKind::SymbolVersion if sym.is_empty() => write!(
                f,
                "requires version {} of {lib} (no symbol uses it); {}",
                self.required, self.allowed
            ),
            ViolationKind::SymbolVersion => write!(
                f,
                "symbol `{sym}` needs {} (from {lib}); {}",
                self.required, self.allowed
            ),
            ViolationKind::Library => {
                write!(f, "needs library `{lib}`; {}", self.allowed)
            }
            ViolationKind::BlacklistedSymbol => write!(
                f,
                "symbol `{sym}` from {lib} is blacklisted; {}",
                self.allowed
            ),
            ViolationKind::PythonSymbol if self.required.starts_with("Python ") => write!(
                f,
                "Python symbol `{sym}` joined the stable ABI in {}; {}",
                self.required, self.allowed
            ),
            ViolationKind::PythonSymbol => write!(
                f,
                "Python symbol `{sym}` is not part of the stable ABI; {}",
                self.allowed
            ),
            ViolationKind::PythonLibrary => {
                write!(f, "links `{lib}`; {}", self.allowed)
            }
            ViolationKind::MacosVersion => {
                write!(f, "deployment target {}; {}", self.required, self.allowed)
            }
            ViolationKind::TorchSymbol if self.required.starts_with("Torch ") => write!(
                f,
                "Torch symbol `{sym}` joined the Torch stable ABI in {}; {}",
                self.required, self.allowed
            ),
            ViolationKind::TorchSymbol => write!(
                f,
                "Torch symbol `{sym}` {}; {}",
                self.required, self.allowed
            ),
            ViolationKind::Architecture => {
                write!(f, "architecture {}; {}", self.required, self.allowed)
            }
        }
    }
}

/// The result for one native module.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct FileReport {
    /// The path as given (relative to the checked directory when inside it).
    pub file: String,
    #[serde(skip)]
    pub path: PathBuf,
    /// The variant directory name, when the file belongs to a variant.
    pub variant: Option<String>,
    /// `elf`, `mach-o` or `pe`.
    pub format: String,
    pub arch: String,
    pub violations: Vec<Violation>,
}

/// The result of checking a target.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct AbiReport {
    pub manylinux: String,
    pub macos: String,
    pub python_abi: String,
    pub torch_stable_abi: Option<String>,
    pub files: Vec<FileReport>,
    pub errors: Vec<FileError>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileError {
    pub file: String,
    pub error: String,
}

impl AbiReport {
    pub fn violation_count(&self) -> usize {
        self.files.iter().map(|f| f.violations.len()).sum()
    }

    /// 0: clean, 1: violations, 2: some input could not be read.
    pub fn exit_code(&self) -> u8 {
        if !self.errors.is_empty() {
            2
        } else if self.violation_count() > 0 {
            1
        } else {
            0
        }
    }
}

// ---------------------------------------------------- binary inspection

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Elf,
    MachO,
    Pe,
}

impl Format {
    fn as_str(self) -> &'static str {
        match self {
            Format::Elf => "elf",
            Format::MachO => "mach-o",
            Format::Pe => "pe",
        }
    }
}

/// An undefined (imported) symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Undefined {
    /// C-level name (Mach-O's leading underscore removed).
    name: String,
    /// ELF symbol version (`GLIBC_2.34`).
    version: Option<String>,
    /// Library the symbol comes from, when the format records it.
    library: Option<String>,
}

/// What the checks need from one binary (one slice of a fat Mach-O file).
#[derive(Debug, Clone)]
struct BinaryInfo {
    format: Format,
    arch: String,
    needed: Vec<String>,
    /// ELF version needs: (library, version name).
    version_needs: Vec<(String, String)>,
    undefined: Vec<Undefined>,
    /// Mach-O minimum OS version and where it came from.
    macos_min: Option<Vec<u32>>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn elf_arch(machine: object::elf::Machine, little: bool) -> String {
    match machine {
        elf::EM_X86_64 => "x86_64".into(),
        elf::EM_386 => "i686".into(),
        elf::EM_AARCH64 => "aarch64".into(),
        elf::EM_ARM => "armv7l".into(),
        elf::EM_PPC64 if little => "ppc64le".into(),
        elf::EM_PPC64 => "ppc64".into(),
        elf::EM_S390 => "s390x".into(),
        elf::EM_RISCV => "riscv64".into(),
        elf::EM_LOONGARCH => "loongarch64".into(),
        other => format!("e_machine {}", other.0),
    }
}

fn inspect_elf<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Result<BinaryInfo, String> {
    let e = |err: object::read::Error| format!("malformed ELF file: {err}");
    let header = Elf::parse(data).map_err(e)?;
    let endian = header.endian().map_err(e)?;
    let sections = header.sections(endian, data).map_err(e)?;
    if sections.is_empty() {
        return Err("ELF file has no section headers; cannot find its dynamic symbols".into());
    }
    let arch = elf_arch(header.e_machine(endian), header.is_little_endian());

    let mut needed = Vec::new();
    if let Some((dyns, link)) = sections.dynamic(endian, data).map_err(e)? {
        let strings = sections.strings(endian, data, link).map_err(e)?;
        for d in dyns {
            let tag = d.d_tag(endian);
            if tag == elf::DT_NULL {
                break;
            }
            if tag == elf::DT_NEEDED {
                needed.push(lossy(d.string(endian, strings).map_err(e)?));
            }
        }
    }

    let mut version_needs = Vec::new();
    if let Some((mut it, link)) = sections.gnu_verneed(endian, data).map_err(e)? {
        let strings = sections.strings(endian, data, link).map_err(e)?;
        while let Some((vn, mut aux)) = it.next().map_err(e)? {
            let file = lossy(vn.file(endian, strings).map_err(e)?);
            while let Some(a) = aux.next().map_err(e)? {
                version_needs.push((file.clone(), lossy(a.name(endian, strings).map_err(e)?)));
            }
        }
    }

    let dynsym = sections.symbols(endian, data, elf::SHT_DYNSYM).map_err(e)?;
    let versions = sections.versions(endian, data).map_err(e)?;
    let strings = dynsym.strings();
    let mut undefined = Vec::new();
    for (i, sym) in dynsym.iter().enumerate().skip(1) {
        if sym.st_shndx(endian) != elf::SHN_UNDEF {
            continue;
        }
        let name = sym.name(endian, strings).map_err(e)?;
        if name.is_empty() {
            continue;
        }
        let (version, library) = match &versions {
            Some(vt) => {
                let idx = vt.version_index(endian, object::read::SymbolIndex(i));
                match vt.version(idx.index()) {
                    Ok(Some(v)) => (Some(lossy(v.name())), v.file().map(lossy)),
                    _ => (None, None),
                }
            }
            None => (None, None),
        };
        undefined.push(Undefined {
            name: lossy(name),
            version,
            library,
        });
    }
    Ok(BinaryInfo {
        format: Format::Elf,
        arch,
        needed,
        version_needs,
        undefined,
        macos_min: None,
    })
}

/// `xxxx.yy.zz` nibble-packed; a zero patch level is dropped (`26.0`).
fn macho_version(v: u32) -> Vec<u32> {
    let mut out = vec![v >> 16, (v >> 8) & 0xff, v & 0xff];
    if out[2] == 0 {
        out.pop();
    }
    out
}

fn inspect_macho<'d, Mach: object::read::macho::MachHeader<Endian = Endianness>>(
    data: &'d [u8],
) -> Result<BinaryInfo, String> {
    let e = |err: object::read::Error| format!("malformed Mach-O file: {err}");
    let file = object::read::macho::MachOFile::<'d, Mach, &'d [u8]>::parse(data).map_err(e)?;
    let endian = file.endian();
    let arch = match file.architecture() {
        object::Architecture::Aarch64 => "arm64".to_string(),
        object::Architecture::X86_64 => "x86_64".to_string(),
        other => format!("{other:?}").to_lowercase(),
    };
    let mut needed = Vec::new();
    let mut macos_min = None;
    let mut commands = file.macho_load_commands().map_err(e)?;
    while let Some(cmd) = commands.next().map_err(e)? {
        if let Some(d) = cmd.dylib().map_err(e)? {
            needed.push(lossy(cmd.string(endian, d.dylib.name).map_err(e)?));
        } else if let Some((bv, _)) = cmd.build_version(endian).map_err(e)? {
            macos_min = Some(macho_version(bv.minos.get(endian).0));
        } else if cmd.cmd() == macho::LC_VERSION_MIN_MACOSX && macos_min.is_none() {
            let vm: &macho::VersionMinCommand<Endianness> = cmd.data().map_err(e)?;
            macos_min = Some(macho_version(vm.version.get(endian).0));
        }
    }
    let mut undefined = Vec::new();
    for sym in file.symbols() {
        if !sym.is_undefined() {
            continue;
        }
        let Ok(name) = sym.name_bytes() else { continue };
        let name = lossy(name.strip_prefix(b"_").unwrap_or(name));
        if name.is_empty() {
            continue;
        }
        undefined.push(Undefined {
            name,
            version: None,
            library: None,
        });
    }
    Ok(BinaryInfo {
        format: Format::MachO,
        arch,
        needed,
        version_needs: Vec::new(),
        undefined,
        macos_min,
    })
}

fn inspect_pe(data: &[u8]) -> Result<BinaryInfo, String> {
    let e = |err: object::read::Error| format!("malformed PE file: {err}");
    let file = object::File::parse(data).map_err(e)?;
    let arch = match file.architecture() {
        object::Architecture::X86_64 => "x86_64".to_string(),
        object::Architecture::Aarch64 => "arm64".to_string(),
        object::Architecture::I386 => "x86".to_string(),
        other => format!("{other:?}").to_lowercase(),
    };
    let mut needed: Vec<String> = Vec::new();
    let mut undefined = Vec::new();
    for imp in file.imports().map_err(e)? {
        let imp = imp.map_err(e)?;
        let lib = lossy(imp.library());
        if !needed.iter().any(|n| n.eq_ignore_ascii_case(&lib)) {
            needed.push(lib.clone());
        }
        let name = match imp.name() {
            object::read::NameOrOrdinal::Name(n) => lossy(n),
            object::read::NameOrOrdinal::Ordinal(o) => format!("#{o}"),
        };
        undefined.push(Undefined {
            name,
            version: None,
            library: Some(lib),
        });
    }
    Ok(BinaryInfo {
        format: Format::Pe,
        arch,
        needed,
        version_needs: Vec::new(),
        undefined,
        macos_min: None,
    })
}

/// Parse a binary; fat Mach-O files yield one entry per slice.
fn inspect(data: &[u8]) -> Result<Vec<BinaryInfo>, String> {
    let kind = FileKind::parse(data).map_err(|_| {
        "not a native module: neither ELF, Mach-O nor PE (unknown file format)".to_string()
    })?;
    match kind {
        FileKind::Elf64 => Ok(vec![inspect_elf::<elf::FileHeader64<Endianness>>(data)?]),
        FileKind::Elf32 => Ok(vec![inspect_elf::<elf::FileHeader32<Endianness>>(data)?]),
        FileKind::MachO64 => Ok(vec![inspect_macho::<macho::MachHeader64<Endianness>>(data)?]),
        FileKind::MachO32 => Ok(vec![inspect_macho::<macho::MachHeader32<Endianness>>(data)?]),
        FileKind::MachOFat32 | FileKind::MachOFat64 => {
            use object::read::macho::FatArch;
            let e = |err: object::read::Error| format!("malformed universal Mach-O file: {err}");
            let slices: Vec<&[u8]> = if kind == FileKind::MachOFat32 {
                let fat = object::read::macho::MachOFatFile32::parse(data).map_err(e)?;
                fat.arches()
                    .iter()
                    .map(|a| a.data(data))
                    .collect::<Result<_, _>>()
                    .map_err(e)?
            } else {
                let fat = object::read::macho::MachOFatFile64::parse(data).map_err(e)?;
                fat.arches()
                    .iter()
                    .map(|a| a.data(data))
                    .collect::<Result<_, _>>()
                    .map_err(e)?
            };
            let mut out = Vec::new();
            for slice in slices {
                match FileKind::parse(slice) {
                    Ok(FileKind::MachO64) => {
                        out.push(inspect_macho::<macho::MachHeader64<Endianness>>(slice)?)
                    }
                    Ok(FileKind::MachO32) => {
                        out.push(inspect_macho::<macho::MachHeader32<Endianness>>(slice)?)
                    }
                    _ => return Err("universal Mach-O file with a slice that is not Mach-O".into()),
                }
            }
            Ok(out)
        }
        FileKind::Pe32 | FileKind::Pe64 => Ok(vec![inspect_pe(data)?]),
        other => Err(format!(
            "not a shared library: {other:?} files are not native modules (expected ELF, Mach-O or PE)"
        )),
    }
}

// ------------------------------------------------------ allowed libraries

/// Libraries of the torch wheel itself (`torch/lib`), and of tvm-ffi, by
/// stem (the name up to `.so`/`.dylib`). Read off torch 2.15.0's wheels.
const FRAMEWORK_LIBS: &[&str] = &[
    "libtorch",
    "libtorch_cpu",
    "libtorch_cuda",
    "libtorch_cuda_linalg",
    "libtorch_hip",
    "libtorch_xpu",
    "libtorch_python",
    "libtorch_global_deps",
    "libtorch_nvshmem",
    "libc10",
    "libc10_cuda",
    "libc10_hip",
    "libc10_xpu",
    "libcaffe2_nvrtc",
    "libshm",
    // Runtimes the torch wheel ships in torch/lib.
    "libgomp",
    "libgfortran",
    "libquadmath",
    "libomp",
    "libiomp5",
    "libtvm_ffi",
];

/// CUDA libraries torch 2.15 depends on (`cuda-toolkit[cublas,cudart,cufft,
/// cufile,cupti,cusolver,cusparse,nvjitlink,nvrtc,nvtx]`, nvidia-cudnn,
/// -cusparselt, -nccl, -nvshmem) plus the driver library.
const CUDA_LIBS: &[&str] = &[
    "libcuda",
    "libcudart",
    "libcublas",
    "libcublasLt",
    "libcufft",
    "libcufftw",
    "libcufile",
    "libcupti",
    "libcusolver",
    "libcusparse",
    "libcusparseLt",
    "libnvJitLink",
    "libnvrtc",
    "libnvtx3interop",
    "libnvToolsExt",
    "libnccl",
    "libnvshmem_host",
    "libcudnn",
];

/// ROCm libraries that torch's ROCm wheels ship and link.
const ROCM_LIBS: &[&str] = &[
    "libamdhip64",
    "libhiprtc",
    "libhsa-runtime64",
    "libamd_comgr",
    "librocblas",
    "libhipblas",
    "libhipblaslt",
    "libhipfft",
    "libhiprand",
    "librocrand",
    "libhipsparse",
    "libhipsparselt",
    "libhipsolver",
    "librocsolver",
    "libMIOpen",
    "librccl",
    "libroctx64",
    "libroctracer64",
    "librocprofiler-register",
    "librocm_smi64",
    "libaotriton_v2",
];

/// SYCL/oneAPI libraries torch's XPU wheels depend on.
const XPU_LIBS: &[&str] = &[
    "libsycl",
    "libur_loader",
    "libumf",
    "libOpenCL",
    "libze_loader",
    "libsvml",
    "libimf",
    "libirng",
    "libintlc",
    "libmkl_core",
    "libmkl_intel_lp64",
    "libmkl_sequential",
    "libmkl_sycl_blas",
    "libmkl_sycl_lapack",
    "libmkl_sycl_dft",
];

/// Windows DLLs that come with the OS or the MSVC runtime.
const WINDOWS_SYSTEM_DLLS: &[&str] = &[
    "kernel32",
    "user32",
    "advapi32",
    "ntdll",
    "shell32",
    "ole32",
    "oleaut32",
    "ws2_32",
    "bcrypt",
    "dbghelp",
    "ucrtbase",
    "vcruntime140",
    "vcruntime140_1",
    "msvcp140",
    "msvcp140_1",
    "msvcp140_2",
    "concrt140",
    "vcomp140",
];

/// Windows DLLs of torch itself.
const WINDOWS_TORCH_DLLS: &[&str] = &[
    "c10",
    "c10_cuda",
    "c10_xpu",
    "torch",
    "torch_cpu",
    "torch_cuda",
    "torch_xpu",
    "torch_python",
    "torch_global_deps",
    "libiomp5md",
    "uv",
    "asmjit",
    "fbgemm",
];

/// Windows CUDA DLL prefixes (`cudart64_13.dll`, `cublas64_13.dll`, ...).
const WINDOWS_CUDA_DLLS: &[&str] = &[
    "cudart64_",
    "cublas64_",
    "cublaslt64_",
    "cufft64_",
    "cusparse64_",
    "cusolver64_",
    "nvrtc64_",
    "cudnn64_",
    "nvjitlink_",
    "sycl",
];

/// `libfoo.so.1` -> `libfoo`; `@rpath/libc10.dylib` -> `libc10`.
fn lib_stem(name: &str) -> &str {
    let base = name.rsplit('/').next().unwrap_or(name);
    if let Some(i) = base.find(".so") {
        return &base[..i];
    }
    base.strip_suffix(".dylib")
        .map(|s| s.split('.').next().unwrap_or(s))
        .unwrap_or(base)
}

fn is_cudnn(stem: &str) -> bool {
    stem == "libcudnn" || stem.starts_with("libcudnn_")
}

/// Why a library is allowed, or `None`.
fn library_allowed(
    lib: &str,
    format: Format,
    policy: &ManylinuxPolicy,
    backend: Option<&str>,
    bundled: &BTreeSet<String>,
) -> bool {
    let base = lib.rsplit(['/', '\\']).next().unwrap_or(lib);
    if bundled.contains(base) {
        return true;
    }
    let backend_ok = |b: &str| backend.is_none_or(|x| x == b);
    match format {
        Format::Elf => {
            if base.starts_with("ld-linux") || base == "ld64.so.1" || base == "ld64.so.2" {
                return true;
            }
            if policy.lib_whitelist.iter().any(|w| w == base) {
                return true;
            }
            let stem = lib_stem(base);
            FRAMEWORK_LIBS.contains(&stem)
                || (backend_ok("cuda") && (CUDA_LIBS.contains(&stem) || is_cudnn(stem)))
                || (backend_ok("rocm") && ROCM_LIBS.contains(&stem))
                || (backend_ok("xpu") && XPU_LIBS.contains(&stem))
        }
        Format::MachO => {
            if lib.starts_with("/usr/lib/") || lib.starts_with("/System/Library/") {
                return true;
            }
            FRAMEWORK_LIBS.contains(&lib_stem(lib))
        }
        Format::Pe => {
            let l = base.to_ascii_lowercase();
            let stem = l.strip_suffix(".dll").unwrap_or(&l);
            stem == "python3"
                || stem.starts_with("api-ms-win-")
                || WINDOWS_SYSTEM_DLLS.contains(&stem)
                || WINDOWS_TORCH_DLLS.contains(&stem)
                || (backend_ok("cuda") && WINDOWS_CUDA_DLLS.iter().any(|p| stem.starts_with(p)))
        }
    }
}

/// A version-specific libpython (`libpython3.11.so.1.0`, `python311.dll`,
/// `.../Python.framework/...`).
fn is_versioned_libpython(lib: &str) -> bool {
    let base = lib
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(lib)
        .to_ascii_lowercase();
    if base.starts_with("libpython") {
        return true;
    }
    if let Some(rest) = base.strip_prefix("python3") {
        let digits = rest.strip_suffix(".dll").unwrap_or(rest);
        return !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    }
    lib.contains("Python.framework")
}

// -------------------------------------------------------------- checking

fn is_python_symbol(name: &str) -> bool {
    (name.starts_with("Py") || name.starts_with("_Py")) && !name.starts_with("PyInit_")
}

/// Itanium-mangled names in the torch/c10/at namespaces (functions, typeinfo,
/// vtables): C++ ABI of libtorch, never part of the Torch stable ABI.
fn is_torch_cxx_symbol(name: &str) -> bool {
    let rest = ["_ZN", "_ZNK", "_ZTVN", "_ZTIN", "_ZTSN"]
        .iter()
        .find_map(|p| name.strip_prefix(p));
    match rest {
        Some(r) => {
            let r = r.strip_prefix('K').unwrap_or(r);
            r.starts_with("3c10") || r.starts_with("2at") || r.starts_with("5torch")
        }
        None => false,
    }
}

fn is_torch_c_symbol(name: &str) -> bool {
    name.starts_with("aoti_torch_") || name.starts_with("torch_")
}

/// "manylinux_2_28 allows GLIBC up to 2.28".
fn describe_allowed(policy: &ManylinuxPolicy, prefix: &str, allowed: &[String]) -> String {
    let mut numeric: Vec<Vec<u32>> = allowed.iter().filter_map(|v| parse_numeric(v)).collect();
    numeric.sort_by(|a, b| cmp_versions(a, b));
    let named: Vec<&str> = allowed
        .iter()
        .filter(|v| parse_numeric(v).is_none())
        .map(|v| v.as_str())
        .collect();
    let mut s = match numeric.last() {
        Some(max) => format!("{} allows {prefix} up to {}", policy.name, fmt_version(max)),
        None => format!("{} allows no {prefix} versions", policy.name),
    };
    if !named.is_empty() {
        s.push_str(&format!(
            " (and {})",
            named
                .iter()
                .map(|n| format!("{prefix}_{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    s
}

/// Everything a file is checked in the context of.
#[derive(Debug, Clone, Default)]
pub struct FileContext {
    /// The backend of the variant the file belongs to (`cuda`...), which
    /// decides which compute libraries may be linked. `None`: any.
    pub backend: Option<String>,
    /// File names of shared libraries shipped next to the module in the
    /// same variant (they are checked themselves).
    pub bundled: BTreeSet<String>,
}

fn evaluate(info: &BinaryInfo, policy: &Policy, ctx: &FileContext) -> Vec<Violation> {
    let mut out: Vec<Violation> = Vec::new();
    let ml = policy.manylinux;

    // 1. Symbol versions (ELF).
    if info.format == Format::Elf {
        match ml.symbol_versions.get(&info.arch) {
            None => out.push(Violation {
                kind: ViolationKind::Architecture,
                symbol: None,
                library: None,
                required: info.arch.clone(),
                allowed: format!(
                    "{} covers {}",
                    ml.name,
                    ml.symbol_versions
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
            Some(table) => {
                // Symbols by (library, version).
                let mut users: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
                for u in &info.undefined {
                    if let (Some(v), Some(l)) = (&u.version, &u.library) {
                        users
                            .entry((l.as_str(), v.as_str()))
                            .or_default()
                            .push(&u.name);
                    }
                }
                let mut seen = BTreeSet::new();
                for (lib, version) in &info.version_needs {
                    if lib.starts_with("ld-linux") || lib == "ld64.so.1" || lib == "ld64.so.2" {
                        continue;
                    }
                    if !seen.insert((lib.as_str(), version.as_str())) {
                        continue;
                    }
                    let (prefix, ver) = match version.split_once('_') {
                        Some((p, v)) => (p, v),
                        None => (version.as_str(), ""),
                    };
                    let Some(allowed) = table.get(prefix) else {
                        continue;
                    };
                    if allowed.iter().any(|a| a == ver) {
                        continue;
                    }
                    let allowed_text = describe_allowed(ml, prefix, allowed);
                    let mut syms = users
                        .get(&(lib.as_str(), version.as_str()))
                        .cloned()
                        .unwrap_or_default();
                    syms.sort_unstable();
                    syms.dedup();
                    if syms.is_empty() {
                        out.push(Violation {
                            kind: ViolationKind::SymbolVersion,
                            symbol: None,
                            library: Some(lib.clone()),
                            required: version.clone(),
                            allowed: allowed_text.clone(),
                        });
                    }
                    for s in syms {
                        out.push(Violation {
                            kind: ViolationKind::SymbolVersion,
                            symbol: Some(s.to_string()),
                            library: Some(lib.clone()),
                            required: version.clone(),
                            allowed: allowed_text.clone(),
                        });
                    }
                }
            }
        }
    }

    // 2. Libraries.
    let whitelist_hint = match info.format {
        Format::Elf => format!(
            "allowed are the {} whitelist ({}), torch's own libraries and the {} libraries torch depends on",
            ml.name,
            ml.lib_whitelist.join(", "),
            match ctx.backend.as_deref() {
                Some("cuda") => "CUDA",
                Some("rocm") => "ROCm",
                Some("xpu") => "XPU",
                _ => "compute",
            }
        ),
        Format::MachO => "allowed are system libraries (/usr/lib, /System/Library) and torch's own libraries".into(),
        Format::Pe => "allowed are Windows/MSVC runtime DLLs, python3.dll, torch's own DLLs and the CUDA DLLs torch depends on".into(),
    };
    let mut libs: Vec<&String> = info.needed.iter().collect();
    libs.sort();
    libs.dedup();
    for lib in libs {
        if is_versioned_libpython(lib) {
            out.push(Violation {
                kind: ViolationKind::PythonLibrary,
                symbol: None,
                library: Some(lib.clone()),
                required: "a specific CPython version".into(),
                allowed: "abi3 modules must not link a version-specific libpython (on Windows: link python3.dll)".into(),
            });
        } else if !library_allowed(lib, info.format, ml, ctx.backend.as_deref(), &ctx.bundled) {
            out.push(Violation {
                kind: ViolationKind::Library,
                symbol: None,
                library: Some(lib.clone()),
                required: lib.clone(),
                allowed: whitelist_hint.clone(),
            });
        }
    }

    // 3. Blacklisted symbols of whitelisted libraries (ELF).
    if info.format == Format::Elf {
        for (lib, banned) in &ml.blacklist {
            if !info.needed.iter().any(|n| n == lib) {
                continue;
            }
            let banned: BTreeSet<&str> = banned.iter().map(|s| s.as_str()).collect();
            let mut hits: Vec<&str> = info
                .undefined
                .iter()
                .map(|u| u.name.as_str())
                .filter(|n| banned.contains(n))
                .collect();
            hits.sort_unstable();
            hits.dedup();
            for h in hits {
                out.push(Violation {
                    kind: ViolationKind::BlacklistedSymbol,
                    symbol: Some(h.to_string()),
                    library: Some(lib.clone()),
                    required: format!("{h} from {lib}"),
                    allowed: format!("{} forbids this internal symbol of {lib}", ml.name),
                });
            }
        }
    }

    // 4. CPython stable ABI.
    let (pmaj, pmin) = policy.python;
    let stable = python_stable_abi();
    let mut py: Vec<&Undefined> = info
        .undefined
        .iter()
        .filter(|u| match (&info.format, &u.library) {
            (Format::Pe, Some(l)) => {
                let l = l.to_ascii_lowercase();
                l.starts_with("python3") && l.ends_with(".dll")
            }
            _ => is_python_symbol(&u.name),
        })
        .collect();
    py.sort_by(|a, b| a.name.cmp(&b.name));
    py.dedup_by(|a, b| a.name == b.name);
    for u in py {
        let allowed = format!("the Python {pmaj}.{pmin} limited API (abi3) allows only stable-ABI symbols added in {pmaj}.{pmin} or earlier");
        match stable.get(&u.name) {
            None => out.push(Violation {
                kind: ViolationKind::PythonSymbol,
                symbol: Some(u.name.clone()),
                library: u.library.clone(),
                required: "not in the stable ABI".into(),
                allowed,
            }),
            Some(s) => {
                let added = major_minor(&s.added, "", "").unwrap_or((0, 0));
                if added > (pmaj, pmin) {
                    out.push(Violation {
                        kind: ViolationKind::PythonSymbol,
                        symbol: Some(u.name.clone()),
                        library: u.library.clone(),
                        required: format!("Python {}", s.added),
                        allowed,
                    });
                }
            }
        }
    }

    // 5. macOS deployment target.
    if info.format == Format::MachO {
        match &info.macos_min {
            Some(min) if cmp_versions(min, &policy.macos).is_gt() => out.push(Violation {
                kind: ViolationKind::MacosVersion,
                symbol: None,
                library: None,
                required: format!("macOS {}", fmt_version(min)),
                allowed: format!(
                    "the deployment target may be at most macOS {}",
                    fmt_version(&policy.macos)
                ),
            }),
            Some(_) => {}
            None => out.push(Violation {
                kind: ViolationKind::MacosVersion,
                symbol: None,
                library: None,
                required: "no LC_BUILD_VERSION or LC_VERSION_MIN_MACOSX".into(),
                allowed: format!(
                    "the deployment target must be recorded and at most macOS {}",
                    fmt_version(&policy.macos)
                ),
            }),
        }
    }

    // 6. Torch stable ABI.
    if let Some((tmaj, tmin)) = policy.torch {
        let table = torch_stable_abi();
        let allowed = format!("the Torch {tmaj}.{tmin} stable ABI allows only its C shim functions added in {tmaj}.{tmin} or earlier");
        let mut names: Vec<&str> = info.undefined.iter().map(|u| u.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for n in names {
            if is_torch_cxx_symbol(n) {
                out.push(Violation {
                    kind: ViolationKind::TorchSymbol,
                    symbol: Some(n.to_string()),
                    library: None,
                    required: "is libtorch C++ ABI, not part of the Torch stable ABI".into(),
                    allowed: allowed.clone(),
                });
            } else if is_torch_c_symbol(n) {
                match table.get(n) {
                    None => out.push(Violation {
                        kind: ViolationKind::TorchSymbol,
                        symbol: Some(n.to_string()),
                        library: None,
                        required: "is not part of the Torch stable ABI".into(),
                        allowed: allowed.clone(),
                    }),
                    Some(s) => {
                        let added = major_minor(&s.added, "", "").unwrap_or((0, 0));
                        if added > (tmaj, tmin) {
                            out.push(Violation {
                                kind: ViolationKind::TorchSymbol,
                                symbol: Some(n.to_string()),
                                library: None,
                                required: format!("Torch {}", s.added),
                                allowed: allowed.clone(),
                            });
                        }
                    }
                }
            }
        }
    }
    out
}

// ------------------------------------------------------------ file access

/// Map a file into memory (read-only). Falls back to reading it when the
/// file cannot be mapped (e.g. a pipe).
enum Bytes {
    Mapped(memmap2::Mmap),
    Read(Vec<u8>),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m,
            Bytes::Read(v) => v,
        }
    }
}

fn load(path: &Path) -> std::io::Result<Bytes> {
    let f = kb_core::fsutil::open_regular(path)?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(Bytes::Read(Vec::new()));
    }
    // SAFETY: the mapping is read-only and private to this process; a file
    // truncated concurrently by another process could fault, which is the
    // same risk every mmap-based binary inspector (ld.so included) takes.
    match unsafe { memmap2::Mmap::map(&f) } {
        Ok(m) => Ok(Bytes::Mapped(m)),
        Err(_) => Ok(Bytes::Read(kb_core::fsutil::read_regular(path)?)),
    }
}

/// Native modules of a variant directory (the one walk: recursive, sorted,
/// `__pycache__` skipped).
pub fn native_files(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    Ok(kb_core::walk::files(dir, kb_core::walk::Rule::Variant)?
        .into_iter()
        .filter(|f| crate::files::is_native_name(f.rel.rsplit('/').next().unwrap_or(&f.rel)))
        .map(|f| f.path)
        .collect())
}

/// Check one file. `Err` means the file could not be read or parsed.
pub fn check_file(
    path: &Path,
    options: &AbiOptions,
    ctx: &FileContext,
) -> Result<Vec<(String, String, Vec<Violation>)>, String> {
    let policy = Policy::new(options)?;
    check_file_with(path, &policy, ctx)
}

/// `GLIBC_2.9` before `GLIBC_2.34`: prefix, then numeric version parts.
fn requirement_key(r: &str) -> (String, Vec<u32>, String) {
    match r.split_once(['_', ' ']) {
        Some((p, v)) => match parse_numeric(v) {
            Some(n) => (p.to_string(), n, String::new()),
            None => (p.to_string(), Vec::new(), v.to_string()),
        },
        None => (r.to_string(), Vec::new(), String::new()),
    }
}

/// Deterministic order: by kind, library, required version, symbol.
fn sort_violations(v: &mut Vec<Violation>) {
    v.sort_by(|a, b| {
        (
            a.kind,
            &a.library,
            requirement_key(&a.required),
            &a.symbol,
            &a.allowed,
        )
            .cmp(&(
                b.kind,
                &b.library,
                requirement_key(&b.required),
                &b.symbol,
                &b.allowed,
            ))
    });
    v.dedup();
}

/// Per slice: (format, arch, violations).
fn check_file_with(
    path: &Path,
    policy: &Policy,
    ctx: &FileContext,
) -> Result<Vec<(String, String, Vec<Violation>)>, String> {
    let bytes = load(path).map_err(|e| format!("cannot read: {e}"))?;
    let infos = inspect(&bytes)?;
    Ok(infos
        .iter()
        .map(|i| {
            let mut v = evaluate(i, policy, ctx);
            sort_violations(&mut v);
            (i.format.as_str().to_string(), i.arch.clone(), v)
        })
        .collect())
}

fn variant_context(variant_dir: &Path, files: &[PathBuf]) -> FileContext {
    let backend = variant_dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| VariantName::parse(n).ok())
        .and_then(|v| v.backend().map(str::to_string));
    let bundled = files
        .iter()
        .filter_map(|f| f.file_name().and_then(|n| n.to_str()).map(str::to_string))
        .collect();
    FileContext { backend, bundled }
}

/// Why a compiled variant has no native module to check, if it has none:
/// the module its metadata.json names is missing or not a regular file (a
/// directory; links out and special files are refused by the walk). A
/// noarch variant needs none.
fn missing_native_module(variant: &Path, natives: &[PathBuf]) -> Option<String> {
    let vname = variant
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| VariantName::parse(n).ok());
    if vname.as_ref().is_some_and(|v| v.is_noarch()) {
        return None;
    }
    let names: Vec<&str> = natives
        .iter()
        .filter_map(|f| f.file_name().and_then(|n| n.to_str()))
        .collect();
    let id = match kb_core::metadata::Metadata::read(variant) {
        Ok(m) => m.id,
        Err(e) if natives.is_empty() => {
            return Some(format!(
                "no native module found, and metadata.json cannot say which to expect: {e}"
            ))
        }
        Err(_) => None,
    };
    let Some(id) = id else {
        return natives.is_empty().then(|| {
            "no native module found in this compiled variant (and no `id` in metadata.json)"
                .to_string()
        });
    };
    let expected = crate::files::expected_native_modules(vname.as_ref(), &id);
    if expected.iter().any(|e| names.contains(&e.as_str())) {
        return None;
    }
    let path = variant.join(&expected[0]);
    let what = match std::fs::symlink_metadata(&path) {
        Err(_) => "is missing".to_string(),
        Ok(_) => match kb_core::fsutil::check_regular(&path) {
            Err(e) => e.to_string(),
            Ok(_) => "is not a regular file".to_string(),
        },
    };
    Some(format!(
        "the native module `{}` (named after the `id` in metadata.json) {what}, so its ABI cannot be checked",
        expected[0]
    ))
}

/// Check a target (project, build dir, variant or file).
pub fn check_target(
    target: &Target,
    base: &Path,
    options: &AbiOptions,
) -> Result<AbiReport, String> {
    let policy = Policy::new(options)?;
    let mut report = AbiReport {
        manylinux: policy.manylinux.name.clone(),
        macos: options.macos.clone(),
        python_abi: options.python.clone(),
        torch_stable_abi: options.torch_stable_abi.clone(),
        files: Vec::new(),
        errors: Vec::new(),
    };
    let mut jobs: Vec<(PathBuf, Option<String>, FileContext)> = Vec::new();
    match target {
        Target::File(f) => jobs.push((f.clone(), None, FileContext::default())),
        _ => {
            for v in target.variants() {
                let files = match native_files(&v) {
                    Ok(f) => f,
                    Err(e) => {
                        report.errors.push(FileError {
                            file: display_path(&e.path, base),
                            error: e.message,
                        });
                        continue;
                    }
                };
                if let Some(error) = missing_native_module(&v, &files) {
                    report.errors.push(FileError {
                        file: display_path(&v, base),
                        error,
                    });
                }
                let ctx = variant_context(&v, &files);
                let vname = v.file_name().map(|n| n.to_string_lossy().into_owned());
                for f in files {
                    jobs.push((f, vname.clone(), ctx.clone()));
                }
            }
        }
    }
    for (path, variant, ctx) in jobs {
        let file = display_path(&path, base);
        match check_file_with(&path, &policy, &ctx) {
            Ok(slices) => {
                for (format, arch, violations) in slices {
                    report.files.push(FileReport {
                        file: file.clone(),
                        path: path.clone(),
                        variant: variant.clone(),
                        format,
                        arch,
                        violations,
                    });
                }
            }
            Err(error) => report.errors.push(FileError { file, error }),
        }
    }
    Ok(report)
}

/// Check every native module of one variant directory (for the build).
pub fn check_variant(variant_dir: &Path, options: &AbiOptions) -> Result<AbiReport, String> {
    let base = variant_dir.parent().unwrap_or(Path::new(""));
    check_target(&Target::Variant(variant_dir.to_path_buf()), base, options)
}

// ------------------------------------------------------------- rendering

pub fn render_text(report: &AbiReport) -> String {
    let mut s = String::new();
    let mut header = format!(
        "Checking against {}, macOS {}, Python {} limited API (abi3)",
        report.manylinux, report.macos, report.python_abi
    );
    if let Some(t) = &report.torch_stable_abi {
        header.push_str(&format!(", Torch stable ABI {t}"));
    }
    s.push_str(&header);
    s.push('\n');
    for f in &report.files {
        let fmt_name = match f.format.as_str() {
            "elf" => "ELF",
            "mach-o" => "Mach-O",
            "pe" => "PE",
            other => other,
        };
        if f.violations.is_empty() {
            s.push_str(&format!("ok    {} ({fmt_name} {})\n", f.file, f.arch));
        } else {
            s.push_str(&format!(
                "FAIL  {} ({fmt_name} {}): {} violation{}\n",
                f.file,
                f.arch,
                f.violations.len(),
                if f.violations.len() == 1 { "" } else { "s" }
            ));
            for v in &f.violations {
                s.push_str(&format!("      {v}\n"));
            }
        }
    }
    for e in &report.errors {
        s.push_str(&format!("error {}: {}\n", e.file, e.error));
    }
    let bad = report
        .files
        .iter()
        .filter(|f| !f.violations.is_empty())
        .count();
    if report.files.is_empty() && report.errors.is_empty() {
        s.push_str("no native modules found (nothing to check)\n");
    } else {
        s.push_str(&format!(
            "{} file{} checked: {} with violations ({} violation{}), {} unreadable\n",
            report.files.len(),
            if report.files.len() == 1 { "" } else { "s" },
            bad,
            report.violation_count(),
            if report.violation_count() == 1 {
                ""
            } else {
                "s"
            },
            report.errors.len()
        ));
    }
    s
}

pub fn render_json(report: &AbiReport) -> String {
    let mut v = serde_json::to_value(report).expect("report serializes");
    // Add a rendered message to every violation for human consumers of the JSON.
    if let Some(files) = v.get_mut("files").and_then(|f| f.as_array_mut()) {
        for (fj, fr) in files.iter_mut().zip(&report.files) {
            if let Some(vs) = fj.get_mut("violations").and_then(|x| x.as_array_mut()) {
                for (vj, vr) in vs.iter_mut().zip(&fr.violations) {
                    if let Some(o) = vj.as_object_mut() {
                        o.insert("message".into(), vr.to_string().into());
                    }
                }
            }
        }
    }
    let mut s = serde_json::to_string_pretty(&v).expect("serializes");
    s.push('\n');
    s
}

/// `kernel-builder check-abi DIR|FILE`.
pub fn run(path: &Path, options: &AbiOptions) -> Result<AbiReport, InputError> {
    let target = resolve_target(path, true)?;
    let base = report_base(path, &target);
    check_target(&target, &base, options).map_err(|message| InputError {
        path: path.to_path_buf(),
        message,
    })
}

impl Report for AbiReport {
    fn text(&self) -> String {
        render_text(self)
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&render_json(self)).expect("valid JSON")
    }

    fn status(&self) -> Status {
        match self.exit_code() {
            0 => Status::Ok,
            1 => Status::Findings,
            _ => Status::Unusable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_data_parses() {
        let p = find_policy("manylinux_2_28").unwrap();
        assert!(p.lib_whitelist.iter().any(|l| l == "libc.so.6"));
        assert_eq!(find_policy("manylinux2014").unwrap().name, "manylinux_2_17");
        assert!(find_policy("manylinux_9_99")
            .unwrap_err()
            .contains("manylinux_2_28"));
        let s = python_stable_abi();
        assert_eq!(s["PyUnicode_AsUTF8AndSize"].added, "3.10");
        assert!(s["_Py_Dealloc"].abi_only);
        assert!(!s.contains_key("_PyObject_GetDictPtr"));
        let _ = torch_stable_abi();
    }

    #[test]
    fn stems_and_libpython() {
        assert_eq!(lib_stem("libcudart.so.13"), "libcudart");
        assert_eq!(lib_stem("@rpath/libc10.dylib"), "libc10");
        assert_eq!(lib_stem("libtorch_cpu.so"), "libtorch_cpu");
        assert!(is_versioned_libpython("libpython3.11.so.1.0"));
        assert!(is_versioned_libpython("python311.dll"));
        assert!(!is_versioned_libpython("python3.dll"));
        assert!(is_torch_cxx_symbol("_ZN3c1010TensorImpl7releaseEv"));
        assert!(is_torch_cxx_symbol("_ZNK2at10TensorBase5numelEv"));
        assert!(!is_torch_cxx_symbol("_ZNSt6vectorIiSaIiEED2Ev"));
    }

    #[test]
    fn allowed_text_names_the_maximum() {
        let p = find_policy("manylinux_2_28").unwrap();
        let allowed = &p.symbol_versions["x86_64"]["GLIBC"];
        assert_eq!(
            describe_allowed(p, "GLIBC", allowed),
            "manylinux_2_28 allows GLIBC up to 2.28"
        );
        let cxx = &p.symbol_versions["x86_64"]["CXXABI"];
        assert!(describe_allowed(p, "CXXABI", cxx).contains("CXXABI_TM_1"));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for data in [
            &b""[..],
            b"\x7fELF",
            b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0garbage",
            b"MZ",
        ] {
            assert!(inspect(data).is_err());
        }
    }
}
