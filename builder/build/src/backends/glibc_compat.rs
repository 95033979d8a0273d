//! glibc compatibility for builds with the host toolchain.
//!
//! A module built on a new glibc asks for the newest version of every libc
//! symbol it uses (`dlopen@GLIBC_2.34` on glibc 2.36), although most of them
//! still exist in libc under the old version a manylinux target allows
//! (`dlopen@GLIBC_2.2.5`). This module reads the version definitions of the
//! host's glibc libraries (the ones on the policy's library whitelist, found
//! where the compiler links from) and generates:
//!
//! - `kb_glibc_compat.h`, force-included (`-include`) into every host and
//!   nvcc host-compiler compile: one `.symver` directive per symbol whose
//!   default version is above the target and that has an older version the
//!   target allows, binding it to the newest such version. A directive for a
//!   symbol a compile does not use emits nothing, so the header is complete
//!   before anything is compiled: no second link.
//! - a replacement for `__libc_single_threaded` (GLIBC_2.32, data, no older
//!   version), which libstdc++'s headers read to skip atomic reference
//!   counting: a hidden module-local `char` that is always 0, so the atomic
//!   (thread-safe) path is always taken, as on glibc before 2.32.
//!   `kb_glibc_compat.c` defines it.
//!
//! An older version is used only when it is the same code as the current one
//! (an alias at the same address), or when `data/glibc-compat.json` records
//! that it has the same C interface (libm's pre-2.29 `exp`, ...). Everything
//! else above the target (no older version; an older version with another
//! interface such as `totalorder` before 2.31; GLIBCXX/CXXABI/GCC versions of
//! the compiler's runtime) is left alone and remains a finding of the ABI
//! check, explained by [`CompatPlan::explain`] and attributed to the source
//! files whose objects reference it by [`sources_referencing`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use kb_core::metadata::GlibcCompat;
use kb_core::{bail, err, Context, Error, Result};
use object::read::elf::{FileHeader, Sym};
use object::{elf, Endianness, FileKind, Object, ObjectSymbol};
use serde::{Deserialize, Serialize};

/// The force-included header and the source defining the replacement.
pub const HEADER: &str = "kb_glibc_compat.h";
pub const SOURCE: &str = "kb_glibc_compat.c";
/// Where the local backend writes them, inside a variant's work directory.
pub const DIR: &str = "glibc-compat";

const SINGLE_THREADED: &str = "__libc_single_threaded";
const REPLACEMENT: &str = "kb_glibc_compat_single_threaded";
/// glibc's symbol-version prefix (`GLIBC_2.34`).
const PREFIX: &str = "GLIBC";

const SAME_INTERFACE_JSON: &str = include_str!("../../../../data/glibc-compat.json");

#[derive(Deserialize)]
struct SameInterfaceFile {
    #[allow(dead_code)]
    source: String,
    #[serde(rename = "same-interface")]
    same_interface: BTreeMap<String, String>,
}

/// Symbols whose older version is other code with the same interface.
fn same_interface() -> &'static BTreeMap<String, String> {
    static S: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    S.get_or_init(|| {
        serde_json::from_str::<SameInterfaceFile>(SAME_INTERFACE_JSON)
            .expect("embedded data/glibc-compat.json is valid")
            .same_interface
    })
}

// ------------------------------------------------------------ host libraries

/// One version of a symbol a library defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinedVersion {
    /// `2.34` (the part after `GLIBC_`).
    pub version: String,
    /// The default version (`sym@@GLIBC_2.34`), the one new links get.
    pub default: bool,
    /// Address of the definition: equal addresses are the same code.
    pub address: u64,
}

/// The `GLIBC_*`-versioned symbols a library defines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LibraryVersions {
    pub soname: String,
    pub path: PathBuf,
    /// Policy architecture name (`x86_64`, `aarch64`).
    pub arch: String,
    pub symbols: BTreeMap<String, Vec<DefinedVersion>>,
}

fn policy_arch(machine: elf::Machine, little: bool) -> String {
    match machine {
        elf::EM_X86_64 => "x86_64".into(),
        elf::EM_386 => "i686".into(),
        elf::EM_AARCH64 => "aarch64".into(),
        elf::EM_ARM => "armv7l".into(),
        elf::EM_PPC64 if little => "ppc64le".into(),
        elf::EM_S390 => "s390x".into(),
        other => format!("e_machine {}", other.0),
    }
}

fn read_elf<Elf: FileHeader<Endian = Endianness>>(
    data: &[u8],
    soname: &str,
    path: &Path,
) -> Result<LibraryVersions, String> {
    let e = |err: object::read::Error| format!("malformed ELF file: {err}");
    let header = Elf::parse(data).map_err(e)?;
    let endian = header.endian().map_err(e)?;
    let sections = header.sections(endian, data).map_err(e)?;
    let mut out = LibraryVersions {
        soname: soname.to_string(),
        path: path.to_path_buf(),
        arch: policy_arch(header.e_machine(endian), header.is_little_endian()),
        symbols: BTreeMap::new(),
    };
    let Some(versions) = sections.versions(endian, data).map_err(e)? else {
        return Ok(out);
    };
    let dynsym = sections.symbols(endian, data, elf::SHT_DYNSYM).map_err(e)?;
    let strings = dynsym.strings();
    for (i, sym) in dynsym.iter().enumerate().skip(1) {
        if sym.st_shndx(endian) == elf::SHN_UNDEF {
            continue;
        }
        let idx = versions.version_index(endian, object::read::SymbolIndex(i));
        let Ok(Some(v)) = versions.version(idx.index()) else {
            continue;
        };
        let vname = String::from_utf8_lossy(v.name());
        let Some(number) = vname.strip_prefix(PREFIX).and_then(|r| r.strip_prefix('_')) else {
            continue;
        };
        let name = String::from_utf8_lossy(sym.name(endian, strings).map_err(e)?).into_owned();
        // The version-name marker symbols (`GLIBC_2.34` itself).
        if name.is_empty() || name == vname {
            continue;
        }
        out.symbols.entry(name).or_default().push(DefinedVersion {
            version: number.to_string(),
            default: !idx.is_hidden(),
            address: sym.st_value(endian).into(),
        });
    }
    for list in out.symbols.values_mut() {
        list.sort_by(|a, b| cmp_dotted(&a.version, &b.version).then(a.default.cmp(&b.default)));
        list.dedup();
    }
    Ok(out)
}

/// Read the `GLIBC_*` version definitions of one shared library.
pub fn read_library(path: &Path, soname: &str) -> Result<LibraryVersions> {
    let data = kb_core::fsutil::read_regular(path).map_err(|e| Error::io(path, e))?;
    let parsed = match FileKind::parse(&*data) {
        Ok(FileKind::Elf64) => read_elf::<elf::FileHeader64<Endianness>>(&data, soname, path),
        Ok(FileKind::Elf32) => read_elf::<elf::FileHeader32<Endianness>>(&data, soname, path),
        _ => Err("not an ELF shared library".to_string()),
    };
    parsed.map_err(|e| err!("{}: {e}", path.display()))
}

fn numeric(v: &str) -> Option<Vec<u32>> {
    let parts: Option<Vec<u32>> = v.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty())
}

/// Compare dotted versions numerically; non-numeric ones (`PRIVATE`) sort last.
fn cmp_dotted(a: &str, b: &str) -> std::cmp::Ordering {
    match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => {
            let n = x.len().max(y.len());
            let get = |v: &Vec<u32>, i: usize| v.get(i).copied().unwrap_or(0);
            (0..n)
                .map(|i| get(&x, i).cmp(&get(&y, i)))
                .find(|o| o.is_ne())
                .unwrap_or(std::cmp::Ordering::Equal)
        }
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

// ------------------------------------------------------------------ the plan

/// What the target allows: the policy's `GLIBC` versions for one architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub policy: String,
    pub arch: String,
    pub allowed: BTreeSet<String>,
}

impl Target {
    /// From the vendored manylinux policy (`data/manylinux-policy.json`).
    pub fn new(policy: &str, arch: &str) -> Result<Target> {
        let p = kb_checks::abi::find_policy(policy)?;
        let table = p.symbol_versions.get(arch).ok_or_else(|| {
            err!(
                "{} has no symbol-version table for {arch}; glibc compatibility is not available on this architecture (pass --no-glibc-compat)",
                p.name
            )
        })?;
        let allowed = table.get(PREFIX).cloned().unwrap_or_default();
        Ok(Target {
            policy: p.name.clone(),
            arch: arch.to_string(),
            allowed: allowed.into_iter().collect(),
        })
    }

    fn allows(&self, version: &str) -> bool {
        self.allowed.contains(version)
    }

    fn newest_allowed(&self) -> String {
        self.allowed
            .iter()
            .filter(|v| numeric(v).is_some())
            .max_by(|a, b| cmp_dotted(a, b))
            .cloned()
            .unwrap_or_default()
    }
}

/// `.symver` binding of one symbol.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Binding {
    pub symbol: String,
    pub library: String,
    /// Default version on the host (`2.34`).
    pub from: String,
    /// Version bound to (`2.2.5`).
    pub to: String,
    /// The older version is the same code (an alias); otherwise it is listed
    /// in `data/glibc-compat.json`.
    pub same_code: bool,
}

/// Why a symbol above the target is not bound.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Unbound {
    pub symbol: String,
    pub library: String,
    pub version: String,
    pub why: String,
}

/// What the compat layer does for one host and target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompatPlan {
    pub target: Target,
    /// soname -> path of the libraries read.
    pub libraries: BTreeMap<String, PathBuf>,
    pub bindings: Vec<Binding>,
    /// `__libc_single_threaded` is above the target and gets replaced.
    pub single_threaded: bool,
    /// Symbols above the target that stay as they are (symbol -> reason).
    pub unbound: BTreeMap<String, Unbound>,
}

/// Decide, for every symbol the libraries define above the target, whether
/// and where to bind it. Pure: tests feed it synthetic libraries.
pub fn plan(target: &Target, libs: &[LibraryVersions]) -> CompatPlan {
    let safe = same_interface();
    let mut plan = CompatPlan {
        target: target.clone(),
        libraries: libs
            .iter()
            .map(|l| (l.soname.clone(), l.path.clone()))
            .collect(),
        bindings: Vec::new(),
        single_threaded: false,
        unbound: BTreeMap::new(),
    };
    let newest = target.newest_allowed();
    for lib in libs {
        for (name, versions) in &lib.symbols {
            let Some(current) = versions.iter().find(|v| v.default) else {
                continue;
            };
            if target.allows(&current.version) || numeric(&current.version).is_none() {
                continue;
            }
            if name == SINGLE_THREADED {
                plan.single_threaded = true;
                continue;
            }
            let older = versions
                .iter()
                .filter(|v| target.allows(&v.version))
                .max_by(|a, b| cmp_dotted(&a.version, &b.version));
            let unbound = |why: String| Unbound {
                symbol: name.clone(),
                library: lib.soname.clone(),
                version: format!("{PREFIX}_{}", current.version),
                why,
            };
            match older {
                None => {
                    plan.unbound.insert(
                        name.clone(),
                        unbound(format!(
                            "{} defines no version of `{name}` up to {PREFIX}_{newest}, so it cannot be bound to one: \
                             the symbol is newer than {}; avoid it (or guard it behind a runtime lookup)",
                            lib.soname, target.policy
                        )),
                    );
                }
                Some(old) if old.address == current.address || safe.contains_key(name) => {
                    plan.bindings.push(Binding {
                        symbol: name.clone(),
                        library: lib.soname.clone(),
                        from: current.version.clone(),
                        to: old.version.clone(),
                        same_code: old.address == current.address,
                    });
                }
                Some(old) => {
                    plan.unbound.insert(
                        name.clone(),
                        unbound(format!(
                            "{} has `{name}@{PREFIX}_{}`, but it is other code than the current version and may have \
                             another interface (not listed in data/glibc-compat.json), so it is not bound",
                            lib.soname, old.version
                        )),
                    );
                }
            }
        }
    }
    plan.bindings
        .sort_by(|a, b| (&a.symbol, &a.library).cmp(&(&b.symbol, &b.library)));
    plan.bindings.dedup_by(|a, b| a.symbol == b.symbol);
    plan
}

impl CompatPlan {
    /// Why an ABI finding about `symbol` needing `version` (`GLIBC_2.34`,
    /// `GLIBCXX_3.4.29`) is left to the author, or `None` when the compat
    /// layer has nothing to say (e.g. a symbol it binds).
    pub fn explain(&self, symbol: &str, version: &str) -> Option<String> {
        let prefix = version.split('_').next().unwrap_or_default();
        match prefix {
            PREFIX => {
                if let Some(u) = self.unbound.get(symbol) {
                    return Some(u.why.clone());
                }
                if self.bindings.iter().any(|b| b.symbol == symbol) {
                    return Some(format!(
                        "`{symbol}` is bound to an older version in {HEADER}, but this reference was not compiled with it \
                         (a prebuilt object or library linked into the module?)"
                    ));
                }
                None
            }
            "GLIBCXX" | "CXXABI" | "GCC" => Some(format!(
                "{version} comes from the host compiler's runtime (libstdc++/libgcc), which is newer than {} allows; \
                 it has no older version to bind to: avoid the construct that needs it, or build with the Nix backend",
                self.target.policy
            )),
            _ => None,
        }
    }

    /// The force-included header.
    pub fn header(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!(
            "/* Generated by kernel-builder {}: glibc compatibility for {} ({}). Do not edit.\n",
            env!("CARGO_PKG_VERSION"),
            self.target.policy,
            self.target.arch
        ));
        s.push_str(" * Read from the host's");
        for (soname, path) in &self.libraries {
            s.push_str(&format!(" {soname} ({})", path.display()));
        }
        s.push_str(".\n * Each .symver binds a symbol whose default version is newer than the target to the\n");
        s.push_str(
            " * newest version the target allows; directives for unused symbols emit nothing.\n",
        );
        s.push_str(" * `kernel-builder build --no-glibc-compat` turns this off. */\n");
        s.push_str("#ifndef KB_GLIBC_COMPAT_H\n#define KB_GLIBC_COMPAT_H\n");
        // Device passes (nvcc's __CUDA_ARCH__ compiles) see none of it; the
        // host pass keeps the directives in the code nvcc generates.
        s.push_str("#if defined(__GNUC__) && !defined(__CUDA_ARCH__) && !defined(__HIP_DEVICE_COMPILE__)\n");
        if self.single_threaded {
            s.push_str(&format!(
                "/* {SINGLE_THREADED} ({PREFIX} 2.32, no older version): libstdc++ skips atomics while it is\n\
                 \x20* nonzero. This module's own copy is always 0, so the atomic path is always taken. */\n\
                 #ifdef __cplusplus\nextern \"C\" {{\n#endif\n\
                 extern char {REPLACEMENT} __attribute__((visibility(\"hidden\")));\n\
                 #ifdef __cplusplus\n}}\n#endif\n\
                 #define {SINGLE_THREADED} {REPLACEMENT}\n"
            ));
        }
        let mut lib = "";
        for b in &self.bindings {
            if b.library != lib {
                lib = &b.library;
                s.push_str(&format!("/* {lib} */\n"));
            }
            s.push_str(&format!(
                "__asm__(\".symver {0},{0}@{PREFIX}_{1}\"); /* {PREFIX}_{2} */\n",
                b.symbol, b.to, b.from
            ));
        }
        s.push_str("#endif\n#endif\n");
        s
    }

    /// The source defining the replacement of `__libc_single_threaded`.
    pub fn source(&self) -> String {
        let mut s = format!(
            "/* Generated by kernel-builder {}: see {HEADER}. Do not edit. */\n",
            env!("CARGO_PKG_VERSION")
        );
        if self.single_threaded {
            s.push_str(&format!(
                "char {REPLACEMENT} __attribute__((visibility(\"hidden\"))) = 0;\n"
            ));
        } else {
            s.push_str("typedef int kb_glibc_compat_unused;\n");
        }
        s
    }

    /// `metadata.json` `build-info.glibc-compat`; `used` are the bindings
    /// the module actually carries (see [`bindings_in_use`]).
    pub fn summary(&self, used: Vec<String>) -> GlibcCompat {
        GlibcCompat {
            enabled: true,
            why: None,
            target: Some(self.target.policy.clone()),
            arch: Some(self.target.arch.clone()),
            libraries: self.libraries.keys().cloned().collect(),
            symver_directives: Some(self.bindings.len()),
            single_threaded_replaced: Some(self.single_threaded),
            bound_in_module: used,
        }
    }
}

/// Header and source with no effect (`--no-glibc-compat`): the CMake wiring
/// stays the same, only the content changes (and triggers a recompile).
pub fn disabled_files() -> (String, String) {
    let v = env!("CARGO_PKG_VERSION");
    (
        format!("/* Generated by kernel-builder {v}: glibc compatibility is off (--no-glibc-compat). */\n"),
        format!("/* Generated by kernel-builder {v}: glibc compatibility is off (--no-glibc-compat). */\ntypedef int kb_glibc_compat_unused;\n"),
    )
}

/// Write `files` into `dir`, leaving unchanged files alone so that rebuilds
/// stay incremental.
pub fn write_files(dir: &Path, header: &str, source: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for (name, content) in [(HEADER, header), (SOURCE, source)] {
        let path = dir.join(name);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(content) {
            continue;
        }
        kb_core::fsutil::write_atomic(&path, content.as_bytes())
            .map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

// ------------------------------------------------------------------- the host

/// The C++ compiler CMake and nvcc use: `$CXX`, else `c++`, else `g++`.
pub fn host_cxx() -> Option<PathBuf> {
    std::env::var_os("CXX")
        .filter(|c| !c.is_empty())
        .and_then(|c| which::which(c).ok())
        .or_else(|| which::which("c++").ok())
        .or_else(|| which::which("g++").ok())
}

/// How long a query of the compiler or ninja may take.
const QUERY_LIMIT: Duration = Duration::from_secs(60);

/// Standard output of a short query (`c++ -print-search-dirs`, `ninja -t
/// query`), killed after [`QUERY_LIMIT`].
fn query(program: &Path, args: &[&std::ffi::OsStr]) -> Result<String> {
    let what = format!("{} {:?}", program.display(), args);
    let handle = duct::cmd(program, args)
        .stdin_null()
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .start()
        .with_context(|| format!("running {what}"))?;
    let out = match handle.wait_timeout(QUERY_LIMIT) {
        Ok(Some(out)) => out,
        Ok(None) => {
            let _ = handle.kill();
            bail!("{what} did not finish within {}s", QUERY_LIMIT.as_secs());
        }
        Err(e) => bail!("running {what}: {e}"),
    };
    if !out.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The compiler's library search directories (`-print-search-dirs`).
fn search_dirs(cxx: &Path) -> Result<Vec<PathBuf>> {
    let text = query(cxx, &["-print-search-dirs".as_ref()])?;
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("libraries:"))
        .ok_or_else(|| {
            err!(
                "{} -print-search-dirs lists no library directories",
                cxx.display()
            )
        })?;
    Ok(line
        .trim()
        .trim_start_matches('=')
        .split(':')
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .collect())
}

/// Read the host's glibc libraries that the policy whitelists, from where
/// `cxx` links, and plan the compat layer for `policy`.
pub fn host_plan(cxx: &Path, policy: &str) -> Result<CompatPlan> {
    let dirs = search_dirs(cxx)?;
    let p = kb_checks::abi::find_policy(policy)?;
    let mut libs = Vec::new();
    for soname in &p.lib_whitelist {
        let Some(path) = dirs.iter().map(|d| d.join(soname)).find(|p| p.is_file()) else {
            continue;
        };
        let path = std::fs::canonicalize(&path).unwrap_or(path);
        let lib = read_library(&path, soname)?;
        if !lib.symbols.is_empty() {
            libs.push(lib);
        }
    }
    let libc = libs
        .iter()
        .find(|l| l.soname == "libc.so.6")
        .ok_or_else(|| err!("no glibc (libc.so.6) where {} links from; glibc compatibility needs a glibc host (pass --no-glibc-compat)", cxx.display()))?;
    let target = Target::new(policy, &libc.arch)?;
    Ok(plan(&target, &libs))
}

// ------------------------------------------------------- after the link

/// The bindings of `plan` that the linked module `module` carries
/// (`dlopen@GLIBC_2.2.5`), read from its dynamic symbols.
pub fn bindings_in_use(plan: &CompatPlan, module: &Path) -> Vec<String> {
    let Ok(data) = kb_core::fsutil::read_regular(module) else {
        return Vec::new();
    };
    let Ok(file) = object::File::parse(&*data) else {
        return Vec::new();
    };
    let undefined: BTreeSet<String> = file
        .dynamic_symbols()
        .filter(|s| s.is_undefined())
        .filter_map(|s| s.name().ok().map(str::to_string))
        .collect();
    // Versions are not part of the names object returns for dynamic symbols:
    // a bound symbol imported at all is imported at the bound version (the
    // ABI check reports any other).
    plan.bindings
        .iter()
        .filter(|b| undefined.contains(&b.symbol))
        .map(|b| format!("{}@{PREFIX}_{} (was {PREFIX}_{})", b.symbol, b.to, b.from))
        .collect()
}

/// Explicit inputs of a ninja build edge (`ninja -t query`).
fn ninja_inputs(ninja: &Path, build_dir: &Path, target: &str) -> Result<Vec<String>> {
    let text = query(
        ninja,
        &[
            "-C".as_ref(),
            build_dir.as_os_str(),
            "-t".as_ref(),
            "query".as_ref(),
            target.as_ref(),
        ],
    )?;
    let mut inputs = Vec::new();
    let mut in_inputs = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("input:") {
            in_inputs = true;
        } else if t.starts_with("outputs:") {
            in_inputs = false;
        } else if in_inputs && !t.starts_with('|') && !t.is_empty() {
            inputs.push(t.to_string());
        }
    }
    Ok(inputs)
}

/// Undefined symbols of a relocatable object, without `@VERSION` suffixes.
fn object_undefined(path: &Path) -> BTreeSet<String> {
    let Ok(data) = kb_core::fsutil::read_regular(path) else {
        return BTreeSet::new();
    };
    let Ok(file) = object::File::parse(&*data) else {
        return BTreeSet::new();
    };
    file.symbols()
        .filter(|s| s.is_undefined())
        .filter_map(|s| s.name().ok())
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// For each of `symbols`, the source files whose objects reference it, found
/// through the ninja build that linked `module` (its object inputs, then each
/// object's source). Symbols no compiled object references map to nothing
/// (they come from a linked library).
pub fn sources_referencing(
    ninja: &Path,
    build_dir: &Path,
    module: &str,
    symbols: &BTreeSet<String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    if symbols.is_empty() {
        return out;
    }
    let Ok(objects) = ninja_inputs(ninja, build_dir, module) else {
        return out;
    };
    for obj in objects.iter().filter(|o| o.ends_with(".o")) {
        let path = build_dir.join(obj);
        let undefined = object_undefined(&path);
        let hits: Vec<&String> = symbols.iter().filter(|s| undefined.contains(*s)).collect();
        if hits.is_empty() {
            continue;
        }
        let source = ninja_inputs(ninja, build_dir, obj)
            .ok()
            .and_then(|i| i.into_iter().next())
            .unwrap_or_else(|| obj.clone());
        for s in hits {
            out.entry(s.clone()).or_default().insert(source.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    fn v(version: &str, default: bool, address: u64) -> DefinedVersion {
        DefinedVersion {
            version: version.into(),
            default,
            address,
        }
    }

    fn lib(soname: &str, symbols: &[(&str, Vec<DefinedVersion>)]) -> LibraryVersions {
        LibraryVersions {
            soname: soname.into(),
            path: PathBuf::from(format!("/lib/{soname}")),
            arch: "x86_64".into(),
            symbols: symbols
                .iter()
                .map(|(n, vs)| (n.to_string(), vs.clone()))
                .collect(),
        }
    }

    fn target() -> Target {
        Target::new("manylinux_2_28", "x86_64").unwrap()
    }

    #[test]
    fn binds_moved_symbols_to_the_newest_allowed_alias() {
        let libc = lib(
            "libc.so.6",
            &[
                ("dlopen", vec![v("2.2.5", false, 10), v("2.34", true, 10)]),
                (
                    "timer_create",
                    vec![
                        v("2.2.5", false, 1),
                        v("2.3.3", false, 2),
                        v("2.34", true, 2),
                    ],
                ),
                ("memcpy", vec![v("2.2.5", false, 3), v("2.14", true, 4)]),
                ("__libc_single_threaded", vec![v("2.32", true, 5)]),
                ("closefrom", vec![v("2.34", true, 6)]),
            ],
        );
        let p = plan(&target(), &[libc]);
        let bound: Vec<String> = p
            .bindings
            .iter()
            .map(|b| format!("{}@{}<-{}", b.symbol, b.to, b.from))
            .collect();
        // memcpy's default (2.14) is allowed: left alone. timer_create gets
        // 2.3.3 (the newest allowed), not 2.2.5.
        assert_eq!(bound, ["dlopen@2.2.5<-2.34", "timer_create@2.3.3<-2.34"]);
        assert!(p.single_threaded);
        assert!(p.unbound["closefrom"]
            .why
            .contains("no version of `closefrom`"));
        let h = p.header();
        assert!(h.contains("__asm__(\".symver dlopen,dlopen@GLIBC_2.2.5\");"));
        assert!(h.contains("#define __libc_single_threaded kb_glibc_compat_single_threaded"));
        assert!(
            !h.contains("closefrom"),
            "unbindable symbols get no directive"
        );
        assert!(p.source().contains(
            "kb_glibc_compat_single_threaded __attribute__((visibility(\"hidden\"))) = 0;"
        ));
    }

    #[test]
    fn other_code_is_bound_only_when_listed_as_same_interface() {
        let libm = lib(
            "libm.so.6",
            &[
                ("exp", vec![v("2.2.5", false, 1), v("2.29", true, 2)]),
                ("totalorder", vec![v("2.25", false, 3), v("2.31", true, 4)]),
            ],
        );
        let p = plan(&target(), &[libm]);
        assert_eq!(p.bindings.len(), 1);
        assert_eq!(p.bindings[0].symbol, "exp");
        assert!(!p.bindings[0].same_code);
        let why = p.explain("totalorder", "GLIBC_2.31").unwrap();
        assert!(why.contains("other code"), "{why}");
        assert!(p
            .explain("_ZSt28__throw_bad_array_new_lengthv", "GLIBCXX_3.4.29")
            .unwrap()
            .contains("compiler's runtime"));
    }

    #[test]
    fn aarch64_allows_from_2_17() {
        let t = Target::new("manylinux_2_28", "aarch64").unwrap();
        let libc = lib(
            "libc.so.6",
            &[("dlopen", vec![v("2.17", false, 1), v("2.34", true, 1)])],
        );
        let p = plan(&t, &[libc]);
        assert_eq!(p.bindings[0].to, "2.17");
        assert!(Target::new("manylinux_2_28", "sparc").is_err());
    }

    #[test]
    fn versions_compare_numerically() {
        assert!(cmp_dotted("2.9", "2.28").is_lt());
        assert!(cmp_dotted("2.2.5", "2.3").is_lt());
        assert!(cmp_dotted("2.28", "PRIVATE").is_lt());
    }

    /// Compile `src` (C++) into a shared object with the host compiler.
    fn compile(cxx: &Path, dir: &Path, src: &str, compat: Option<&CompatPlan>) -> PathBuf {
        std::fs::write(dir.join("t.cpp"), src).unwrap();
        let mut cmd = Command::new(cxx);
        cmd.args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(dir.join("t.so"));
        if let Some(p) = compat {
            write_files(dir, &p.header(), &p.source()).unwrap();
            cmd.arg(format!("-include{}", dir.join(HEADER).display()));
            cmd.arg("-x")
                .arg("c")
                .arg(dir.join(SOURCE))
                .arg("-x")
                .arg("c++");
        }
        cmd.arg(dir.join("t.cpp"));
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir.join("t.so")
    }

    fn violations(so: &Path) -> Vec<String> {
        let found = kb_checks::abi::check_file(
            so,
            &kb_checks::abi::AbiOptions::default(),
            &kb_checks::abi::FileContext::default(),
        )
        .unwrap();
        found
            .into_iter()
            .flat_map(|(_, _, v)| v)
            .map(|v| format!("{}@{}", v.symbol.unwrap_or_default(), v.required))
            .collect()
    }

    /// The real host: glibc >= 2.34 moved dlopen into libc (GLIBC_2.34, an
    /// alias of its GLIBC_2.2.5 version) and added closefrom (GLIBC_2.34
    /// only); libstdc++'s shared_ptr reads __libc_single_threaded (2.32).
    #[test]
    #[ignore = "needs a C++ compiler and glibc >= 2.34 (run by ci/compliance.sh)"]
    fn host_glibc_binds_what_it_can_and_reports_the_rest() {
        let cxx = host_cxx().expect("a C++ compiler (c++/g++) on PATH");
        let p = host_plan(&cxx, "manylinux_2_28").unwrap();
        let libc = read_library(&p.libraries["libc.so.6"], "libc.so.6").unwrap();
        assert!(
            libc.symbols.contains_key("closefrom"),
            "this test needs glibc >= 2.34 (no closefrom in {})",
            p.libraries["libc.so.6"].display()
        );
        let dlopen = p.bindings.iter().find(|b| b.symbol == "dlopen").unwrap();
        assert_eq!((dlopen.to.as_str(), dlopen.same_code), ("2.2.5", true));
        assert!(p.unbound.contains_key("closefrom"));
        assert!(p.single_threaded);

        let src = "#include <dlfcn.h>\n#include <unistd.h>\n#include <memory>\n\
                   extern \"C\" long f(const char* p, std::shared_ptr<int>* s) {\n\
                   auto t = *s; closefrom(3);\n\
                   return (long)dlopen(p, RTLD_NOW) + *t + t.use_count(); }\n";
        let d = tempfile::tempdir().unwrap();
        let plain = violations(&compile(&cxx, d.path(), src, None));
        for want in [
            "__libc_single_threaded@GLIBC_2.32",
            "dlopen@GLIBC_2.34",
            "closefrom@GLIBC_2.34",
        ] {
            assert!(plain.iter().any(|v| v == want), "{want} in {plain:?}");
        }
        let so = compile(&cxx, d.path(), src, Some(&p));
        // Only the symbol without an older version is left, and it is reported.
        assert_eq!(violations(&so), ["closefrom@GLIBC_2.34"]);
        assert_eq!(
            bindings_in_use(&p, &so),
            ["dlopen@GLIBC_2.2.5 (was GLIBC_2.34)"]
        );
        assert!(p
            .explain("closefrom", "GLIBC_2.34")
            .unwrap()
            .contains("no version of `closefrom`"));
    }

    #[test]
    fn disabled_files_have_no_effect() {
        let (h, c) = disabled_files();
        assert!(!h.contains("symver") && !h.contains("#define"));
        assert!(c.contains("typedef"));
    }
}
