//! Every HTTP client of the tool trusts what the platform trusts, and
//! `SSL_CERT_FILE` / `SSL_CERT_DIR` when set (as cargo and uv do;
//! `kb_hub::tls`): a local HTTPS server whose certificate is signed by a
//! private CA made here is reached by `cargo xtask pkgmeta`, by the Hub
//! client (kb-hub) and by `init`'s Hub lookup (kb-author) once the CA is given
//! through `SSL_CERT_FILE` or `SSL_CERT_DIR`, and refused (unknown issuer)
//! when it is not. No external network is used. It lives with the xtask
//! tests because only this crate reaches all three clients.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;
use xtask::pkgmeta::sha256_hex;

#[path = "support/wheel.rs"]
mod test_wheel;

const BIN: &str = env!("CARGO_BIN_EXE_xtask");

struct Pki {
    ca_pem: String,
    chain: Vec<rustls::pki_types::CertificateDer<'static>>,
    key: rustls::pki_types::PrivateKeyDer<'static>,
}

/// A private CA and a `localhost` / 127.0.0.1 server certificate it signed.
fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "kernel-builder test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let srv_key = KeyPair::generate().unwrap();
    let srv = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&srv_key, &issuer)
        .unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        chain: vec![srv.der().clone(), ca_cert.der().clone()],
        key: rustls::pki_types::PrivateKeyDer::Pkcs8(srv_key.serialize_der().into()),
    }
}

/// An HTTPS server on 127.0.0.1 answering `routes` (path -> body); one
/// request per connection, `Range` honoured.
fn serve(pki: &Pki, routes: Vec<(String, Vec<u8>)>) -> u16 {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(pki.chain.clone(), pki.key.clone_key())
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { continue };
            let config = config.clone();
            let routes = routes.clone();
            std::thread::spawn(move || {
                let conn = rustls::ServerConnection::new(config).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut reader = BufReader::new(&mut tls);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    return; // the client refused the certificate
                }
                let mut range = None;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        range = Some(v.trim().to_string());
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let body = routes.iter().find(|(p, _)| *p == path).map(|(_, b)| b);
                let _ = match (body, range) {
                    (Some(b), Some(r)) => {
                        let (a, z) = match r.split_once('-') {
                            Some(("", n)) => (
                                b.len() - n.parse::<usize>().unwrap().min(b.len()),
                                b.len() - 1,
                            ),
                            Some((a, "")) => (a.parse().unwrap(), b.len() - 1),
                            Some((a, z)) => (
                                a.parse().unwrap(),
                                z.parse::<usize>().unwrap().min(b.len() - 1),
                            ),
                            None => (0, b.len() - 1),
                        };
                        let _ = write!(
                            tls,
                            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {a}-{z}/{}\r\nConnection: close\r\n\r\n",
                            z + 1 - a,
                            b.len()
                        );
                        tls.write_all(&b[a..=z])
                    }
                    (Some(b), None) => {
                        let _ = write!(
                            tls,
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            b.len()
                        );
                        tls.write_all(b)
                    }
                    (None, _) => write!(
                        tls,
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    ),
                };
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    port
}

fn kb(args: &[&str], env: &[(&str, &Path)]) -> (i32, String, String) {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn https_with_a_private_ca_from_ssl_cert_file_or_dir() {
    let pki = pki();
    let whl = test_wheel::wheel("demo", "1.0", &["numpy"]);
    let name = "demo-1.0-py3-none-any.whl";
    let page = serde_json::json!({
        "meta": {"api-version": "1.1"},
        "name": "demo",
        "files": [{"filename": name, "url": format!("/files/{name}"),
                   "hashes": {"sha256": sha256_hex(&whl)}, "yanked": false}],
    });
    let port = serve(
        &pki,
        vec![
            ("/simple/demo/".into(), serde_json::to_vec(&page).unwrap()),
            (format!("/files/{name}"), whl.clone()),
            ("/api/whoami-v2".into(), br#"{"name":"tls-test"}"#.to_vec()),
        ],
    );
    let d = tempfile::tempdir().unwrap();
    let ca_file = d.path().join("ca.pem");
    std::fs::write(&ca_file, &pki.ca_pem).unwrap();
    let ca_dir = d.path().join("certs");
    std::fs::create_dir_all(&ca_dir).unwrap();
    std::fs::write(ca_dir.join("test-ca.pem"), &pki.ca_pem).unwrap();
    let index = format!("https://localhost:{port}/simple");
    let args = [
        "pkgmeta",
        "wheels",
        "--index",
        &index,
        "--package",
        "demo==1.0",
        "--system",
        "x86_64-linux",
    ];

    // Trusted through SSL_CERT_FILE, and through SSL_CERT_DIR.
    for env in [
        ("SSL_CERT_FILE", ca_file.as_path()),
        ("SSL_CERT_DIR", &ca_dir),
    ] {
        let (code, out, err) = kb(&args, &[env]);
        assert_eq!(code, 0, "{}: {err}", env.0);
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["wheels"][0]["sha256"], sha256_hex(&whl), "{out}");
        assert_eq!(v["wheels"][0]["requires"], serde_json::json!(["numpy"]));
    }

    // Not trusted: the platform store (or an unrelated bundle) lacks the CA.
    let other = d.path().join("other.pem");
    std::fs::write(&other, pki_other_ca()).unwrap();
    let (code, _, err) = kb(&args, &[("SSL_CERT_FILE", &other)]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown issuer"),
        "{err}"
    );
    let (code, _, err) = kb(&args, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("UnknownIssuer") || err.contains("unknown issuer"),
        "{err}"
    );

    // A location that cannot be read is an error naming it.
    let missing = d.path().join("missing.pem");
    let (code, _, err) = kb(&args, &[("SSL_CERT_FILE", &missing)]);
    assert_eq!(code, 1);
    assert!(
        err.contains("SSL_CERT_FILE=") && err.contains("missing.pem"),
        "{err}"
    );

    // The Hub client: same trust (this process reads SSL_CERT_FILE once).
    std::env::remove_var("SSL_CERT_DIR");
    std::env::set_var("SSL_CERT_FILE", &ca_file);
    let http = kb_hub::http::Http::new(
        &format!("https://localhost:{port}"),
        None,
        kb_hub::http::Tuning {
            retries: 0,
            ..Default::default()
        },
        kb_hub::Progress::silent(),
    )
    .unwrap();
    let resp = http
        .send(&kb_hub::http::Request::new(
            "GET",
            format!("https://localhost:{port}/api/whoami-v2"),
            "whoami",
        ))
        .unwrap();
    assert!(resp.ok(), "{}", resp.message());
    assert_eq!(resp.json("whoami").unwrap()["name"], "tls-test");

    // `init`'s Hub lookup: same trust.
    let endpoint = format!("https://localhost:{port}");
    let env = |k: &str| match k {
        "HF_TOKEN" => Some("hf_test".to_string()),
        "HF_ENDPOINT" => Some(endpoint.clone()),
        _ => None,
    };
    assert_eq!(
        kb_author::init::owner::hub_username(&env).as_deref(),
        Ok("tls-test")
    );
}

/// A CA certificate that signed nothing here.
fn pki_other_ca() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.self_signed(&key).unwrap().pem()
}
