//! `depends` entries of kernels (`data/depends.toml`): what each dependency
//! is, which backends may use it, and where every build path gets it (one
//! fetch spec with one hash, shared by the local backend and Nix). The
//! `build.toml` parser accepts exactly the names listed there; the plan's
//! `Variant::external_depends` resolves a variant's kernels against it. Fetching and
//! hashing are done by the build crate (`kb_build::backends::depends`).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer};

use super::model::{Backend, Version};
use crate::{bail, Context, Result};

/// The embedded `data/depends.toml`.
pub const DEPENDS_TOML: &str = include_str!("../../../../data/depends.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependsFile {
    pub schema: u32,
    pub dependency: BTreeMap<String, Dependency>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Dependency {
    /// Backends whose kernels may use it; empty: any backend.
    #[serde(deserialize_with = "backends")]
    pub backends: Vec<Backend>,
    /// Set for dependencies the framework itself provides (`torch`).
    #[serde(default)]
    pub provided_by: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    /// Include directories below the dependency's root.
    #[serde(default)]
    pub include: Vec<String>,
    /// Preprocessor definitions of kernels that use it.
    #[serde(default)]
    pub defines: Vec<String>,
    /// Environment (and CMake cache) variable pointing at an existing tree.
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub fetch: Vec<Fetch>,
    pub source: String,
}

fn backends<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<Backend>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| {
            s.parse::<Backend>()
                .map_err(|_| serde::de::Error::custom(format!("unknown backend `{s}`")))
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FetchKind {
    /// A PyPI wheel (sha256 of the file).
    Wheel,
    /// An upstream release archive (NAR hash of the unpacked tree).
    Archive,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Fetch {
    /// Only for variants of this toolkit version (major.minor).
    #[serde(default)]
    pub toolkit: Option<String>,
    pub kind: FetchKind,
    pub url: String,
    /// Wheels: sha256 (hex) of the file.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Archives: SRI sha256 of the unpacked tree in NAR serialisation.
    #[serde(default)]
    pub hash: Option<String>,
    /// Wheels: the dependency's root inside the wheel.
    #[serde(default)]
    pub root: Option<String>,
    /// Why an archive has no hash.
    #[serde(default)]
    pub unpinned: Option<String>,
    pub source: String,
}

impl Fetch {
    /// The hash both build paths verify, or why there is none.
    pub fn pinned_hash(&self) -> std::result::Result<&str, String> {
        let h = match self.kind {
            FetchKind::Wheel => self.sha256.as_deref(),
            FetchKind::Archive => self.hash.as_deref(),
        };
        match h.filter(|h| !h.is_empty()) {
            Some(h) => Ok(h),
            None => Err(self
                .unpinned
                .clone()
                .unwrap_or_else(|| "no hash is recorded".into())),
        }
    }
}

/// The embedded `data/depends.toml`. It is validated by the test suite, so a
/// failure here is a packaging bug.
pub fn get() -> &'static DependsFile {
    static D: OnceLock<DependsFile> = OnceLock::new();
    D.get_or_init(|| parse(DEPENDS_TOML).expect("embedded data/depends.toml is valid"))
}

/// A relative path inside a tree (no `..`, not absolute) or a definition,
/// made of characters that pass through CMake, Nix and shells unquoted.
fn plain(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/=".contains(c))
        && !s.split('/').any(|p| p == "..")
}

pub fn parse(text: &str) -> Result<DependsFile> {
    let d: DependsFile = toml::from_str(text).context("data/depends.toml")?;
    if d.schema != 1 {
        bail!(
            "data/depends.toml: unsupported schema {} (this kernel-builder reads schema 1)",
            d.schema
        );
    }
    for (name, dep) in &d.dependency {
        let at = format!("data/depends.toml: dependency.{name}");
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        {
            bail!("{at}: names may hold letters, digits, `_` and `-` only");
        }
        if dep.provided_by.is_none() && dep.fetch.is_empty() {
            bail!("{at}: has neither `provided-by` nor `fetch`");
        }
        if dep.provided_by.is_none() && dep.env.is_none() {
            bail!("{at}: has no `env`");
        }
        let ident = |s: &str| {
            s.starts_with(|c: char| c.is_ascii_uppercase())
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        };
        if dep.env.as_deref().is_some_and(|e| !ident(e)) {
            bail!("{at}.env: must be an upper-case identifier");
        }
        if !dep.include.iter().chain(&dep.defines).all(|s| plain(s)) {
            bail!("{at}: `include`/`defines` may only hold plain relative names");
        }
        for f in &dep.fetch {
            if !f.url.starts_with("https://") {
                bail!("{at}.fetch: `url` must be https");
            }
            if f.root.as_deref().is_some_and(|r| !plain(r)) {
                bail!("{at}.fetch: `root` must be a plain relative path");
            }
            match f.kind {
                FetchKind::Wheel
                    if f.sha256.as_deref().is_none_or(|h| {
                        h.len() != 64 || !h.chars().all(|c| c.is_ascii_hexdigit())
                    }) =>
                {
                    bail!("{at}.fetch: a wheel needs a 64-digit hex `sha256`")
                }
                FetchKind::Archive
                    if f.hash.as_deref().is_none_or(str::is_empty) && f.unpinned.is_none() =>
                {
                    bail!("{at}.fetch: an archive needs `hash` or `unpinned`")
                }
                FetchKind::Archive
                    if f.hash
                        .as_deref()
                        .is_some_and(|h| !h.is_empty() && !h.starts_with("sha256-")) =>
                {
                    bail!("{at}.fetch: `hash` must be an SRI sha256 (`sha256-...`)")
                }
                _ => {}
            }
        }
    }
    Ok(d)
}

impl Dependency {
    pub fn applies_to(&self, backend: Backend) -> bool {
        self.backends.is_empty() || self.backends.contains(&backend)
    }

    /// Whether a build path has to provide it (everything but the framework).
    pub fn is_external(&self) -> bool {
        self.provided_by.is_none()
    }

    /// The fetch entry for a variant with `toolkit`.
    pub fn fetch_for(&self, toolkit: Option<&Version>) -> Option<&Fetch> {
        self.fetch.iter().find(|f| match &f.toolkit {
            None => true,
            Some(t) => toolkit.is_some_and(|tk| tk.major_minor().to_string() == *t),
        })
    }

    /// What to tell a user who has to provide it by hand.
    pub fn how_to_provide(&self, name: &str) -> String {
        let what = match &self.version {
            Some(v) => format!("{name} ({v})"),
            None => name.to_string(),
        };
        let var = self.env.as_deref().unwrap_or("KERNEL_BUILDER_DEP_?");
        format!("point {var} at a source tree of {what} (e.g. `{var}=/path/to/checkout kernel-builder build ...`, or `-D{var}=/path` for a create-pyproject project)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn data_file_is_valid_and_complete() {
        let d = get();
        // Every external dependency says how it is fetched, with a hash or a reason.
        for (name, dep) in d.dependency.iter().filter(|(_, d)| d.is_external()) {
            assert!(!dep.fetch.is_empty(), "{name}");
            assert!(dep.version.is_some(), "{name}");
            for f in &dep.fetch {
                assert!(f.pinned_hash().is_ok() || f.unpinned.is_some(), "{name}");
            }
        }
        assert!(!d.dependency["torch"].is_external());
        assert_eq!(d.dependency["cutlass_3_8"].backends, [Backend::Cuda]);
        assert_eq!(d.dependency["sycl_tla"].backends, [Backend::Xpu]);
        assert_eq!(d.dependency["metal-cpp"].backends, [Backend::Metal]);
        assert_eq!(
            d.dependency["cutlass_4_5"].version.as_deref(),
            Some("4.5.2")
        );
    }

    #[test]
    fn bad_files_are_refused() {
        let ok = "schema = 1\n[dependency.x]\nbackends = []\nenv = \"X\"\nsource = \"s\"\n[[dependency.x.fetch]]\nkind = \"wheel\"\nurl = \"https://a\"\nsha256 = \"";
        assert!(parse(&format!("{ok}{}\"\nsource = \"s\"\n", "0".repeat(64))).is_ok());
        assert!(parse(&format!("{ok}00\"\nsource = \"s\"\n")).is_err());
        assert!(parse(&format!("{ok}{}\"\nsource = \"s\"\n", "g".repeat(64))).is_err());
        let http = ok.replace("https://a", "http://a");
        assert!(parse(&format!("{http}{}\"\nsource = \"s\"\n", "0".repeat(64))).is_err());
        assert!(parse("schema = 2\n[dependency]\n").is_err());
        assert!(parse("schema = 1\n[dependency.x]\nbackends = []\nsource = \"s\"\n").is_err());
        let e = parse("schema = 1\n[dependency.x]\nbackends = [\"gpu\"]\nprovided-by = \"f\"\nsource = \"s\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown backend `gpu`"), "{e}");
        let e = parse("schema = 1\n[dependency.x]\nbackends = []\nenv = \"X\"\ninclude = [\"../up\"]\nsource = \"s\"\n[[dependency.x.fetch]]\nkind = \"archive\"\nurl = \"https://a\"\nunpinned = \"why\"\nsource = \"s\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("dependency.x"), "{e}");
    }

    #[test]
    fn fetch_by_toolkit() {
        let sycl = &get().dependency["sycl_tla"];
        let v = |s: &str| s.parse::<Version>().unwrap();
        assert!(sycl
            .fetch_for(Some(&v("2025.3.2")))
            .unwrap()
            .pinned_hash()
            .is_ok());
        assert!(sycl
            .fetch_for(Some(&v("2026.0.0")))
            .unwrap()
            .pinned_hash()
            .is_err());
        assert!(sycl.fetch_for(Some(&v("2024.1"))).is_none());
    }

    fn build_toml(backend: Backend, dep: &str) -> String {
        let src = match backend {
            Backend::Cuda => "k/a.cu",
            Backend::Rocm => "k/a.hip",
            Backend::Metal => "k/a.metal",
            _ => "k/a.cpp",
        };
        format!(
            "[general]\nname = \"relu\"\nversion = 1\nedition = 5\nlicense = \"Apache-2.0\"\nbackends = [\"{b}\"]\n\n[torch]\nsrc = [\"torch-ext/b.cpp\"]\n\n[kernel.k]\nbackend = \"{b}\"\ndepends = [\"{dep}\"]\nsrc = [\"{src}\"]\n",
            b = backend.as_str()
        )
    }

    fn accepted(backend: Backend, dep: &str) -> Result<(), String> {
        crate::config::parse_str(
            &build_toml(backend, dep),
            Path::new("build.toml"),
            Path::new("."),
            false,
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    }

    /// `build.toml` accepts exactly the dependencies of the data file, each
    /// only for kernels of its backends.
    #[test]
    fn config_accepts_exactly_the_data_file() {
        for (name, dep) in &get().dependency {
            for b in Backend::COMPILED {
                let r = accepted(b, name);
                if dep.applies_to(b) {
                    r.unwrap_or_else(|e| panic!("{name} on {b}: {e}"));
                } else {
                    let e = r.expect_err(name);
                    assert!(e.contains("dependency; this kernel's backend is"), "{e}");
                }
            }
        }
        let e = accepted(Backend::Cuda, "cutlass_9_9").unwrap_err();
        assert!(e.contains("unknown dependency `cutlass_9_9`"), "{e}");
    }
}
