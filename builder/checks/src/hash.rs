//! `hash`: record the `digest` of each variant in its `metadata.json`, or
//! verify it (`--check`). The digest is computed exactly as the `kernels`
//! loader computes it (see `kb_core::digest`); the test suite checks this
//! against the real loader byte for byte.

use std::path::Path;

use kb_core::metadata::{DigestRecord, Metadata};
use kb_core::report::{Report, Status};
use serde::Serialize;

pub use kb_core::digest::{hash_variant, Algorithm, FileDigests};

use super::{display_path, report_base, resolve_target, InputError};

/// The `digest` object as `metadata.json` records it.
pub fn digest_record(algorithm: Algorithm, files: &FileDigests) -> DigestRecord {
    DigestRecord::new(algorithm, files.clone())
}

/// Compute the digest of a variant and write it into its `metadata.json`
/// (replacing an existing `digest`, otherwise appending it). Returns the
/// number of files hashed.
pub fn write_digest(variant: &Path) -> Result<usize, InputError> {
    let mut meta = Metadata::read(variant)?;
    let files = hash_variant(variant, Algorithm::Sha256)?;
    let n = files.len();
    meta.digest = Some(DigestRecord::new(Algorithm::Sha256, files));
    meta.write(variant)?;
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

/// Compare recorded digests with actual ones.
pub fn compare(recorded: &FileDigests, actual: &FileDigests) -> Vec<Mismatch> {
    let mut out = Vec::new();
    for (file, want) in recorded {
        match actual.get(file) {
            None => out.push(Mismatch::MissingFile { file: file.clone() }),
            Some(got) if got != want => out.push(Mismatch::HashMismatch {
                file: file.clone(),
                expected: want.clone(),
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
    out
}

/// Verify a variant against the digest in its `metadata.json`.
pub fn check_digest(variant: &Path) -> Result<Vec<Mismatch>, InputError> {
    let meta = Metadata::read(variant)?;
    let path = kb_core::metadata::path(variant);
    let digest = meta.digest.ok_or_else(|| InputError {
        path: path.clone(),
        message: "no `digest` recorded; run `kernel-builder hash` to record one".into(),
    })?;
    let algorithm = digest.algorithm().ok_or_else(|| InputError {
        path: path.clone(),
        message: "`digest.algorithm` must be \"sha256\" or \"sha512\"".into(),
    })?;
    let actual = hash_variant(variant, algorithm)?;
    Ok(compare(&digest.files, &actual))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct VariantResult {
    pub variant: String,
    pub files: Option<usize>,
    pub mismatches: Vec<Mismatch>,
    pub error: Option<String>,
}

/// The report of `hash` / `hash --check`.
#[derive(Debug, Serialize)]
pub struct HashReport {
    pub mode: &'static str,
    pub variants: Vec<VariantResult>,
}

/// `kernel-builder hash [--check] DIR`.
pub fn run(dir: &Path, check: bool) -> Result<HashReport, InputError> {
    let target = resolve_target(dir, false)?;
    let base = report_base(dir, &target);
    let mut variants = Vec::new();
    for v in target.variants() {
        let variant = display_path(&v, &base);
        let mut r = VariantResult {
            variant,
            files: None,
            mismatches: Vec::new(),
            error: None,
        };
        if check {
            match check_digest(&v) {
                Ok(m) => r.mismatches = m,
                Err(e) => r.error = Some(e.to_string()),
            }
        } else {
            match write_digest(&v) {
                Ok(n) => r.files = Some(n),
                Err(e) => r.error = Some(e.to_string()),
            }
        }
        variants.push(r);
    }
    Ok(HashReport {
        mode: if check { "check" } else { "write" },
        variants,
    })
}

impl Report for HashReport {
    fn text(&self) -> String {
        let check = self.mode == "check";
        let mut s = String::new();
        for r in &self.variants {
            if let Some(e) = &r.error {
                s.push_str(&format!("error {}: {e}\n", r.variant));
            } else if check {
                if r.mismatches.is_empty() {
                    s.push_str(&format!(
                        "ok    {}: matches its recorded digest\n",
                        r.variant
                    ));
                } else {
                    s.push_str(&format!(
                        "FAIL  {}: {} difference{} from the recorded digest\n",
                        r.variant,
                        r.mismatches.len(),
                        if r.mismatches.len() == 1 { "" } else { "s" }
                    ));
                    for m in &r.mismatches {
                        s.push_str(&format!("      {m}\n"));
                    }
                }
            } else {
                s.push_str(&format!(
                    "wrote digest of {} ({} files)\n",
                    r.variant,
                    r.files.unwrap_or(0)
                ));
            }
        }
        s
    }

    fn status(&self) -> Status {
        let failed = self
            .variants
            .iter()
            .any(|r| r.error.is_some() || !r.mismatches.is_empty());
        if !failed {
            Status::Ok
        } else if self.mode == "write" && self.variants.iter().any(|r| r.error.is_some()) {
            Status::Unusable
        } else {
            Status::Findings
        }
    }
}
