//! Maintainer commands that produce the metadata files of the Nix package
//! sets in `pkgs/` (the "package set pattern": metadata JSON -> generic
//! builder -> overrides -> wrapped toolchain).
//!
//! - `pkgmeta rpm`: read a Yum/DNF repository (`repodata/repomd.xml` and the
//!   primary metadata it points to), resolve the dependency closure of the
//!   requested packages and record each package's URL and sha256.
//! - `pkgmeta wheels`: find wheels in a PEP 503 index and record URL and sha256.
//! - `pkgmeta torch-wheels`: the same for every torch x compute x system of
//!   the variant matrix (`data/matrix.toml`).
//!
//! Hashes come from the repository metadata when it publishes sha256, and are
//! otherwise computed by downloading the file. Nothing is ever guessed: a file
//! that cannot be fetched is an error.

pub mod markers;
pub mod remote_zip;
pub mod rpm;
pub mod wheels;

use std::io::Read;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use sha2::{Digest, Sha256};

use kb_core::fsutil::write_atomic;

#[derive(Debug, Subcommand)]
pub enum PkgmetaCommand {
    /// Resolve RPM packages from Yum/DNF repositories into a package-set metadata file
    Rpm(RpmArgs),
    /// Record URL and sha256 of wheels from a PEP 503 index
    Wheels(WheelArgs),
    /// Record the torch wheel of every torch x compute x system of the variant matrix
    TorchWheels(TorchWheelArgs),
}

#[derive(Debug, Args)]
pub struct RpmArgs {
    /// Repository base URL (the directory holding `repodata/`); repeatable, earlier wins ties
    #[arg(long = "repo", required = true, value_name = "URL")]
    pub repos: Vec<String>,
    /// Package to include with its dependency closure (repeatable)
    #[arg(long = "package", required = true, value_name = "NAME")]
    pub packages: Vec<String>,
    /// Package to leave out (its provides count as satisfied); `prefix*` matches a prefix
    #[arg(long = "exclude", value_name = "NAME")]
    pub exclude: Vec<String>,
    /// RPM architecture (`noarch` packages are always accepted)
    #[arg(long, default_value = "x86_64")]
    pub arch: String,
    /// Do not follow dependencies (only the named packages)
    #[arg(long)]
    pub no_deps: bool,
    /// Write here instead of standard output
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WheelArgs {
    /// PEP 503 simple index URL (e.g. `https://pypi.org/simple`)
    #[arg(long)]
    pub index: String,
    /// `NAME==VERSION` (repeatable)
    #[arg(long = "package", required = true, value_name = "NAME==VERSION")]
    pub packages: Vec<String>,
    /// CPython tag of the interpreter the wheels are for
    #[arg(long, default_value = "cp313")]
    pub python: String,
    /// Nix system to select wheels for (repeatable; default: all matrix systems)
    #[arg(long = "system")]
    pub systems: Vec<String>,
    /// Write here instead of standard output
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct TorchWheelArgs {
    /// Base of the PyTorch wheel indexes (`<base>/<compute>/torch/`)
    #[arg(long, default_value = "https://download.pytorch.org/whl")]
    pub index_base: String,
    /// Instead: one project index (PEP 503/691) holding torch's default
    /// wheels, e.g. `https://pypi.org/simple`; each wheel's compute backend is
    /// read from its `torch/version.py`, and cells it does not serve are listed
    #[arg(long, conflicts_with = "index_base")]
    pub index: Option<String>,
    /// CPython tag of the interpreter the wheels are for
    #[arg(long, default_value = "cp313")]
    pub python: String,
    /// Only these torch versions (e.g. `2.15`; repeatable)
    #[arg(long = "torch")]
    pub torch: Vec<String>,
    /// Only these backends (`cpu`, `cuda`, `rocm`, `xpu`, `metal`; repeatable)
    #[arg(long = "backend")]
    pub backends: Vec<String>,
    /// Only these systems (repeatable)
    #[arg(long = "system")]
    pub systems: Vec<String>,
    /// Write here instead of standard output
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

pub fn run(cmd: PkgmetaCommand) -> anyhow::Result<()> {
    let (json, output) = match cmd {
        PkgmetaCommand::Rpm(a) => (rpm::generate(&a)?, a.output),
        PkgmetaCommand::Wheels(a) => (wheels::generate(&a)?, a.output),
        PkgmetaCommand::TorchWheels(a) => (wheels::generate_torch(&a)?, a.output),
    };
    let mut text = serde_json::to_string_pretty(&json).expect("metadata serializes");
    text.push('\n');
    match output {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", dir.display()))?;
            }
            write_atomic(&path, text.as_bytes())
                .map_err(|e| anyhow::anyhow!("{}: cannot write: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// Errors of the metadata generators; each names the URL or item involved.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("{url}: {message}")]
    Fetch { url: String, message: String },
    #[error("{url}: {message}")]
    Parse { url: String, message: String },
    #[error("{0}")]
    Resolve(String),
}

fn fetch_error(url: &str, message: impl std::fmt::Display) -> MetaError {
    MetaError::Fetch {
        url: url.to_string(),
        message: message.to_string(),
    }
}

fn agent(url: &str) -> Result<ureq::Agent, MetaError> {
    let tls = kb_hub::tls::tls_config().map_err(|e| fetch_error(url, e))?;
    Ok(ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(std::time::Duration::from_secs(600)))
        .user_agent(concat!("kernel-builder/", env!("CARGO_PKG_VERSION")))
        .build()
        .into())
}

/// A response body with its `Content-Type` and, for range requests, whether
/// the server honoured the range (206) and the total size it reported.
pub struct Opened {
    pub body: Box<dyn Read>,
    pub content_type: Option<String>,
    pub partial: bool,
    pub total: Option<u64>,
}

/// GET `url` with extra request headers: `http(s)://` through ureq (the
/// platform trust store, see `kb_hub::tls`), `file://` or a plain
/// path from disk (local mirrors; headers are ignored there).
pub fn open_with(url: &str, headers: &[(&str, &str)]) -> Result<Opened, MetaError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        let path = url.strip_prefix("file://").unwrap_or(url);
        let f = std::fs::File::open(path).map_err(|e| fetch_error(url, e))?;
        return Ok(Opened {
            body: Box::new(f),
            content_type: None,
            partial: false,
            total: None,
        });
    }
    let agent = agent(url)?;
    let mut last = String::new();
    // Transient network errors are retried; HTTP status errors are not.
    for attempt in 0..3 {
        let mut req = agent.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        match req.call() {
            Ok(resp) => {
                let header = |n: &str| {
                    resp.headers()
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                let content_type = header("content-type");
                let partial = resp.status().as_u16() == 206;
                let total = header("content-range")
                    .and_then(|r| r.rsplit('/').next().and_then(|t| t.trim().parse().ok()));
                return Ok(Opened {
                    body: Box::new(resp.into_body().into_reader()),
                    content_type,
                    partial,
                    total,
                });
            }
            Err(ureq::Error::StatusCode(code)) => {
                return Err(fetch_error(url, format!("HTTP status {code}")))
            }
            // A certificate the trust store rejects stays rejected.
            Err(e) if kb_hub::tls::is_certificate_rejection(&e) => return Err(fetch_error(url, e)),
            Err(e) => {
                last = e.to_string();
                std::thread::sleep(std::time::Duration::from_millis(200 << attempt));
            }
        }
    }
    Err(fetch_error(url, last))
}

/// Open a URL for reading (see [`open_with`]).
pub fn open(url: &str) -> Result<Box<dyn Read>, MetaError> {
    Ok(open_with(url, &[])?.body)
}

/// Fetch a whole resource into memory.
pub fn fetch(url: &str) -> Result<Vec<u8>, MetaError> {
    let mut buf = Vec::new();
    open(url)?
        .read_to_end(&mut buf)
        .map_err(|e| fetch_error(url, e))?;
    Ok(buf)
}

/// Download a resource and return its sha256 (hex) and size, streaming.
pub fn fetch_sha256(url: &str) -> Result<(String, u64), MetaError> {
    let mut r = open(url)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0u64;
    loop {
        let k = r.read(&mut buf).map_err(|e| fetch_error(url, e))?;
        if k == 0 {
            break;
        }
        n += k as u64;
        h.update(&buf[..k]);
    }
    Ok((hex(&h.finalize()), n))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Resolve `href` against the URL of the document it appeared in.
pub fn join_url(base: &str, href: &str) -> String {
    if href.contains("://") {
        return href.to_string();
    }
    let (scheme, rest) = match base.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, base),
    };
    if let Some(h) = href.strip_prefix("//") {
        return format!("{}://{h}", scheme.unwrap_or("https"));
    }
    // Authority (host) and path of the base.
    let (authority, path) = match scheme {
        Some(_) => match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        },
        None => ("", rest),
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    let joined = if href.starts_with('/') {
        href.to_string()
    } else {
        let dir = match path.rfind('/') {
            Some(i) => &path[..=i],
            None => "",
        };
        format!("{dir}{href}")
    };
    // Normalise `.` and `..` segments, keeping query and fragment intact.
    let (p, tail) = match joined.find(['?', '#']) {
        Some(i) => (&joined[..i], &joined[i..]),
        None => (joined.as_str(), ""),
    };
    let absolute = p.starts_with('/');
    let mut segs: Vec<&str> = Vec::new();
    let parts: Vec<&str> = p.split('/').collect();
    for (i, s) in parts.iter().enumerate() {
        match *s {
            "." => {}
            ".." => {
                segs.pop();
            }
            "" if i != parts.len() - 1 => {}
            s => segs.push(s),
        }
    }
    let mut out = segs.join("/");
    if absolute {
        out.insert(0, '/');
    }
    match scheme {
        Some(s) => format!("{s}://{authority}{out}{tail}"),
        None => format!("{out}{tail}"),
    }
}

/// Decode `%XX` escapes (URLs in indexes escape `+` as `%2B`).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hexval = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_like_a_browser() {
        let page = "https://download.pytorch.org/whl/cu132/torch/";
        assert_eq!(
            join_url(page, "../../torch-2.15.0%2Bcu132-cp313.whl#sha256=ab"),
            "https://download.pytorch.org/whl/torch-2.15.0%2Bcu132-cp313.whl#sha256=ab"
        );
        assert_eq!(
            join_url(page, "/whl/x.whl"),
            "https://download.pytorch.org/whl/x.whl"
        );
        assert_eq!(join_url(page, "https://a/b"), "https://a/b");
        assert_eq!(
            join_url(page, "//files.example/x"),
            "https://files.example/x"
        );
        assert_eq!(
            join_url("http://127.0.0.1:8000/repo/", "repodata/repomd.xml"),
            "http://127.0.0.1:8000/repo/repodata/repomd.xml"
        );
        assert_eq!(
            join_url("http://h/repo", "./Packages/a.rpm"),
            "http://h/Packages/a.rpm"
        );
        assert_eq!(
            join_url("/srv/mirror/repo/", "a/../b.rpm"),
            "/srv/mirror/repo/b.rpm"
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("torch-2.15.0%2Bcu132-cp313.whl"),
            "torch-2.15.0+cu132-cp313.whl"
        );
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn local_files_can_be_fetched_and_hashed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x");
        std::fs::write(&p, b"abc").unwrap();
        let url = format!("file://{}", p.display());
        assert_eq!(fetch(&url).unwrap(), b"abc");
        let (h, n) = fetch_sha256(&url).unwrap();
        assert_eq!(n, 3);
        assert_eq!(
            h,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let missing = format!("file://{}", d.path().join("nope").display());
        assert!(fetch(&missing).unwrap_err().to_string().contains("nope"));
    }
}
