//! The package-set metadata generators (`cargo xtask pkgmeta ...`) against
//! fixture repositories that this test builds and serves on 127.0.0.1.
//! No external network is used.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::Value;

#[path = "support/wheel.rs"]
mod test_wheel;
use test_wheel::{wheel, zip_stored};

const BIN: &str = env!("CARGO_BIN_EXE_xtask");

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A minimal HTTP/1.1 file server: GET only, one request per connection.
/// Dynamic pages can be added with `pages`; every request path is logged.
struct Server {
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

type PageFn = dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync;

fn serve(root: PathBuf, pages: Option<Arc<PageFn>>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            let mut range: Option<String> = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    if k.eq_ignore_ascii_case("range") {
                        range = Some(v.trim().to_string());
                    }
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
            // Logged as `<path>` or `<path> <range>`.
            log2.lock().unwrap().push(match &range {
                Some(r) => format!("{path} {r}"),
                None => path.clone(),
            });
            let body = pages
                .as_ref()
                .and_then(|f| f(&path))
                .or_else(|| std::fs::read(root.join(path.trim_start_matches('/'))).ok());
            // Ranges are honoured for /files/ (wheels), as PyPI's file host does.
            let part = match (&body, &range) {
                (Some(b), Some(r)) if path.starts_with("/files/") => {
                    byte_range(r, b.len()).map(|(a, z)| (a, z, b.len()))
                }
                _ => None,
            };
            let _ = match (body, part) {
                (Some(b), Some((a, z, total))) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {a}-{z}/{total}\r\nConnection: close\r\n\r\n",
                        z + 1 - a
                    );
                    stream.write_all(&b[a..=z])
                }
                (Some(b), None) => {
                    let _ = write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        b.len()
                    );
                    stream.write_all(&b)
                }
                (None, _) => write!(
                    stream,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            };
        }
    });
    Server {
        base: format!("http://127.0.0.1:{port}"),
        log,
    }
}

/// `bytes=a-b` or `bytes=-n` -> inclusive (start, end) within `len`.
fn byte_range(r: &str, len: usize) -> Option<(usize, usize)> {
    let spec = r.strip_prefix("bytes=")?;
    let (a, z) = spec.split_once('-')?;
    if a.is_empty() {
        let n: usize = z.parse().ok()?;
        return Some((len.saturating_sub(n), len - 1));
    }
    let a: usize = a.parse().ok()?;
    let z: usize = if z.is_empty() {
        len - 1
    } else {
        z.parse().ok()?
    };
    (a <= z && z < len).then_some((a, z))
}

/// A PEP 691 JSON project page.
fn json_page(files: &[(&str, Option<String>)]) -> Vec<u8> {
    let files: Vec<Value> = files
        .iter()
        .map(|(f, h)| {
            serde_json::json!({
                "filename": f,
                "url": format!("../../files/{}", f.replace('+', "%2B")),
                "hashes": h.as_ref().map(|h| serde_json::json!({"sha256": h})).unwrap_or(serde_json::json!({})),
                "yanked": false,
            })
        })
        .collect();
    serde_json::to_vec(
        &serde_json::json!({"meta": {"api-version": "1.1"}, "name": "x", "files": files}),
    )
    .unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .args(["-n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip is installed");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

struct Pkg<'a> {
    name: &'a str,
    arch: &'a str,
    ver: &'a str,
    rel: &'a str,
    /// `sha256` or `sha1`: how the repository records the checksum.
    checksum: &'a str,
    provides: &'a [&'a str],
    requires: &'a [(&'a str, Option<(&'a str, &'a str)>)],
    files: &'a [&'a str],
    base: Option<&'a str>,
}

/// Write a Yum repository: the package files, `primary.xml.gz` and `repomd.xml`.
/// Returns the sha256 of each package file by its href.
fn write_repo(dir: &Path, pkgs: &[Pkg], corrupt_primary: bool) -> BTreeMap<String, String> {
    std::fs::create_dir_all(dir.join("repodata")).unwrap();
    std::fs::create_dir_all(dir.join("Packages")).unwrap();
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\">\n",
    );
    let mut hashes = BTreeMap::new();
    for p in pkgs {
        let file = format!("{}-{}-{}.{}.rpm", p.name, p.ver, p.rel, p.arch);
        let href = format!("Packages/{file}");
        let content = format!("fake rpm payload of {file}\n");
        // Files with an xml:base live under that base instead.
        let disk = match p.base {
            Some(b) => dir
                .parent()
                .unwrap()
                .join(b.rsplit('/').next().unwrap())
                .join(&href),
            None => dir.join(&href),
        };
        std::fs::create_dir_all(disk.parent().unwrap()).unwrap();
        std::fs::write(&disk, &content).unwrap();
        let sha = sha256_hex(content.as_bytes());
        hashes.insert(href.clone(), sha.clone());
        let (ctype, cval) = if p.checksum == "sha256" {
            ("sha256", sha)
        } else {
            (
                "sha1",
                "0123456789abcdef0123456789abcdef01234567".to_string(),
            )
        };
        xml += &format!(
            "<package type=\"rpm\">\n  <name>{}</name>\n  <arch>{}</arch>\n  <version epoch=\"0\" ver=\"{}\" rel=\"{}\"/>\n  <checksum type=\"{ctype}\" pkgid=\"YES\">{cval}</checksum>\n  <summary>fixture &amp; test</summary>\n  <size package=\"{}\" installed=\"1\" archive=\"1\"/>\n  <location{} href=\"{href}\"/>\n  <format>\n    <rpm:license>MIT</rpm:license>\n    <rpm:provides>\n      <rpm:entry name=\"{}\" flags=\"EQ\" epoch=\"0\" ver=\"{}\" rel=\"{}\"/>\n",
            p.name,
            p.arch,
            p.ver,
            p.rel,
            content.len(),
            p.base.map(|b| format!(" xml:base=\"{b}\"")).unwrap_or_default(),
            p.name,
            p.ver,
            p.rel
        );
        for pr in p.provides {
            xml += &format!("      <rpm:entry name=\"{pr}\"/>\n");
        }
        xml += "    </rpm:provides>\n    <rpm:requires>\n";
        for (r, v) in p.requires {
            match v {
                Some((flags, ver)) => {
                    xml += &format!(
                    "      <rpm:entry name=\"{r}\" flags=\"{flags}\" epoch=\"0\" ver=\"{ver}\"/>\n"
                )
                }
                None => xml += &format!("      <rpm:entry name=\"{r}\"/>\n"),
            }
        }
        xml += "    </rpm:requires>\n";
        for f in p.files {
            xml += &format!("    <file>{f}</file>\n");
        }
        xml += "  </format>\n</package>\n";
    }
    xml += "</metadata>\n";
    let gz = gzip(xml.as_bytes());
    let name = format!("repodata/{}-primary.xml.gz", &sha256_hex(&gz)[..16]);
    std::fs::write(dir.join(&name), &gz).unwrap();
    let recorded = if corrupt_primary {
        sha256_hex(b"something else")
    } else {
        sha256_hex(&gz)
    };
    let repomd = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<repomd xmlns=\"http://linux.duke.edu/metadata/repo\">\n  <revision>42</revision>\n  <data type=\"primary\">\n    <checksum type=\"sha256\">{recorded}</checksum>\n    <open-checksum type=\"sha256\">{}</open-checksum>\n    <location href=\"{name}\"/>\n  </data>\n</repomd>\n",
        sha256_hex(xml.as_bytes())
    );
    std::fs::write(dir.join("repodata/repomd.xml"), repomd).unwrap();
    hashes
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An AlmaLinux-like layout: BaseOS (glibc, bash, scl-utils) and AppStream
/// (the gcc toolset), with versioned, file and library requires.
fn alma_like(root: &Path, server_base: &str, corrupt: bool) -> BTreeMap<String, String> {
    let mut hashes = write_repo(
        &root.join("BaseOS"),
        &[
            Pkg {
                name: "glibc",
                arch: "x86_64",
                ver: "2.28",
                rel: "251.el8",
                checksum: "sha256",
                provides: &["libc.so.6(GLIBC_2.28)(64bit)"],
                requires: &[],
                files: &[],
                base: None,
            },
            Pkg {
                name: "bash",
                arch: "x86_64",
                ver: "4.4.20",
                rel: "5.el8",
                checksum: "sha256",
                provides: &[],
                requires: &[("libc.so.6(GLIBC_2.28)(64bit)", None)],
                files: &["/bin/sh", "/usr/bin/bash"],
                base: None,
            },
            Pkg {
                name: "scl-utils",
                arch: "x86_64",
                ver: "2.0.2",
                rel: "16.el8",
                checksum: "sha1",
                provides: &[],
                requires: &[("/bin/sh", None)],
                files: &["/usr/bin/scl_source"],
                base: None,
            },
            Pkg {
                name: "scl-utils",
                arch: "i686",
                ver: "9.9",
                rel: "1.el8",
                checksum: "sha256",
                provides: &[],
                requires: &[],
                files: &["/usr/bin/scl_source"],
                base: None,
            },
        ],
        false,
    );
    let mirror = format!("{server_base}/mirror");
    hashes.extend(write_repo(
        &root.join("AppStream"),
        &[
            Pkg {
                name: "gcc-toolset-14-gcc",
                arch: "x86_64",
                ver: "14.2.1",
                rel: "7.el8_10",
                checksum: "sha256",
                provides: &[],
                requires: &[
                    ("gcc-toolset-14-runtime", None),
                    ("gcc-toolset-14-binutils", Some(("GE", "2.41"))),
                    ("libc.so.6(GLIBC_2.28)(64bit)", None),
                    ("/bin/sh", None),
                    ("rpmlib(CompressedFileNames)", Some(("LE", "3.0.4"))),
                    ("(foo if bar)", None),
                ],
                files: &["/opt/rh/gcc-toolset-14/root/usr/bin/gcc"],
                base: None,
            },
            Pkg {
                name: "gcc-toolset-14-runtime",
                arch: "noarch",
                ver: "14.0",
                rel: "1.el8",
                checksum: "sha256",
                provides: &[],
                requires: &[("/usr/bin/scl_source", None)],
                files: &[],
                base: None,
            },
            Pkg {
                name: "gcc-toolset-14-binutils",
                arch: "x86_64",
                ver: "2.40",
                rel: "1.el8",
                checksum: "sha256",
                provides: &[],
                requires: &[],
                files: &[],
                base: None,
            },
            Pkg {
                name: "gcc-toolset-14-binutils",
                arch: "x86_64",
                ver: "2.41",
                rel: "3.el8",
                checksum: "sha256",
                provides: &["libbfd-2.41.so()(64bit)"],
                requires: &[("gcc-toolset-14-runtime", None)],
                files: &[],
                base: Some(&mirror),
            },
            Pkg {
                name: "needs-missing",
                arch: "x86_64",
                ver: "1",
                rel: "1",
                checksum: "sha256",
                provides: &[],
                requires: &[("libmissing.so.3()(64bit)", None)],
                files: &[],
                base: None,
            },
        ],
        corrupt,
    ));
    hashes
}

#[test]
fn rpm_closure_from_two_repositories() {
    let d = tempfile::tempdir().unwrap();
    let srv = serve(d.path().to_path_buf(), None);
    let hashes = alma_like(d.path(), &srv.base, false);
    let out_file = d.path().join("out/x86_64-linux.json");
    let base = format!("{}/BaseOS", srv.base);
    let app = format!("{}/AppStream/", srv.base);
    let (code, _, err) = run(&[
        "pkgmeta",
        "rpm",
        "--repo",
        &app,
        "--repo",
        &base,
        "--package",
        "gcc-toolset-14-gcc",
        "--exclude",
        "glibc",
        "--exclude",
        "bash",
        "-o",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(&out_file).unwrap()).unwrap();
    let pk = json["packages"].as_object().unwrap();
    let names: Vec<&str> = pk.keys().map(|k| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "gcc-toolset-14-binutils",
            "gcc-toolset-14-gcc",
            "gcc-toolset-14-runtime",
            "scl-utils"
        ]
    );
    // Newest binutils satisfies `>= 2.41`; it lives under its xml:base.
    let bu = &pk["gcc-toolset-14-binutils"];
    assert_eq!(bu["version"], "2.41");
    assert_eq!(
        bu["url"],
        format!(
            "{}/mirror/Packages/gcc-toolset-14-binutils-2.41-3.el8.x86_64.rpm",
            srv.base
        )
    );
    assert_eq!(
        bu["sha256"],
        hashes["Packages/gcc-toolset-14-binutils-2.41-3.el8.x86_64.rpm"]
    );
    let gcc = &pk["gcc-toolset-14-gcc"];
    assert_eq!(
        gcc["depends"],
        serde_json::json!(["gcc-toolset-14-binutils", "gcc-toolset-14-runtime"])
    );
    assert_eq!(
        gcc["url"],
        format!(
            "{}/AppStream/Packages/gcc-toolset-14-gcc-14.2.1-7.el8_10.x86_64.rpm",
            srv.base
        )
    );
    assert_eq!(
        pk["gcc-toolset-14-runtime"]["depends"],
        serde_json::json!(["scl-utils"])
    );
    assert_eq!(pk["gcc-toolset-14-runtime"]["arch"], "noarch");
    // The x86_64 scl-utils is chosen over the newer i686 one; its sha1-only
    // checksum made the generator download the file and hash it.
    let scl = &pk["scl-utils"];
    assert_eq!(scl["version"], "2.0.2");
    assert_eq!(
        scl["sha256"],
        hashes["Packages/scl-utils-2.0.2-16.el8.x86_64.rpm"]
    );
    let log = srv.log.lock().unwrap().clone();
    assert!(
        log.iter()
            .any(|p| p.ends_with("scl-utils-2.0.2-16.el8.x86_64.rpm")),
        "{log:?}"
    );
    assert!(
        !log.iter()
            .any(|p| p.ends_with("gcc-14.2.1-7.el8_10.x86_64.rpm")),
        "sha256 from metadata must not be downloaded: {log:?}"
    );
    assert_eq!(json["repositories"][0]["revision"], "42");
    assert_eq!(json["excluded"], serde_json::json!(["bash", "glibc"]));
    // Deterministic: a second run writes the same bytes.
    let first = std::fs::read(&out_file).unwrap();
    let (code, stdout, _) = run(&[
        "pkgmeta",
        "rpm",
        "--repo",
        &app,
        "--repo",
        &base,
        "--package",
        "gcc-toolset-14-gcc",
        "--exclude",
        "bash",
        "--exclude",
        "glibc",
    ]);
    assert_eq!(code, 0);
    assert_eq!(stdout.as_bytes(), &first[..]);
}

#[test]
fn rpm_errors_name_the_problem() {
    let d = tempfile::tempdir().unwrap();
    let srv = serve(d.path().to_path_buf(), None);
    alma_like(d.path(), &srv.base, false);
    let base = format!("{}/BaseOS", srv.base);
    let app = format!("{}/AppStream", srv.base);
    // Unsatisfiable library require: names the requirer and the capability.
    let (code, _, err) = run(&[
        "pkgmeta",
        "rpm",
        "--repo",
        &app,
        "--repo",
        &base,
        "--package",
        "needs-missing",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("`needs-missing` requires `libmissing.so.3()(64bit)`"),
        "{err}"
    );
    // Without the exclusion, /bin/sh pulls in bash and bash's glibc.
    let (code, out, err) = run(&["pkgmeta", "rpm", "--repo", &base, "--package", "scl-utils"]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["packages"].as_object().unwrap().len(), 3);
    // Unknown package: suggestions.
    let (code, _, err) = run(&[
        "pkgmeta",
        "rpm",
        "--repo",
        &app,
        "--package",
        "gcc-toolset-14-gc",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("`gcc-toolset-14-gc` is not in the repositories (similar: gcc-toolset-14-gcc"),
        "{err}"
    );
    // Not a repository.
    let (code, _, err) = run(&[
        "pkgmeta",
        "rpm",
        "--repo",
        &format!("{}/nowhere", srv.base),
        "--package",
        "x",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("nowhere/repodata/repomd.xml: HTTP status 404"),
        "{err}"
    );
}

#[test]
fn rpm_primary_checksum_is_verified() {
    let d = tempfile::tempdir().unwrap();
    let srv = serve(d.path().to_path_buf(), None);
    alma_like(d.path(), &srv.base, true);
    let app = format!("{}/AppStream", srv.base);
    let (code, _, err) = run(&[
        "pkgmeta",
        "rpm",
        "--repo",
        &app,
        "--package",
        "gcc-toolset-14-gcc",
        "--no-deps",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("does not match"), "{err}");
    assert!(err.contains("primary.xml.gz"), "{err}");
}

fn wheel_page(files: &[(&str, Option<String>)]) -> Vec<u8> {
    let mut s = String::from("<!DOCTYPE html>\n<html><body>\n");
    for (f, h) in files {
        let href = f.replace('+', "%2B");
        match h {
            Some(h) => s += &format!("<a href=\"../../files/{href}#sha256={h}\">{f}</a><br/>\n"),
            None => s += &format!("<a href=\"../../files/{href}\">{f}</a><br/>\n"),
        }
    }
    s += "</body></html>\n";
    s.into_bytes()
}

#[test]
fn wheels_from_a_simple_index() {
    let d = tempfile::tempdir().unwrap();
    let files = d.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let pure = "kernels-0.17.2-py3-none-any.whl";
    let native_x86 = "apache_tvm_ffi-0.1.15-cp39-abi3-manylinux_2_28_x86_64.whl";
    let native_mac = "apache_tvm_ffi-0.1.15-cp39-abi3-macosx_11_0_arm64.whl";
    let dep = "dep_native-1.0-cp313-cp313-manylinux_2_28_x86_64.whl";
    let contents: Vec<(&str, Vec<u8>)> = vec![
        (
            pure,
            wheel(
                "kernels",
                "0.17.2",
                &[
                    "huggingface-hub>=0.26",
                    "pytest; extra == \"dev\"",
                    "Dep_Native==1.0; platform_system == \"Linux\"",
                    "tomli>=2; python_version < \"3.11\"",
                ],
            ),
        ),
        (
            native_x86,
            wheel("apache-tvm-ffi", "0.1.15", &["typing-extensions"]),
        ),
        (
            native_mac,
            wheel("apache-tvm-ffi", "0.1.15", &["typing-extensions"]),
        ),
        (dep, wheel("dep-native", "1.0", &[])),
    ];
    for (f, bytes) in &contents {
        std::fs::write(files.join(f), bytes).unwrap();
    }
    let hashes: BTreeMap<String, String> = contents
        .iter()
        .map(|(f, b)| (f.to_string(), sha256_hex(b)))
        .collect();
    let h = |f: &str| hashes[f].clone();
    let (hp, hx, hd) = (h(pure), h(native_x86), h(dep));
    let pages: Arc<PageFn> = Arc::new(move |path: &str| match path {
        // PEP 691 JSON for one project, PEP 503 HTML for the others.
        "/simple/kernels/" => Some(json_page(&[
            (pure, Some(hp.clone())),
            ("kernels-0.17.1-py3-none-any.whl", None),
        ])),
        // One link without a hash: the generator downloads it.
        "/simple/apache-tvm-ffi/" => Some(wheel_page(&[
            (native_x86, Some(hx.clone())),
            (native_mac, None),
        ])),
        "/simple/dep-native/" => Some(json_page(&[(dep, Some(hd.clone()))])),
        _ => None,
    });
    let srv = serve(d.path().to_path_buf(), Some(pages));
    let index = format!("{}/simple", srv.base);
    let (code, out, err) = run(&[
        "pkgmeta",
        "wheels",
        "--index",
        &index,
        "--package",
        "kernels==0.17.2",
        "--package",
        "apache-tvm-ffi==0.1.15",
        "--system",
        "x86_64-linux",
        "--system",
        "aarch64-darwin",
    ]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    let w = json["wheels"].as_array().unwrap();
    let find = |f: &str, s: Value| {
        w.iter()
            .find(|e| e["filename"] == f && e["system"] == s)
            .unwrap_or_else(|| panic!("{f} {s} in {out}"))
    };
    // The pure wheel's requirements differ by system (a Linux-only pin), so
    // it is recorded per system; the pin is followed on Linux only.
    assert_eq!(
        find(pure, "x86_64-linux".into())["requires"],
        serde_json::json!(["dep-native", "huggingface-hub"])
    );
    assert_eq!(
        find(pure, "aarch64-darwin".into())["requires"],
        serde_json::json!(["huggingface-hub"])
    );
    assert_eq!(find(pure, "x86_64-linux".into())["sha256"], h(pure));
    assert_eq!(find(dep, "x86_64-linux".into())["sha256"], h(dep));
    assert_eq!(
        find(native_x86, "x86_64-linux".into())["requires"],
        serde_json::json!(["typing-extensions"])
    );
    let mac = find(native_mac, "aarch64-darwin".into());
    assert_eq!(mac["sha256"], h(native_mac));
    assert_eq!(mac["url"], format!("{}/files/{native_mac}", srv.base));
    assert_eq!(w.len(), 5, "{out}");
    assert_eq!(json["unavailable"], serde_json::json!({}));
    // Wheels were read with range requests, never whole.
    let log = srv.log.lock().unwrap().clone();
    let wheel_gets: Vec<&String> = log
        .iter()
        .filter(|p| p.starts_with("/files/") && !p.contains(native_mac))
        .collect();
    assert!(!wheel_gets.is_empty(), "{log:?}");
    assert!(wheel_gets.iter().all(|p| p.contains(" bytes=")), "{log:?}");
    // A version that is not published fails, naming the systems.
    let (code, _, err) = run(&[
        "pkgmeta",
        "wheels",
        "--index",
        &index,
        "--package",
        "apache-tvm-ffi==0.1.15",
        "--system",
        "aarch64-linux",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("no wheel of apache-tvm-ffi==0.1.15 for cp313 on aarch64-linux"),
        "{err}"
    );
    // Published for some systems only: recorded as unavailable there.
    let (code, out, err) = run(&[
        "pkgmeta",
        "wheels",
        "--index",
        &index,
        "--package",
        "dep-native==1.0",
        "--system",
        "x86_64-linux",
        "--system",
        "aarch64-darwin",
    ]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        json["unavailable"],
        serde_json::json!({"dep-native==1.0": ["aarch64-darwin"]})
    );
}

#[test]
fn torch_wheels_from_a_project_index_read_their_build() {
    use kb_core::matrix::Matrix;
    let m = Matrix::get();
    let torch = m.torch.keys().last().unwrap().clone();
    let release = m.torch[&torch].release.clone();
    let d = tempfile::tempdir().unwrap();
    let files = d.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let linux = format!("torch-{release}-cp313-cp313-manylinux_2_28_x86_64.whl");
    let mac = format!("torch-{release}-cp313-cp313-macosx_14_0_arm64.whl");
    let version_py = |cuda: &str| {
        format!("__version__ = '{release}'\ndebug = False\ncuda: Optional[str] = {cuda}\nhip: Optional[str] = None\nxpu: Optional[str] = None\n")
    };
    let lw = zip_stored(&[("torch/version.py", version_py("'13.2'").as_bytes())]);
    let mw = zip_stored(&[("torch/version.py", version_py("None").as_bytes())]);
    std::fs::write(files.join(&linux), &lw).unwrap();
    std::fs::write(files.join(&mac), &mw).unwrap();
    let (l2, m2, hl, hm) = (linux.clone(), mac.clone(), sha256_hex(&lw), sha256_hex(&mw));
    let pages: Arc<PageFn> = Arc::new(move |path: &str| match path {
        "/simple/torch/" => Some(json_page(&[
            (l2.as_str(), Some(hl.clone())),
            (m2.as_str(), Some(hm.clone())),
        ])),
        _ => None,
    });
    let srv = serve(d.path().to_path_buf(), Some(pages));
    let (code, out, err) = run(&[
        "pkgmeta",
        "torch-wheels",
        "--index",
        &format!("{}/simple", srv.base),
        "--torch",
        &torch.to_string(),
        "--system",
        "x86_64-linux",
        "--system",
        "aarch64-darwin",
    ]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    let cells: Vec<String> = json["wheels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            format!(
                "{} {} {}",
                w["backend"].as_str().unwrap(),
                w["toolkit"].as_str().unwrap_or("-"),
                w["system"].as_str().unwrap()
            )
        })
        .collect();
    let mut want = vec!["cuda 13.2 x86_64-linux".to_string()];
    for b in ["cpu", "metal"] {
        if m.entries.iter().any(|e| {
            e.version == torch
                && e.backend.as_str() == b
                && e.systems.iter().any(|s| s == "aarch64-darwin")
        }) {
            want.push(format!("{b} - aarch64-darwin"));
        }
    }
    want.sort();
    let mut got = cells.clone();
    got.sort();
    assert_eq!(got, want);
    // The other cells are listed as served elsewhere, e.g. the CPU wheel.
    let elsewhere = json["not-on-this-index"].to_string();
    assert!(elsewhere.contains("(cpu) on x86_64-linux"), "{elsewhere}");
    // Only version.py was read, with range requests.
    let log = srv.log.lock().unwrap().clone();
    let gets: Vec<&String> = log
        .iter()
        .filter(|p| p.starts_with("/files/torch-"))
        .collect();
    assert!(
        !gets.is_empty() && gets.iter().all(|p| p.contains(" bytes=")),
        "{log:?}"
    );
}

#[test]
fn torch_wheels_follow_the_matrix() {
    use kb_core::matrix::{Matrix, MatrixFramework};
    let m = Matrix::get();
    let torch = m.torch.keys().last().unwrap().clone();
    let release = m.torch[&torch].release.clone();
    // Expected cells: every CUDA toolkit of the newest torch on x86_64-linux.
    let mut toolkits: Vec<String> = m
        .entries
        .iter()
        .filter(|e| {
            e.framework == MatrixFramework::Torch
                && e.version == torch
                && e.backend.as_str() == "cuda"
        })
        .filter(|e| e.systems.iter().any(|s| s == "x86_64-linux"))
        .map(|e| e.toolkit.as_ref().unwrap().to_string())
        .collect();
    toolkits.sort();
    assert!(!toolkits.is_empty());
    let d = tempfile::tempdir().unwrap();
    let rel2 = release.clone();
    let pages: Arc<PageFn> = Arc::new(move |path: &str| {
        // /whl/<compute>/torch/: one wheel per python for x86_64 and aarch64.
        let compute = path.strip_prefix("/whl/")?.strip_suffix("/torch/")?;
        let mut files = Vec::new();
        for py in ["cp312", "cp313"] {
            for arch in ["x86_64", "aarch64"] {
                let f = format!("torch-{rel2}+{compute}-{py}-{py}-manylinux_2_28_{arch}.whl");
                let h = sha256_hex(f.as_bytes());
                files.push((f, Some(h)));
            }
        }
        let refs: Vec<(&str, Option<String>)> =
            files.iter().map(|(f, h)| (f.as_str(), h.clone())).collect();
        Some(wheel_page(&refs))
    });
    let srv = serve(d.path().to_path_buf(), Some(pages));
    let (code, out, err) = run(&[
        "pkgmeta",
        "torch-wheels",
        "--index-base",
        &format!("{}/whl", srv.base),
        "--torch",
        &torch.to_string(),
        "--backend",
        "cuda",
        "--system",
        "x86_64-linux",
    ]);
    assert_eq!(code, 0, "{err}");
    let json: Value = serde_json::from_str(&out).unwrap();
    let w = json["wheels"].as_array().unwrap();
    let got: Vec<String> = w
        .iter()
        .map(|e| e["toolkit"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, toolkits);
    for e in w {
        let tk = e["toolkit"].as_str().unwrap().replace('.', "");
        let f = format!("torch-{release}+cu{tk}-cp313-cp313-manylinux_2_28_x86_64.whl");
        assert_eq!(e["filename"], f);
        assert_eq!(e["sha256"], sha256_hex(f.as_bytes()));
        assert_eq!(e["system"], "x86_64-linux");
        assert_eq!(e["backend"], "cuda");
        assert_eq!(e["torch"], torch.to_string());
        assert_eq!(
            e["url"],
            format!("{}/whl/files/{}", srv.base, f.replace('+', "%2B"))
        );
    }
    // A compute index without the wheel is an error that names the cell.
    let (code, _, err) = run(&[
        "pkgmeta",
        "torch-wheels",
        "--index-base",
        &format!("{}/whl", srv.base),
        "--torch",
        &torch.to_string(),
        "--backend",
        "cpu",
        "--system",
        "aarch64-darwin",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("on aarch64-darwin"), "{err}");
}
