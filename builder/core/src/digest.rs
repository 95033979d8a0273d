//! The `digest` of a variant, computed as the `kernels` loader computes it
//! (`kernels._rust.Digest.hash_variant`): every file of the one walk
//! ([`crate::walk`], [`Rule::Variant`]) except the top-level `metadata.json`
//! and `metadata.json.sigstore`, keyed by its `/`-separated relative path,
//! valued by the base64 (standard alphabet, padded) SHA-256 or SHA-512 of
//! its bytes. The test suite checks this against the real loader.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256, Sha512};

use crate::walk::{self, Rule, WalkError, WalkErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// Top-level files the digest leaves out: they hold (or sign) the digest.
pub const NOT_DIGESTED: &[&str] = &["metadata.json", "metadata.json.sigstore"];

/// The base64 digest of one file, read in chunks.
pub fn hash_file(path: &Path, algorithm: Algorithm) -> Result<String, WalkError> {
    let io = |e| WalkError {
        path: path.to_path_buf(),
        kind: WalkErrorKind::Io(e),
    };
    let mut f = crate::fsutil::open_regular(path).map_err(io)?;
    let mut buf = vec![0u8; 1 << 16];
    macro_rules! run {
        ($h:expr) => {{
            let mut h = $h;
            loop {
                let n = f.read(&mut buf).map_err(io)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            base64::engine::general_purpose::STANDARD.encode(h.finalize())
        }};
    }
    Ok(match algorithm {
        Algorithm::Sha256 => run!(Sha256::new()),
        Algorithm::Sha512 => run!(Sha512::new()),
    })
}

/// Hash the files of a variant directory the way the loader does.
pub fn hash_variant(variant: &Path, algorithm: Algorithm) -> Result<FileDigests, WalkError> {
    let mut out = FileDigests::new();
    for f in walk::files(variant, Rule::Variant)? {
        if NOT_DIGESTED.contains(&f.rel.as_str()) {
            continue;
        }
        out.insert(f.rel, hash_file(&f.path, algorithm)?);
    }
    Ok(out)
}
