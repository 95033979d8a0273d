//! The local side of an upload: build variants, their metadata, the files to send and their hashes.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use kb_core::metadata::{BuildInfo, Metadata, KIND_LOCAL, KIND_NIX};
use kb_core::walk::{self, Rule};
use kb_core::{bail, Context, Result};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Bytes sent to the preupload endpoint so the Hub can tell text from binary.
pub const SAMPLE_LEN: usize = 512;

/// One file to publish.
#[derive(Debug, Clone)]
pub struct LocalFile {
    /// Path in the repository (`build/<variant>/…`, `benchmarks/…`, `README.md`).
    pub repo_path: String,
    pub local: PathBuf,
    pub size: u64,
    /// Lowercase hex SHA-256 (the LFS object id).
    pub sha256: String,
    /// Lowercase hex git blob id (`sha1("blob <len>\0" + content)`).
    pub git_oid: String,
    /// First bytes of the file, for the preupload endpoint.
    pub sample: Vec<u8>,
}

impl LocalFile {
    /// Read and hash `local` once.
    pub fn hash(repo_path: String, local: &Path) -> Result<LocalFile> {
        let mut f = kb_core::fsutil::open_regular(local)
            .with_context(|| format!("{}: cannot open", local.display()))?;
        let size = f
            .metadata()
            .with_context(|| format!("{}: cannot stat", local.display()))?
            .len();
        let mut sha = Sha256::new();
        let mut git = Sha1::new();
        git.update(format!("blob {size}\0").as_bytes());
        let mut sample = Vec::with_capacity(SAMPLE_LEN.min(size as usize));
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0u64;
        loop {
            let n = f
                .read(&mut buf)
                .with_context(|| format!("{}: cannot read", local.display()))?;
            if n == 0 {
                break;
            }
            sha.update(&buf[..n]);
            git.update(&buf[..n]);
            if sample.len() < SAMPLE_LEN {
                let take = (SAMPLE_LEN - sample.len()).min(n);
                sample.extend_from_slice(&buf[..take]);
            }
            total += n as u64;
        }
        if total != size {
            bail!(
                "{}: the file changed size while it was read ({size} then {total} bytes); \
                 wait for the build to finish and run the upload again",
                local.display()
            );
        }
        Ok(LocalFile {
            repo_path,
            local: local.to_path_buf(),
            size,
            sha256: hex(&sha.finalize()),
            git_oid: hex(&git.finalize()),
            sample,
        })
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// What a variant's `metadata.json` says that matters for publishing.
#[derive(Debug, Clone, Default)]
pub struct VariantMeta {
    pub version: Option<u64>,
    pub id: Option<String>,
    /// Why the build counts as made from uncommitted sources (empty: clean or unknown).
    pub dirty: Vec<String>,
    /// What `build-info` says about Hub compliance.
    pub compliance: Claim,
    /// `digest.files` (relative path → base64 SHA-256), when recorded with algorithm sha256.
    pub digest: Option<BTreeMap<String, String>>,
    /// `provenance.kernel.commit`, when recorded.
    pub kernel_commit: Option<String>,
    pub notes: Vec<String>,
}

/// What a variant's `build-info` claims about Hub compliance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// A kind this version knows (`local`, `nix`) says compliant, no findings.
    Compliant,
    /// It says it is not, with the reasons it gives.
    NotCompliant(Vec<String>),
    /// No `build-info`, or one that proves nothing: to be checked (why).
    Unverified(String),
}

impl Default for Claim {
    fn default() -> Self {
        Claim::Unverified("no `build-info` in metadata.json".into())
    }
}

/// `build-info` kinds whose `compliant` verdict is trusted: local builds
/// record the checks behind it, Nix builds run them in the sandbox.
const TRUSTED_KINDS: &[&str] = &[KIND_LOCAL, KIND_NIX];

/// What `build-info` claims, and whether this version can take it as said.
pub fn read_claim(bi: &BuildInfo) -> Claim {
    let kind = bi.kind.as_deref();
    let findings = bi.abi_findings.as_ref().map_or(0, |f| f.len());
    let mut reasons = Vec::new();
    if bi.compliant == Some(false) {
        let given = bi.reasons.clone().unwrap_or_default();
        if given.is_empty() {
            reasons.push("build-info.compliant is false".to_string());
        }
        reasons.extend(given);
    }
    if findings > 0 {
        reasons.push(format!(
            "build-info.abi-findings lists {findings} finding(s)"
        ));
    }
    if !reasons.is_empty() {
        return Claim::NotCompliant(reasons);
    }
    match (kind, bi.compliant) {
        (Some(k), Some(true)) if TRUSTED_KINDS.contains(&k) => Claim::Compliant,
        (Some(k), _) if !TRUSTED_KINDS.contains(&k) => Claim::Unverified(format!(
            "build-info.kind `{k}` is not one this version of kernel-builder knows"
        )),
        _ => Claim::Unverified("build-info does not say whether the build is compliant".into()),
    }
}

/// A build variant directory.
#[derive(Debug, Clone)]
pub struct Variant {
    pub name: String,
    pub dir: PathBuf,
    pub meta: VariantMeta,
}

/// Everything found in the kernel directory.
#[derive(Debug, Clone)]
pub struct LocalBuild {
    /// The directory holding the variants (`result/`, `build/` or the kernel directory itself).
    pub build_dir: PathBuf,
    pub variants: Vec<Variant>,
    /// The kernel card to publish as `README.md` on `main`.
    pub card: Option<PathBuf>,
    /// `benchmarks/`, when present.
    pub benchmarks: Option<PathBuf>,
}

/// A directory with a `metadata.json` is a variant; one whose `metadata.json`
/// is not a regular file (a FIFO, a directory, a dangling link) is refused
/// rather than passed over.
fn is_variant_dir(p: &Path) -> Result<bool> {
    let meta = p.join("metadata.json");
    if !p.is_dir() || std::fs::symlink_metadata(&meta).is_err() {
        return Ok(false);
    }
    kb_core::fsutil::check_regular(&meta)
        .with_context(|| format!("{}: cannot read", meta.display()))?;
    Ok(true)
}

/// Find the variants: `result/` (a Nix output link), then `build/`, then the directory itself.
pub fn discover(kernel_dir: &Path) -> Result<LocalBuild> {
    if !kernel_dir.is_dir() {
        bail!(
            "{}: not a directory; pass the kernel project directory (the one holding `build/`)",
            kernel_dir.display()
        );
    }
    let candidates = [
        kernel_dir.join("result"),
        kernel_dir.join("build"),
        kernel_dir.to_path_buf(),
    ];
    for cand in &candidates {
        if !cand.is_dir() {
            continue;
        }
        let mut dirs: Vec<(String, PathBuf)> = Vec::new();
        let entries =
            std::fs::read_dir(cand).with_context(|| format!("{}: cannot list", cand.display()))?;
        for e in entries {
            let e = e.with_context(|| format!("{}: cannot list", cand.display()))?;
            let path = e.path();
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name.starts_with('.') || !is_variant_dir(&path)? {
                continue;
            }
            dirs.push((name, path));
        }
        if dirs.is_empty() {
            continue;
        }
        dirs.sort();
        let mut variants = Vec::new();
        for (name, dir) in dirs {
            check_segment(&name, &dir)?;
            let meta = read_meta(&dir.join("metadata.json"))?;
            variants.push(Variant { name, dir, meta });
        }
        let card = [
            kernel_dir.join("result").join("CARD.md"),
            kernel_dir.join("build").join("CARD.md"),
            kernel_dir.join("CARD.md"),
        ]
        .into_iter()
        .find(|p| p.is_file());
        let benchmarks = Some(kernel_dir.join("benchmarks")).filter(|p| p.is_dir());
        return Ok(LocalBuild {
            build_dir: cand.clone(),
            variants,
            card,
            benchmarks,
        });
    }
    bail!(
        "no build variants (directories with a metadata.json) in {}, {} or {}; \
         build the kernel first (`kernel-builder build`) or pass the directory that holds `build/`",
        candidates[0].display(),
        candidates[1].display(),
        candidates[2].display()
    )
}

fn check_segment(name: &str, path: &Path) -> Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.chars().any(|c| c.is_control())
    {
        bail!(
            "{}: the name `{}` cannot be a path on the Hub; rename it",
            path.display(),
            name.escape_debug()
        );
    }
    Ok(())
}

/// Read the fields of `metadata.json` that publishing cares about.
pub fn read_meta(path: &Path) -> Result<VariantMeta> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let m = Metadata::read(dir)
        .map_err(|e| kb_core::err!("{e}; rebuild the variant to regenerate it"))?;
    let mut meta = VariantMeta {
        version: m.version,
        id: m.id.clone(),
        ..VariantMeta::default()
    };
    if let Some(id) = &meta.id {
        if id.ends_with("_dirty") {
            meta.dirty.push(format!(
                "its ops id `{id}` ends in `_dirty` (built from uncommitted sources)"
            ));
        }
    }
    let prov = m.provenance.as_ref();
    if prov.and_then(|p| p.kernel.as_ref()).and_then(|k| k.dirty) == Some(true) {
        meta.dirty
            .push("provenance.kernel.dirty is true (the kernel had uncommitted changes)".into());
    }
    if prov
        .and_then(|p| p.kernel_builder.as_ref())
        .and_then(|k| k.dirty)
        == Some(true)
    {
        meta.dirty.push(
            "provenance.kernel-builder.dirty is true (kernel-builder was built from uncommitted sources)"
                .into(),
        );
    }
    if prov.is_none() {
        meta.notes.push("no provenance recorded".into());
    }
    meta.kernel_commit = prov
        .and_then(|p| p.kernel.as_ref())
        .and_then(|k| k.commit.clone());
    if let Some(bi) = &m.build_info {
        meta.compliance = read_claim(bi);
    }
    if let Some(d) = &m.digest {
        if d.algorithm == "sha256" {
            meta.digest = Some(d.files.clone());
        } else {
            meta.notes.push(format!(
                "digest algorithm `{}` is not sha256; file digests not verified",
                d.algorithm
            ));
        }
    }
    Ok(meta)
}

/// All publishable files under `root` (the one walk: the loader's rule for
/// variants, [`Rule::Publish`] for other trees), as sorted `(relative path
/// with '/', path to read)`. A variant directory that is itself a link (a
/// Nix output) is resolved first; nothing inside leads out of it.
pub fn walk(root: &Path, rule: Rule) -> Result<Vec<(String, PathBuf)>> {
    let root = root
        .canonicalize()
        .with_context(|| format!("{}: cannot resolve", root.display()))?;
    let mut out = Vec::new();
    for f in walk::files(&root, rule)? {
        let name = f.rel.rsplit('/').next().unwrap_or(&f.rel);
        check_segment(name, &f.path)?;
        out.push((f.rel, f.path));
    }
    Ok(out)
}

/// Compare a variant's files with the digests recorded in its metadata.
/// Returns errors (mismatches, missing files) and warnings (files not covered).
pub fn verify_digest(variant: &Variant, files: &[LocalFile]) -> (Vec<String>, Vec<String>) {
    let Some(digest) = &variant.meta.digest else {
        return (Vec::new(), Vec::new());
    };
    let prefix = format!("build/{}/", variant.name);
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    let by_rel: BTreeMap<&str, &LocalFile> = files
        .iter()
        .filter_map(|f| f.repo_path.strip_prefix(&prefix).map(|r| (r, f)))
        .collect();
    for (rel, want) in digest {
        match by_rel.get(rel.as_str()) {
            None => errors.push(format!(
                "{}: `{rel}` is listed in metadata.json's digest but missing",
                variant.name
            )),
            Some(f) => {
                let ours = from_hex(&f.sha256);
                if decode_b64(want).as_deref() != Some(ours.as_slice()) {
                    errors.push(format!(
                        "{}: `{rel}` does not match the SHA-256 recorded in metadata.json (changed after the build)",
                        variant.name
                    ));
                }
            }
        }
    }
    for rel in by_rel.keys() {
        if *rel != "metadata.json" && !digest.contains_key(*rel) {
            warnings.push(format!(
                "{}: `{rel}` is not covered by metadata.json's digest",
                variant.name
            ));
        }
    }
    (errors, warnings)
}

fn from_hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
        .collect()
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s.trim()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_git_and_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"hello\n").unwrap();
        let f = LocalFile::hash("f".into(), &p).unwrap();
        // `git hash-object` of "hello\n".
        assert_eq!(f.git_oid, "ce013625030ba8dba906f756967f9e9ca394464a");
        assert_eq!(
            f.sha256,
            "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
        );
        assert_eq!(f.sample, b"hello\n");
        assert_eq!(f.size, 6);
    }

    #[test]
    fn metadata_flags() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("metadata.json");
        std::fs::write(
            &p,
            r#"{"id":"_x_cpu_abc_dirty","version":3,
                "provenance":{"kernel":{"commit":"c","dirty":true},"kernel-builder":{"dirty":false}},
                "build-info":{"kind":"development","compliant":false,"abi-findings":[{"x":1}]},
                "digest":{"algorithm":"sha256","files":{"a":"b"}}}"#,
        )
        .unwrap();
        let m = read_meta(&p).unwrap();
        assert_eq!(m.version, Some(3));
        assert_eq!(m.dirty.len(), 2);
        match &m.compliance {
            Claim::NotCompliant(r) => assert_eq!(r.len(), 2, "{r:?}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(m.kernel_commit.as_deref(), Some("c"));
        assert_eq!(m.digest.unwrap().len(), 1);
        std::fs::write(&p, r#"{"version":"1"}"#).unwrap();
        let e = read_meta(&p).unwrap_err().to_string();
        assert!(e.contains("`version`"), "{e}");
    }

    #[test]
    fn build_info_claims() {
        let claim = |v: serde_json::Value| read_claim(&serde_json::from_value(v).unwrap());
        use serde_json::json;
        assert_eq!(
            claim(json!({"kind": "local", "compliant": true, "reasons": [], "abi-findings": []})),
            Claim::Compliant
        );
        assert_eq!(
            claim(json!({"kind": "nix", "compliant": true})),
            Claim::Compliant
        );
        assert_eq!(
            claim(json!({"kind": "local", "compliant": false, "reasons": ["toolchain: x"]})),
            Claim::NotCompliant(vec!["toolchain: x".into()])
        );
        // A positive claim of an unknown kind, or no claim, proves nothing.
        assert!(
            matches!(claim(json!({"kind": "development", "compliant": true})), Claim::Unverified(w) if w.contains("development"))
        );
        assert!(matches!(
            claim(json!({"kind": "local"})),
            Claim::Unverified(_)
        ));
        assert!(matches!(
            claim(json!({"kind": "nix", "compliant": true, "abi-findings": ["x"]})),
            Claim::NotCompliant(_)
        ));
        assert!(matches!(
            VariantMeta::default().compliance,
            Claim::Unverified(_)
        ));
    }

    #[test]
    fn walk_of_published_trees_skips_bytecode_and_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub/__pycache__")).unwrap();
        std::fs::write(d.join("sub/__pycache__/x.cpython-312.pyc"), "").unwrap();
        std::fs::write(d.join("sub/a.py"), "").unwrap();
        std::fs::write(d.join(".DS_Store"), "").unwrap();
        std::fs::write(d.join("b.pyc"), "").unwrap();
        std::fs::write(d.join("c.so"), "").unwrap();
        let rels: Vec<String> = walk(d, Rule::Publish)
            .unwrap()
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(rels, ["c.so", "sub/a.py"]);
        // Variants are walked with the loader's rule: hidden files count.
        let rels: Vec<String> = walk(d, Rule::Variant)
            .unwrap()
            .into_iter()
            .map(|(r, _)| r)
            .collect();
        assert_eq!(rels, [".DS_Store", "c.so", "sub/a.py"]);
    }
}
