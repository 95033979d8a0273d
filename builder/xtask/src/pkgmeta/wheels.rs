//! Wheels from PEP 503 ("simple") indexes: PyPI and the PyTorch indexes.
//! Records URL and sha256 of the wheel that fits each Nix system, for the
//! Nix package sets (`pkgs/torch/wheels.json`, `pkgs/python/wheels.json`).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde::Serialize;
use serde_json::Value;

use super::markers::{self, Env};
use super::{
    fetch_error, fetch_sha256, join_url, open_with, percent_decode, remote_zip, MetaError,
    TorchWheelArgs, WheelArgs,
};
use kb_core::config::Backend;
use kb_core::matrix::{compute_tag, Matrix, MatrixFramework};

/// One `<a>` of an index page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Absolute URL without fragment.
    pub url: String,
    /// File name (percent-decoded last path segment).
    pub filename: String,
    /// sha256 from a `#sha256=` fragment.
    pub sha256: Option<String>,
    pub yanked: bool,
}

fn html_unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find(';').filter(|&e| e <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let ent = &tail[1..end];
        let c = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => ent.strip_prefix('#').and_then(|n| {
                let v = match n.strip_prefix(['x', 'X']) {
                    Some(h) => u32::from_str_radix(h, 16).ok(),
                    None => n.parse().ok(),
                };
                v.and_then(char::from_u32)
            }),
        };
        match c {
            Some(c) => {
                out.push(c);
                rest = &tail[end + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parse the attributes of a tag body (`a href="x" data-yanked`).
fn attributes(tag: &str) -> Vec<(String, Option<String>)> {
    let b = tag.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        if start == i {
            break;
        }
        let name = tag[start..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let s = i + 1;
                let e = tag[s..].find(q as char).map(|k| s + k).unwrap_or(b.len());
                i = (e + 1).min(b.len());
                &tag[s..e]
            } else {
                let s = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                &tag[s..i]
            };
            out.push((name, Some(html_unescape(value))));
        } else {
            out.push((name, None));
        }
    }
    out
}

/// Parse a PEP 503 page: every anchor with its resolved URL and hash.
pub fn parse_simple_page(html: &str, page_url: &str) -> Vec<Link> {
    let lower = html.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut pos = 0;
    while let Some(k) = lower[pos..].find("<a") {
        let start = pos + k + 2;
        pos = start;
        if !lower[start..].starts_with(|c: char| c.is_ascii_whitespace() || c == '>') {
            continue;
        }
        let Some(close) = lower[start..].find('>') else {
            break;
        };
        let attrs = attributes(&html[start..start + close]);
        pos = start + close + 1;
        let Some(href) = attrs
            .iter()
            .find(|(n, _)| n == "href")
            .and_then(|(_, v)| v.clone())
        else {
            continue;
        };
        let yanked = attrs.iter().any(|(n, _)| n == "data-yanked");
        let abs = join_url(page_url, &href);
        let (url, fragment) = match abs.split_once('#') {
            Some((u, f)) => (u.to_string(), Some(f.to_string())),
            None => (abs, None),
        };
        let sha256 = fragment
            .as_deref()
            .and_then(|f| f.strip_prefix("sha256="))
            .filter(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()))
            .map(|h| h.to_ascii_lowercase());
        let path = url.split('?').next().unwrap_or(&url);
        let filename = percent_decode(path.rsplit('/').next().unwrap_or(path));
        out.push(Link {
            url,
            filename,
            sha256,
            yanked,
        });
    }
    out
}

/// Parse a PEP 691 JSON project page (`application/vnd.pypi.simple.v1+json`):
/// each file with its URL and sha256, as the index gives them.
pub fn parse_simple_json(body: &[u8], page_url: &str) -> Result<Vec<Link>, MetaError> {
    let bad = |m: String| MetaError::Parse {
        url: page_url.to_string(),
        message: m,
    };
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let files = v["files"]
        .as_array()
        .ok_or_else(|| bad("no `files` list (not a PEP 691 project page)".into()))?;
    let mut out = Vec::new();
    for f in files {
        let (Some(filename), Some(url)) = (f["filename"].as_str(), f["url"].as_str()) else {
            return Err(bad(format!("file entry without filename/url: {f}")));
        };
        let abs = join_url(page_url, url);
        let url = abs.split('#').next().unwrap_or(&abs).to_string();
        let sha256 = f["hashes"]["sha256"]
            .as_str()
            .filter(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()))
            .map(|h| h.to_ascii_lowercase());
        // `yanked` is false, true, or the reason (a string).
        let yanked = match &f["yanked"] {
            Value::Bool(b) => *b,
            Value::String(_) => true,
            _ => false,
        };
        out.push(Link {
            url,
            filename: filename.to_string(),
            sha256,
            yanked,
        });
    }
    Ok(out)
}

/// The parts of a wheel file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    pub name: String,
    pub version: String,
    pub python: Vec<String>,
    pub abi: Vec<String>,
    pub platform: Vec<String>,
}

pub fn parse_wheel_filename(f: &str) -> Option<WheelName> {
    let stem = f.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    let (name, version, py, abi, plat) = match parts.len() {
        5 => (parts[0], parts[1], parts[2], parts[3], parts[4]),
        6 => (parts[0], parts[1], parts[3], parts[4], parts[5]),
        _ => return None,
    };
    let split = |s: &str| s.split('.').map(|x| x.to_string()).collect::<Vec<_>>();
    Some(WheelName {
        name: normalize(name),
        version: version.to_string(),
        python: split(py),
        abi: split(abi),
        platform: split(plat),
    })
}

/// PEP 503 name normalisation.
pub fn normalize(name: &str) -> String {
    let mut out = String::new();
    let mut sep = false;
    for c in name.chars() {
        if c == '-' || c == '_' || c == '.' {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// How well a wheel fits a CPython (`cp313`) on a Nix system; `None` if it
/// does not fit. Lower is better.
pub fn fit(w: &WheelName, python: &str, system: Option<&str>) -> Option<u32> {
    let minor = |t: &str| -> Option<u32> { t.strip_prefix("cp3")?.parse().ok() };
    let want = minor(python)?;
    // Python / ABI.
    let py_score = if w.python.iter().any(|p| p == python)
        && w.abi
            .iter()
            .any(|a| a == python || a == "none" || a == "abi3")
    {
        0
    } else if w.abi.iter().any(|a| a == "abi3")
        && w.python.iter().any(|p| minor(p).is_some_and(|m| m <= want))
    {
        1
    } else if w.abi.iter().any(|a| a == "none")
        && w.python.iter().any(|p| p == "py3" || p == "py2.py3")
    {
        2
    } else {
        return None;
    };
    // Platform.
    if w.platform.iter().any(|p| p == "any") {
        return Some(py_score);
    }
    let system = system?;
    let (arch, os) = system.split_once('-')?;
    let plat_score = w
        .platform
        .iter()
        .filter_map(|p| match os {
            "linux" => {
                let rest = p.strip_suffix(&format!("_{arch}"))?;
                if rest.starts_with("manylinux") {
                    Some(0)
                } else if rest == "linux" {
                    Some(1)
                } else {
                    None
                }
            }
            "darwin" => {
                let darwin_arch = if arch == "aarch64" { "arm64" } else { arch };
                if p.starts_with("macosx_")
                    && (p.ends_with(&format!("_{darwin_arch}")) || p.ends_with("_universal2"))
                {
                    Some(0)
                } else {
                    None
                }
            }
            _ => None,
        })
        .min()?;
    Some(py_score * 10 + plat_score)
}

/// A recorded wheel.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct WheelEntry {
    pub name: String,
    pub version: String,
    /// `None` for pure-Python wheels that fit every system.
    pub system: Option<String>,
    pub filename: String,
    pub url: String,
    pub sha256: String,
    /// Names of the runtime requirements (wheel `METADATA`, markers evaluated
    /// for this system and Python, no extras); `None` where not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requires: Option<Vec<String>>,
}

/// Pick the best wheel among `links` for one system; versions are matched
/// exactly or by public version plus one of the accepted local labels.
pub fn pick(
    links: &[Link],
    name: &str,
    version: &str,
    locals: &[Option<&str>],
    python: &str,
    system: Option<&str>,
) -> Option<(Link, WheelName)> {
    let name = normalize(name);
    links
        .iter()
        .filter(|l| !l.yanked)
        .filter_map(|l| parse_wheel_filename(&l.filename).map(|w| (l, w)))
        .filter(|(_, w)| w.name == name)
        .filter(|(_, w)| {
            let (public, local) = match w.version.split_once('+') {
                Some((p, l)) => (p, Some(l)),
                None => (w.version.as_str(), None),
            };
            if locals.is_empty() {
                w.version == version
            } else {
                public == version && locals.contains(&local)
            }
        })
        .filter_map(|(l, w)| fit(&w, python, system).map(|s| (s, l, w)))
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.filename.cmp(&b.1.filename)))
        .map(|(_, l, w)| (l.clone(), w))
}

fn entry(link: Link, w: WheelName, system: Option<&str>) -> Result<WheelEntry, MetaError> {
    let sha256 = match link.sha256.clone() {
        Some(h) => h,
        None => {
            eprintln!("{}: index gives no sha256; downloading", link.filename);
            fetch_sha256(&link.url)?.0
        }
    };
    let pure = w.platform.iter().any(|p| p == "any");
    Ok(WheelEntry {
        name: w.name,
        version: w.version,
        system: if pure {
            None
        } else {
            system.map(|s| s.to_string())
        },
        filename: link.filename,
        url: link.url,
        sha256,
        requires: None,
    })
}

/// Read one file of a remote wheel (range requests; see `remote_zip`).
pub fn wheel_member(url: &str, want: &dyn Fn(&str) -> bool) -> Result<(String, String), MetaError> {
    match remote_zip::read_member(url, want)? {
        Some((name, bytes)) => Ok((name, String::from_utf8_lossy(&bytes).into_owned())),
        None => Err(fetch_error(url, "the wheel lacks the member looked for")),
    }
}

/// The `Requires-Dist` lines of a wheel's `METADATA`.
pub fn requires_dist(url: &str) -> Result<Vec<String>, MetaError> {
    let (_, text) = wheel_member(url, &|n| {
        n.split_once('/')
            .is_some_and(|(d, f)| d.ends_with(".dist-info") && f == "METADATA")
    })?;
    // Headers (RFC 822: continuation lines start with white space, and may
    // look blank) end at the first empty line; the description follows.
    Ok(text
        .lines()
        .take_while(|l| !l.trim_end_matches('\r').is_empty())
        .filter_map(|l| l.strip_prefix("Requires-Dist:"))
        .map(|v| v.trim().to_string())
        .collect())
}

/// Index pages fetched once per run.
#[derive(Default)]
struct Pages(BTreeMap<String, Vec<Link>>);

impl Pages {
    /// The files of a project page: PEP 691 JSON when the index offers it
    /// (asked for with `Accept`), PEP 503 HTML otherwise.
    fn get(&mut self, url: &str) -> Result<&[Link], MetaError> {
        if !self.0.contains_key(url) {
            let o = open_with(
                url,
                &[(
                    "Accept",
                    "application/vnd.pypi.simple.v1+json, text/html;q=0.1",
                )],
            )?;
            let json_type = o
                .content_type
                .as_deref()
                .is_some_and(|t| t.contains("vnd.pypi.simple.v1+json"));
            let mut body = Vec::new();
            o.body
                .take(256 << 20)
                .read_to_end(&mut body)
                .map_err(|e| fetch_error(url, e))?;
            let sniffed_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
            let links = if json_type || sniffed_json {
                parse_simple_json(&body, url)?
            } else {
                parse_simple_page(&String::from_utf8_lossy(&body), url)
            };
            self.0.insert(url.to_string(), links);
        }
        Ok(&self.0[url])
    }
}

fn page_url(index: &str, name: &str) -> String {
    format!("{}/{}/", index.trim_end_matches('/'), normalize(name))
}

fn check_python(python: &str) -> Result<(), MetaError> {
    match python.strip_prefix("cp3").map(|m| m.parse::<u32>()) {
        Some(Ok(_)) => Ok(()),
        _ => Err(MetaError::Resolve(format!(
            "--python `{python}`: expected a CPython tag such as `cp313`"
        ))),
    }
}

fn env_for(python: &str, system: &str) -> Env {
    let minor = python.strip_prefix("cp3").unwrap_or("");
    Env {
        python_version: format!("3.{minor}"),
        system: system.to_string(),
    }
}

/// `pkgmeta wheels`: the wheel of each `NAME==VERSION` for every system, with
/// the names of its runtime requirements. Requirements pinned with `==` (as
/// `nvidia-cutlass-dsl` pins its native libraries) are followed and recorded
/// too; unpinned ones are left to the consumer (the Nix layer takes them from
/// nixpkgs). A package without a wheel for some systems is recorded under
/// `unavailable`; one without a wheel for any system is an error.
pub fn generate(a: &WheelArgs) -> Result<Value, MetaError> {
    check_python(&a.python)?;
    let systems: Vec<String> = if a.systems.is_empty() {
        Matrix::get().systems.clone()
    } else {
        a.systems.clone()
    };
    let mut pages = Pages::default();
    let mut wheels: Vec<WheelEntry> = Vec::new();
    let mut unavailable: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // (name, version) -> systems it is needed on; processed in order.
    let mut queue: Vec<(String, String, BTreeSet<String>)> = Vec::new();
    for spec in &a.packages {
        let Some((name, version)) = spec.split_once("==") else {
            return Err(MetaError::Resolve(format!(
                "--package `{spec}`: expected NAME==VERSION"
            )));
        };
        queue.push((
            normalize(name.trim()),
            version.trim().to_string(),
            systems.iter().cloned().collect(),
        ));
    }
    let mut done: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut requires_cache: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut pure: BTreeSet<String> = BTreeSet::new();
    while let Some((name, version, want)) = queue.pop() {
        let seen = done.entry((name.clone(), version.clone())).or_default();
        let todo: Vec<String> = want.difference(seen).cloned().collect();
        if todo.is_empty() {
            continue;
        }
        seen.extend(todo.iter().cloned());
        let url = page_url(&a.index, &name);
        let links = pages.get(&url)?.to_vec();
        let mut found = 0;
        for s in &todo {
            let Some((l, w)) = pick(&links, &name, &version, &[], &a.python, Some(s)) else {
                unavailable
                    .entry(format!("{name}=={version}"))
                    .or_default()
                    .insert(s.clone());
                continue;
            };
            found += 1;
            let lines = match requires_cache.get(&l.url) {
                Some(r) => r.clone(),
                None => {
                    let r = requires_dist(&l.url)?;
                    requires_cache.insert(l.url.clone(), r.clone());
                    r
                }
            };
            let env = env_for(&a.python, s);
            let mut names = Vec::new();
            for line in &lines {
                let req = markers::requirement(line, &env)
                    .map_err(|m| fetch_error(&l.url, format!("METADATA: {m}")))?;
                let Some(req) = req else { continue };
                if let Some(v) = req.pinned() {
                    queue.push((req.name.clone(), v.to_string(), [s.clone()].into()));
                }
                if !names.contains(&req.name) {
                    names.push(req.name);
                }
            }
            names.sort();
            let mut e = entry(l, w, Some(s))?;
            e.requires = Some(names);
            if e.system.is_none() {
                // Pure wheel: one entry for all systems unless its
                // requirements differ between systems (merged below).
                pure.insert(e.filename.clone());
                e.system = Some(s.clone());
            }
            wheels.push(e);
        }
        if found == 0 && !todo.is_empty() && seen.len() == todo.len() {
            return Err(MetaError::Resolve(format!(
                "{url}: no wheel of {name}=={version} for {} on {}",
                a.python,
                todo.join(", ")
            )));
        }
    }
    for f in &pure {
        let same: Vec<&WheelEntry> = wheels.iter().filter(|w| &w.filename == f).collect();
        if same.windows(2).all(|p| p[0].requires == p[1].requires) {
            let mut one = same[0].clone();
            one.system = None;
            wheels.retain(|w| &w.filename != f);
            wheels.push(one);
        }
    }
    wheels.sort_by(|x, y| (&x.name, &x.version, &x.system).cmp(&(&y.name, &y.version, &y.system)));
    wheels.dedup();
    let unavailable: BTreeMap<String, Vec<String>> = unavailable
        .into_iter()
        .map(|(k, v)| (k, v.into_iter().collect()))
        .collect();
    Ok(serde_json::json!({
        "schema": 1,
        "generated-by": "cargo xtask pkgmeta wheels",
        "index": a.index.trim_end_matches('/'),
        "python": a.python,
        "wheels": wheels,
        "unavailable": unavailable,
    }))
}

/// A torch wheel for one matrix cell.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TorchWheel {
    pub torch: String,
    pub backend: Backend,
    pub toolkit: Option<String>,
    pub system: String,
    #[serde(flatten)]
    pub wheel: WheelEntry,
}

/// The PyTorch index directory and local version label for a compute backend.
pub fn torch_index(
    backend: Backend,
    toolkit: Option<&str>,
    darwin: bool,
) -> (String, Option<String>) {
    match (backend, toolkit) {
        (Backend::Cuda, Some(t)) => {
            let tag = format!("cu{}", t.replace('.', ""));
            (tag.clone(), Some(tag))
        }
        (Backend::Rocm, Some(t)) => {
            let tag = format!("rocm{t}");
            (tag.clone(), Some(tag))
        }
        (Backend::Xpu, _) => ("xpu".into(), Some("xpu".into())),
        // macOS wheels (cpu and metal/MPS) carry no local version label.
        _ if darwin => ("cpu".into(), None),
        _ => ("cpu".into(), Some("cpu".into())),
    }
}

/// What a torch wheel was built for, from its `torch/version.py`
/// (`cuda = '13.2'`, `hip = None`, `xpu = None`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TorchBuild {
    pub cuda: Option<String>,
    pub hip: Option<String>,
    pub xpu: Option<String>,
}

pub fn parse_torch_version_py(text: &str) -> TorchBuild {
    let field = |name: &str| -> Option<String> {
        text.lines().find_map(|l| {
            let rest = l.trim().strip_prefix(name)?;
            // `cuda = '13.2'` or `cuda: Optional[str] = '13.2'`
            let rest = rest.trim_start();
            if !(rest.starts_with('=') || rest.starts_with(':')) {
                return None;
            }
            let v = rest.rsplit('=').next()?.trim();
            let v = v.trim_matches(|c| c == '\'' || c == '"');
            (v != "None" && !v.is_empty()).then(|| v.to_string())
        })
    };
    TorchBuild {
        cuda: field("cuda"),
        hip: field("hip"),
        xpu: field("xpu"),
    }
}

/// Whether a wheel built as `b` serves a matrix cell on `system`.
pub fn serves(b: &TorchBuild, backend: Backend, toolkit: Option<&str>, system: &str) -> bool {
    let darwin = system.ends_with("-darwin");
    match backend {
        // macOS wheels carry CPU and MPS (Metal) support.
        Backend::Cpu | Backend::Metal if darwin => b.cuda.is_none() && b.hip.is_none(),
        Backend::Cpu => b.cuda.is_none() && b.hip.is_none() && b.xpu.is_none(),
        Backend::Cuda => b.cuda.as_deref() == toolkit,
        Backend::Rocm => b
            .hip
            .as_deref()
            .zip(toolkit)
            .is_some_and(|(h, t)| h == t || h.starts_with(&format!("{t}."))),
        Backend::Xpu => b.xpu.is_some(),
        _ => false,
    }
}

pub fn generate_torch(a: &TorchWheelArgs) -> Result<Value, MetaError> {
    check_python(&a.python)?;
    let m = Matrix::get();
    let mut pages = Pages::default();
    let mut builds: BTreeMap<String, TorchBuild> = BTreeMap::new();
    let mut out = Vec::new();
    let mut missing = Vec::new();
    let mut elsewhere = Vec::new();
    for e in m
        .entries
        .iter()
        .filter(|e| e.framework == MatrixFramework::Torch)
    {
        let torch = e.version.to_string();
        if !a.torch.is_empty() && !a.torch.contains(&torch) {
            continue;
        }
        if !a.backends.is_empty() && !a.backends.iter().any(|b| b == e.backend.as_str()) {
            continue;
        }
        let release = &m.torch[&e.version].release;
        let toolkit = e.toolkit.as_ref().map(|t| t.to_string());
        for system in e
            .systems
            .iter()
            .filter(|s| a.systems.is_empty() || a.systems.contains(s))
        {
            let cell = format!(
                "torch {release} ({}) on {system}",
                compute_tag(e.backend, e.toolkit.as_ref())
            );
            if let Some(index) = &a.index {
                // One project page; the wheel says what it was built for.
                let url = page_url(index, "torch");
                let links = pages.get(&url)?.to_vec();
                let Some((l, w)) = pick(&links, "torch", release, &[None], &a.python, Some(system))
                else {
                    elsewhere.push(cell);
                    continue;
                };
                let b = match builds.get(&l.url) {
                    Some(b) => b.clone(),
                    None => {
                        let (_, text) = wheel_member(&l.url, &|n| n == "torch/version.py")?;
                        let b = parse_torch_version_py(&text);
                        builds.insert(l.url.clone(), b.clone());
                        b
                    }
                };
                if serves(&b, e.backend, toolkit.as_deref(), system) {
                    out.push(TorchWheel {
                        torch: torch.clone(),
                        backend: e.backend,
                        toolkit: toolkit.clone(),
                        system: system.clone(),
                        wheel: entry(l, w, Some(system))?,
                    });
                } else {
                    elsewhere.push(cell);
                }
                continue;
            }
            let darwin = system.ends_with("-darwin");
            let (dir, local) = torch_index(e.backend, toolkit.as_deref(), darwin);
            let url = format!("{}/{dir}/torch/", a.index_base.trim_end_matches('/'));
            let links = pages.get(&url)?.to_vec();
            match pick(
                &links,
                "torch",
                release,
                &[local.as_deref()],
                &a.python,
                Some(system),
            ) {
                Some((l, w)) => out.push(TorchWheel {
                    torch: torch.clone(),
                    backend: e.backend,
                    toolkit: toolkit.clone(),
                    system: system.clone(),
                    wheel: entry(l, w, Some(system))?,
                }),
                None => missing.push(format!(
                    "torch {release}{} ({}) for {} on {system} (looked in {url})",
                    local
                        .as_deref()
                        .map(|l| format!("+{l}"))
                        .unwrap_or_default(),
                    compute_tag(e.backend, e.toolkit.as_ref()),
                    a.python
                )),
            }
        }
    }
    if !missing.is_empty() {
        return Err(MetaError::Resolve(format!(
            "no wheel found for:\n  {}\nthe matrix (data/matrix.toml) may name a combination PyTorch does not publish",
            missing.join("\n  ")
        )));
    }
    if a.index.is_some() && out.is_empty() {
        return Err(MetaError::Resolve(format!(
            "{}: serves none of the selected matrix cells",
            a.index.as_deref().unwrap_or_default()
        )));
    }
    out.sort_by(|x, y| {
        (&x.torch, x.backend.as_str(), &x.toolkit, &x.system).cmp(&(
            &y.torch,
            y.backend.as_str(),
            &y.toolkit,
            &y.system,
        ))
    });
    Ok(match &a.index {
        Some(index) => serde_json::json!({
            "schema": 1,
            "generated-by": "cargo xtask pkgmeta torch-wheels --index",
            "index": index.trim_end_matches('/'),
            "python": a.python,
            "wheels": out,
            "not-on-this-index": elsewhere,
        }),
        None => serde_json::json!({
            "schema": 1,
            "generated-by": "cargo xtask pkgmeta torch-wheels",
            "index-base": a.index_base.trim_end_matches('/'),
            "python": a.python,
            "wheels": out,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = r#"<!DOCTYPE html><html><body><h1>Links for torch</h1>
<a href="/whl/cu132/torch-2.15.0%2Bcu132-cp313-cp313-manylinux_2_28_x86_64.whl#sha256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" data-requires-python="&gt;=3.10">torch-2.15.0+cu132-cp313-cp313-manylinux_2_28_x86_64.whl</a><br/>
<A HREF='../../cu132/torch-2.15.0%2Bcu132-cp313-cp313t-manylinux_2_28_x86_64.whl'>t</A>
<a href="torch-2.15.0%2Bcu132-cp312-cp312-manylinux_2_28_aarch64.whl">x</a>
<a data-yanked="" href="torch-2.15.0%2Bcu132-cp313-cp313-manylinux_2_28_aarch64.whl">y</a>
<a href="torch-2.14.1%2Bcu132-cp313-cp313-linux_aarch64.whl#md5=00">z</a>
<abbr>not a link</abbr>
</body></html>"#;

    #[test]
    fn simple_pages_parse() {
        let links = parse_simple_page(PAGE, "https://download.pytorch.org/whl/cu132/torch/");
        assert_eq!(links.len(), 5);
        assert_eq!(
            links[0].url,
            "https://download.pytorch.org/whl/cu132/torch-2.15.0%2Bcu132-cp313-cp313-manylinux_2_28_x86_64.whl"
        );
        assert_eq!(
            links[0].filename,
            "torch-2.15.0+cu132-cp313-cp313-manylinux_2_28_x86_64.whl"
        );
        assert_eq!(links[0].sha256.as_deref(), Some(&"a".repeat(64)[..]));
        assert_eq!(links[1].url, "https://download.pytorch.org/whl/cu132/torch-2.15.0%2Bcu132-cp313-cp313t-manylinux_2_28_x86_64.whl");
        assert!(links[1].sha256.is_none());
        assert!(links[3].yanked);
        assert!(links[4].sha256.is_none());
    }

    #[test]
    fn wheel_selection() {
        let links = parse_simple_page(PAGE, "https://x/whl/cu132/torch/");
        let (l, _) = pick(
            &links,
            "torch",
            "2.15.0",
            &[Some("cu132")],
            "cp313",
            Some("x86_64-linux"),
        )
        .unwrap();
        assert!(l.filename.contains("cp313-cp313-manylinux_2_28_x86_64"));
        // Free-threaded, yanked and other-python wheels are not picked.
        assert!(pick(
            &links,
            "torch",
            "2.15.0",
            &[Some("cu132")],
            "cp313",
            Some("aarch64-linux")
        )
        .is_none());
        assert!(pick(
            &links,
            "torch",
            "2.15.0",
            &[Some("cu130")],
            "cp313",
            Some("x86_64-linux")
        )
        .is_none());
        assert!(pick(
            &links,
            "torch",
            "2.14.1",
            &[Some("cu132")],
            "cp313",
            Some("aarch64-linux")
        )
        .is_some());
        assert!(pick(
            &links,
            "torch",
            "2.15.0",
            &[Some("cu132")],
            "cp313",
            Some("aarch64-darwin")
        )
        .is_none());
    }

    #[test]
    fn wheel_names_and_fit() {
        let w = parse_wheel_filename("kernels-0.17.2-py3-none-any.whl").unwrap();
        assert_eq!(w.name, "kernels");
        assert_eq!(fit(&w, "cp313", None), Some(2));
        let w = parse_wheel_filename("apache_tvm_ffi-0.1.15.post2-cp39-abi3-macosx_11_0_arm64.whl")
            .unwrap();
        assert_eq!(w.name, "apache-tvm-ffi");
        assert_eq!(fit(&w, "cp313", Some("aarch64-darwin")), Some(10));
        assert_eq!(fit(&w, "cp313", Some("x86_64-linux")), None);
        let w = parse_wheel_filename("torch-2.15.0-1-cp313-none-macosx_11_0_arm64.whl").unwrap();
        assert_eq!(w.version, "2.15.0");
        assert_eq!(fit(&w, "cp313", Some("aarch64-darwin")), Some(0));
        assert!(parse_wheel_filename("torch-2.15.0.tar.gz").is_none());
        assert_eq!(normalize("Apache_TVM.ffi"), "apache-tvm-ffi");
    }

    #[test]
    fn torch_index_names() {
        assert_eq!(
            torch_index(Backend::Cuda, Some("13.2"), false),
            ("cu132".into(), Some("cu132".into()))
        );
        assert_eq!(
            torch_index(Backend::Rocm, Some("7.1"), false),
            ("rocm7.1".into(), Some("rocm7.1".into()))
        );
        assert_eq!(torch_index(Backend::Xpu, Some("2026.0.0"), false).0, "xpu");
        assert_eq!(
            torch_index(Backend::Metal, None, true),
            ("cpu".into(), None)
        );
        assert_eq!(
            torch_index(Backend::Cpu, None, false),
            ("cpu".into(), Some("cpu".into()))
        );
    }

    #[test]
    fn entities_unescape() {
        assert_eq!(
            html_unescape("a&amp;b&#x2B;&#43;&lt;&bogus;&"),
            "a&b++<&bogus;&"
        );
    }
}
