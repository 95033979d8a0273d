//! `depends` entries of kernels (`data/depends.toml`): what each dependency
//! is, which backends may use it, and where every build path gets it (one
//! fetch spec with one hash, shared by the local backend and Nix).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::config::{Backend, Version};

const DATA: &str = include_str!("../../data/depends.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DependsFile {
    pub schema: u32,
    pub dependency: BTreeMap<String, Dependency>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Dependency {
    /// Backend names (`cuda`, ...); empty: any backend.
    pub backends: Vec<String>,
    /// Set for dependencies the framework itself provides (`torch`).
    #[serde(default)]
    pub provided_by: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub include: Vec<String>,
    #[serde(default)]
    pub defines: Vec<String>,
    /// Environment (and CMake cache) variable pointing at an existing tree.
    #[serde(default)]
    pub env: Option<String>,
    #[serde(default)]
    pub fetch: Vec<Fetch>,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FetchKind {
    Wheel,
    Archive,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Fetch {
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
    pub fn pinned_hash(&self) -> std::result::Result<String, String> {
        let h = match self.kind {
            FetchKind::Wheel => self.sha256.clone(),
            FetchKind::Archive => self.hash.clone(),
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

/// The embedded `data/depends.toml`.
pub fn get() -> &'static DependsFile {
    static D: OnceLock<DependsFile> = OnceLock::new();
    D.get_or_init(|| parse(DATA).expect("data/depends.toml is valid (checked by tests)"))
}

pub fn parse(text: &str) -> Result<DependsFile> {
    let d: DependsFile = toml::from_str(text).context("parsing data/depends.toml")?;
    if d.schema != 1 {
        bail!("data/depends.toml: unsupported schema {}", d.schema);
    }
    for (name, dep) in &d.dependency {
        if dep.provided_by.is_none() && dep.fetch.is_empty() {
            bail!("data/depends.toml: `{name}` has neither `provided-by` nor `fetch`");
        }
        if dep.provided_by.is_none() && dep.env.is_none() {
            bail!("data/depends.toml: `{name}` has no `env`");
        }
        let ident = |s: &str| {
            s.starts_with(|c: char| c.is_ascii_uppercase())
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        };
        if dep.env.as_deref().is_some_and(|e| !ident(e)) {
            bail!("data/depends.toml: `env` of `{name}` must be an upper-case identifier");
        }
        let safe = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-/=".contains(c))
                && !s.split('/').any(|p| p == "..")
        };
        if !dep.include.iter().chain(&dep.defines).all(|s| safe(s)) {
            bail!("data/depends.toml: `include`/`defines` of `{name}` may only hold plain names");
        }
        for f in &dep.fetch {
            match f.kind {
                FetchKind::Wheel if f.sha256.as_deref().is_none_or(|h| h.len() != 64) => {
                    bail!("data/depends.toml: wheel of `{name}` needs a 64-digit `sha256`")
                }
                FetchKind::Archive
                    if f.hash.as_deref().is_none_or(|h| h.is_empty()) && f.unpinned.is_none() =>
                {
                    bail!("data/depends.toml: archive of `{name}` needs `hash` or `unpinned`")
                }
                _ => {}
            }
        }
    }
    Ok(d)
}

impl Dependency {
    pub fn applies_to(&self, backend: Backend) -> bool {
        self.backends.is_empty() || self.backends.iter().any(|b| b == backend.as_str())
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

/// sha256 of the NAR serialisation of `path` (the hash Nix computes for a
/// fixed-output `fetchzip`/`fetchFromGitHub`), as SRI (`sha256-<base64>`).
/// Symlinks are serialised as links, never followed. Hand-written: the
/// format is a few lines (Eelco Dolstra's thesis, fig. 5.2), and no small
/// maintained crate only hashes.
pub fn nar_hash(path: &Path) -> Result<String> {
    use base64::Engine;
    let mut h = Sha256::new();
    nar_str(&mut h, b"nix-archive-1");
    nar_node(&mut h, path)?;
    Ok(format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(h.finalize())
    ))
}

fn nar_str(h: &mut Sha256, s: &[u8]) {
    h.update((s.len() as u64).to_le_bytes());
    h.update(s);
    let pad = (8 - s.len() % 8) % 8;
    h.update(&[0u8; 8][..pad]);
}

fn nar_node(h: &mut Sha256, path: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("{}", path.display()))?;
    nar_str(h, b"(");
    nar_str(h, b"type");
    let ft = meta.file_type();
    if ft.is_symlink() {
        nar_str(h, b"symlink");
        nar_str(h, b"target");
        nar_str(h, std::fs::read_link(path)?.as_os_str().as_bytes());
    } else if ft.is_dir() {
        nar_str(h, b"directory");
        let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()?;
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for n in names {
            nar_str(h, b"entry");
            nar_str(h, b"(");
            nar_str(h, b"name");
            nar_str(h, n.as_bytes());
            nar_str(h, b"node");
            nar_node(h, &path.join(&n))?;
            nar_str(h, b")");
        }
    } else if ft.is_file() {
        nar_str(h, b"regular");
        if meta.permissions().mode() & 0o111 != 0 {
            nar_str(h, b"executable");
            nar_str(h, b"");
        }
        nar_str(h, b"contents");
        let len = meta.len();
        h.update(len.to_le_bytes());
        let mut f = std::fs::File::open(path)?;
        let mut buf = vec![0u8; 1 << 16];
        let mut read = 0u64;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            read += n as u64;
        }
        if read != len {
            bail!("{} changed while it was hashed", path.display());
        }
        let pad = ((8 - len % 8) % 8) as usize;
        h.update(&[0u8; 8][..pad]);
    } else {
        bail!(
            "{}: not a file, directory or symlink (cannot be hashed)",
            path.display()
        );
    }
    nar_str(h, b")");
    Ok(())
}

/// sha256 (hex) of a file.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).with_context(|| format!("{}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::KNOWN_DEPENDS;

    #[test]
    fn data_file_parses_and_covers_known_depends() {
        let d = get();
        for (name, backend) in KNOWN_DEPENDS {
            let dep = d
                .dependency
                .get(*name)
                .unwrap_or_else(|| panic!("{name} missing from data/depends.toml"));
            match backend {
                None => assert!(dep.backends.is_empty(), "{name}"),
                Some(b) => assert_eq!(dep.backends, [b.as_str()], "{name}"),
            }
        }
        // Every external dependency says how it is fetched, with a hash or a reason.
        for (name, dep) in d.dependency.iter().filter(|(_, d)| d.is_external()) {
            assert!(!dep.fetch.is_empty(), "{name}");
            for f in &dep.fetch {
                assert!(f.pinned_hash().is_ok() || f.unpinned.is_some(), "{name}");
                assert!(f.url.starts_with("https://"), "{name}");
            }
        }
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
        assert!(parse("schema = 2\n[dependency]\n").is_err());
        assert!(parse("schema = 1\n[dependency.x]\nbackends = []\nsource = \"s\"\n").is_err());
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

    fn tree(root: &Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a.txt"), "hello\n").unwrap();
        std::fs::write(root.join("sub/run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            root.join("sub/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("../a.txt", root.join("sub/link")).unwrap();
        std::fs::write(root.join("empty"), "").unwrap();
    }

    #[test]
    fn nar_hash_known_answer() {
        // Expected value from `nix-store --dump d | sha256sum` (Nix 2.8) on the same tree.
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("d");
        tree(&root);
        assert_eq!(
            nar_hash(&root).unwrap(),
            "sha256-/9lR57+rX1DmyMNPyW+LBkJCfgbnoygP71LZvzlK+KY="
        );
        std::fs::write(root.join("empty"), "x").unwrap();
        assert_ne!(
            nar_hash(&root).unwrap(),
            "sha256-/9lR57+rX1DmyMNPyW+LBkJCfgbnoygP71LZvzlK+KY="
        );
    }

    #[test]
    #[ignore = "needs nix-hash (Debian nix-bin)"]
    fn nar_hash_matches_nix() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("t");
        tree(&root);
        std::fs::write(root.join("odd name \u{e9}"), vec![7u8; 100_001]).unwrap();
        let out = std::process::Command::new("nix-hash")
            .args(["--type", "sha256"])
            .arg(&root)
            .output()
            .expect("nix-hash runs");
        let hex = String::from_utf8(out.stdout).unwrap();
        let ours = nar_hash(&root).unwrap();
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(ours.trim_start_matches("sha256-"))
            .unwrap();
        let ours_hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(ours_hex, hex.trim());
    }
}
