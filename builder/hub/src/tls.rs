//! The TLS settings of every HTTP client of the tool: the Hub upload, `init`'s
//! Hub lookup (kb-author) and the maintainer's `cargo xtask pkgmeta`. They
//! trust what the platform trusts, as cargo and uv do, so HTTPS works behind
//! proxies whose CA is in the system store.
//!
//! It lives here because kb-hub is the lowest crate that already speaks HTTP
//! (ureq); kb-core stays free of a TLS stack, which every crate would
//! otherwise wait for when compiling.

use std::sync::{Arc, OnceLock};

use kb_core::{Error, Result};

/// The TLS configuration for a `ureq` agent.
///
/// - `SSL_CERT_FILE` and/or `SSL_CERT_DIR` set: exactly the certificates found
///   there (read with `rustls-native-certs`, OpenSSL's semantics); an
///   unreadable or empty location is an error naming it.
/// - otherwise the platform verifier (`rustls-platform-verifier`): on Linux
///   the system store (`/etc/ssl/certs`, found by probing as OpenSSL does), on
///   macOS and Windows the OS verifier.
///
/// Read once per process.
pub fn tls_config() -> Result<ureq::tls::TlsConfig> {
    static ROOTS: OnceLock<std::result::Result<ureq::tls::RootCerts, String>> = OnceLock::new();
    let roots = ROOTS.get_or_init(|| {
        let file = std::env::var_os("SSL_CERT_FILE").filter(|v| !v.is_empty());
        let dir = std::env::var_os("SSL_CERT_DIR").filter(|v| !v.is_empty());
        if file.is_none() && dir.is_none() {
            return Ok(ureq::tls::RootCerts::PlatformVerifier);
        }
        let what = [("SSL_CERT_FILE", &file), ("SSL_CERT_DIR", &dir)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", v.to_string_lossy())))
            .collect::<Vec<_>>()
            .join(", ");
        let loaded = rustls_native_certs::load_native_certs();
        if let Some(e) = loaded.errors.first() {
            return Err(format!(
                "{what}: cannot load CA certificates: {e}; point it at a readable PEM bundle (e.g. /etc/ssl/certs/ca-certificates.crt) or unset it"
            ));
        }
        if loaded.certs.is_empty() {
            return Err(format!(
                "{what}: no CA certificates found there; point it at a PEM bundle or unset it to use the system store"
            ));
        }
        let certs: Vec<ureq::tls::Certificate<'static>> = loaded
            .certs
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        Ok(ureq::tls::RootCerts::Specific(Arc::new(certs)))
    });
    let roots = roots.clone().map_err(Error::Message)?;
    Ok(ureq::tls::TlsConfig::builder().root_certs(roots).build())
}

/// True when the error is a certificate the trust store rejected: retrying
/// cannot help (rustls reports it through an I/O error during the handshake,
/// so the message is the only reliable sign).
pub fn is_certificate_rejection(e: &ureq::Error) -> bool {
    matches!(e, ureq::Error::Rustls(_) | ureq::Error::Tls(_))
        || e.to_string().contains("invalid peer certificate")
}
