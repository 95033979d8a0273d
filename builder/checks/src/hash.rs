//! `hash`: the `digest` of each variant's `metadata.json`, computed exactly as
//! the `kernels` loader computes it (`kernels._rust.Digest.hash_variant`):
//!
//! - every regular file under the variant directory, at any depth, keyed by
//!   its path relative to the variant with `/` separators;
//! - except the top-level `metadata.json`, any `__pycache__` directory and any
//!   `*.pyc` file;
//! - symbolic links to files are followed (the target's bytes are hashed),
//!   symbolic links to directories are not descended into, and a dangling
//!   link is an error;
//! - the value is the base64 (standard alphabet, padded) of the SHA-256 (or
//!   SHA-512) of the file's bytes.
//!
//! The test suite checks this against the real loader byte for byte.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Serialize;
use sha2::{Digest as _, Sha256, Sha512};

use super::{display_path, resolve_target, InputError, Target};
use crate::cli::HashArgs;
use crate::commands::{write_atomic, CmdResult, Failure};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    pub fn parse(s: &str) -> Option<Algorithm> {
        match s {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

/// relative path -> base64 digest, sorted by path.
pub type FileDigests = BTreeMap<String, String>;

fn io_err(path: &Path, what: &str, e: std::io::Error) -> InputError {
    InputError {
        path: path.to_path_buf(),
        message: format!("cannot {what}: {e}"),
    }
}

fn digest_file(path: &Path, algorithm: Algorithm) -> Result<String, InputError> {
    let mut f = std::fs::File::open(path).map_err(|e| io_err(path, "read", e))?;
    let mut buf = vec![0u8; 1 << 16];
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    macro_rules! run {
        ($h:expr) => {{
            let mut h = $h;
            loop {
                let n = f.read(&mut buf).map_err(|e| io_err(path, "read", e))?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            b64(&h.finalize())
        }};
    }
    Ok(match algorithm {
        Algorithm::Sha256 => run!(Sha256::new()),
        Algorithm::Sha512 => run!(Sha512::new()),
    })
}

/// Hash the files of a variant directory the way the loader does.
pub fn hash_variant(variant: &Path, algorithm: Algorithm) -> Result<FileDigests, InputError> {
    let mut out = FileDigests::new();
    // (directory, relative prefix)
    let mut stack: Vec<(PathBuf, String)> = vec![(variant.to_path_buf(), String::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| io_err(&dir, "read directory", e))?;
        for entry in rd {
            let entry = entry.map_err(|e| io_err(&dir, "read directory", e))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_str().ok_or_else(|| InputError {
                path: path.clone(),
                message: "file name is not valid UTF-8; rename it".into(),
            })?;
            let rel = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            let ft = entry.file_type().map_err(|e| io_err(&path, "stat", e))?;
            if ft.is_dir() {
                if name != "__pycache__" {
                    stack.push((path, rel));
                }
                continue;
            }
            if ft.is_symlink() {
                // Follow links to files; skip links to directories.
                let meta = std::fs::metadata(&path).map_err(|e| InputError {
                    path: path.clone(),
                    message: format!("dangling symbolic link ({e}); remove it or fix its target"),
                })?;
                if meta.is_dir() {
                    continue;
                }
                if !meta.is_file() {
                    continue;
                }
            } else if !ft.is_file() {
                continue;
            }
            if name.ends_with(".pyc") || (prefix.is_empty() && name == "metadata.json") {
                continue;
            }
            out.insert(rel, digest_file(&path, algorithm)?);
        }
    }
    Ok(out)
}

/// The `digest` object as `metadata.json` records it.
pub fn digest_json(algorithm: Algorithm, files: &FileDigests) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    for (k, v) in files {
        map.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    serde_json::json!({ "algorithm": algorithm.as_str(), "files": map })
}

fn read_metadata(variant: &Path) -> Result<(PathBuf, serde_json::Value), InputError> {
    let path = variant.join("metadata.json");
    let text = std::fs::read_to_string(&path).map_err(|e| io_err(&path, "read", e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| InputError {
        path: path.clone(),
        message: format!("invalid JSON: {e}"),
    })?;
    if !v.is_object() {
        return Err(InputError {
            path,
            message: "expected a JSON object".into(),
        });
    }
    Ok((path, v))
}

/// Compute the digest of a variant and write it into its `metadata.json`
/// (replacing an existing `digest` in place, otherwise appending it).
/// Returns the number of files hashed.
pub fn write_digest(variant: &Path) -> Result<usize, InputError> {
    let (path, mut meta) = read_metadata(variant)?;
    let files = hash_variant(variant, Algorithm::Sha256)?;
    let n = files.len();
    meta.as_object_mut()
        .expect("checked above")
        .insert("digest".into(), digest_json(Algorithm::Sha256, &files));
    let mut text = serde_json::to_string_pretty(&meta).expect("serializes");
    text.push('\n');
    write_atomic(&path, text.as_bytes()).map_err(|e| io_err(&path, "write", e))?;
    Ok(n)
}

/// One difference between the recorded and the actual digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Mismatch {
    /// Recorded but not present.
    MissingFile { file: String },
    /// Present but not recorded.
    UnknownFile { file: String },
    /// Present with different contents.
    HashMismatch {
        file: String,
        expected: String,
        got: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::MissingFile { file } => write!(f, "`{file}` is recorded but missing"),
            Mismatch::UnknownFile { file } => {
                write!(f, "`{file}` is present but not recorded in the digest")
            }
            Mismatch::HashMismatch {
                file,
                expected,
                got,
            } => write!(f, "`{file}` has changed (recorded {expected}, now {got})"),
        }
    }
}

/// Verify a variant against the digest in its `metadata.json`.
pub fn check_digest(variant: &Path) -> Result<Vec<Mismatch>, InputError> {
    let (path, meta) = read_metadata(variant)?;
    let digest = meta.get("digest").ok_or_else(|| InputError {
        path: path.clone(),
        message: "no `digest` recorded; run `kernel-builder hash` to record one".into(),
    })?;
    let algorithm = digest
        .get("algorithm")
        .and_then(|a| a.as_str())
        .and_then(Algorithm::parse)
        .ok_or_else(|| InputError {
            path: path.clone(),
            message: "`digest.algorithm` must be \"sha256\" or \"sha512\"".into(),
        })?;
    let recorded = digest
        .get("files")
        .and_then(|f| f.as_object())
        .ok_or_else(|| InputError {
            path: path.clone(),
            message: "`digest.files` must be an object of path -> base64 digest".into(),
        })?;
    let actual = hash_variant(variant, algorithm)?;
    let mut out = Vec::new();
    let mut recorded_sorted: Vec<(&String, &serde_json::Value)> = recorded.iter().collect();
    recorded_sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (file, want) in recorded_sorted {
        let want = want.as_str().unwrap_or_default();
        match actual.get(file) {
            None => out.push(Mismatch::MissingFile { file: file.clone() }),
            Some(got) if got != want => out.push(Mismatch::HashMismatch {
                file: file.clone(),
                expected: want.to_string(),
                got: got.clone(),
            }),
            Some(_) => {}
        }
    }
    for file in actual.keys() {
        if !recorded.contains_key(file) {
            out.push(Mismatch::UnknownFile { file: file.clone() });
        }
    }
    Ok(out)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct VariantResult {
    variant: String,
    files: Option<usize>,
    mismatches: Vec<Mismatch>,
    error: Option<String>,
}

/// `kernel-builder hash [--check]`.
pub fn command(a: HashArgs) -> CmdResult {
    let dir = a.kernel_dir.unwrap_or_else(|| PathBuf::from("."));
    let target = resolve_target(&dir, false).map_err(|e| Failure::new(2, format!("error: {e}")))?;
    let base = match &target {
        Target::Variant(v) => v.parent().map(Path::to_path_buf).unwrap_or_default(),
        _ => dir.clone(),
    };
    let mut results = Vec::new();
    for v in target.variants() {
        let variant = display_path(&v, &base);
        let r = if a.check {
            match check_digest(&v) {
                Ok(m) => VariantResult {
                    variant,
                    files: None,
                    mismatches: m,
                    error: None,
                },
                Err(e) => VariantResult {
                    variant,
                    files: None,
                    mismatches: Vec::new(),
                    error: Some(e.to_string()),
                },
            }
        } else {
            match write_digest(&v) {
                Ok(n) => VariantResult {
                    variant,
                    files: Some(n),
                    mismatches: Vec::new(),
                    error: None,
                },
                Err(e) => VariantResult {
                    variant,
                    files: None,
                    mismatches: Vec::new(),
                    error: Some(e.to_string()),
                },
            }
        };
        results.push(r);
    }
    let failed = results
        .iter()
        .filter(|r| r.error.is_some() || !r.mismatches.is_empty())
        .count();
    let mut out = std::io::stdout().lock();
    if a.json {
        let mut s = serde_json::to_string_pretty(&serde_json::json!({
            "mode": if a.check { "check" } else { "write" },
            "variants": results,
        }))
        .expect("serializes");
        s.push('\n');
        let _ = out.write_all(s.as_bytes());
    } else {
        for r in &results {
            if let Some(e) = &r.error {
                let _ = writeln!(out, "error {}: {e}", r.variant);
            } else if a.check {
                if r.mismatches.is_empty() {
                    let _ = writeln!(out, "ok    {}: matches its recorded digest", r.variant);
                } else {
                    let _ = writeln!(
                        out,
                        "FAIL  {}: {} difference{} from the recorded digest",
                        r.variant,
                        r.mismatches.len(),
                        if r.mismatches.len() == 1 { "" } else { "s" }
                    );
                    for m in &r.mismatches {
                        let _ = writeln!(out, "      {m}");
                    }
                }
            } else {
                let _ = writeln!(
                    out,
                    "wrote digest of {} ({} files)",
                    r.variant,
                    r.files.unwrap_or(0)
                );
            }
        }
    }
    if failed == 0 {
        Ok(0)
    } else if results.iter().any(|r| r.error.is_some()) && !a.check {
        Ok(2)
    } else {
        Ok(1)
    }
}
