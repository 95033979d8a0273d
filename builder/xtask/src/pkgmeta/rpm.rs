//! Yum/DNF repository metadata: `repodata/repomd.xml` -> primary metadata ->
//! dependency closure -> package-set JSON for `pkgs/*/metadata/`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader, Read};

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use serde::Serialize;
use serde_json::Value;

use super::{fetch, fetch_sha256, join_url, sha256_hex, MetaError, RpmArgs};

/// One `<rpm:entry>` of provides/requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    /// `EQ`, `LT`, `LE`, `GT`, `GE`; `None` for an unversioned entry.
    pub flags: Option<String>,
    pub evr: Evr,
}

/// Epoch, version, release. An empty release means "any release".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evr {
    pub epoch: u64,
    pub version: String,
    pub release: String,
}

impl std::fmt::Display for Evr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.epoch > 0 {
            write!(f, "{}:", self.epoch)?;
        }
        write!(f, "{}", self.version)?;
        if !self.release.is_empty() {
            write!(f, "-{}", self.release)?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default)]
pub struct Package {
    pub name: String,
    pub arch: String,
    pub evr: Evr,
    pub checksum_type: String,
    pub checksum: String,
    pub href: String,
    /// `xml:base` of the location, if the repository publishes one.
    pub base: Option<String>,
    pub size: u64,
    pub provides: Vec<Dep>,
    pub requires: Vec<Dep>,
    pub files: Vec<String>,
    /// Index of the repository the package came from.
    pub repo: usize,
}

/// What `repomd.xml` says about the primary metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryRef {
    pub href: String,
    pub checksum_type: String,
    pub checksum: String,
    pub revision: Option<String>,
}

/// rpm's version comparison (`rpmvercmp`): alternating numeric and alphabetic
/// segments, `~` sorts before anything (pre-releases), `^` after the end.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0usize, 0usize);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            match (ca, cb) {
                (None, _) => return Ordering::Less,
                (_, None) => return Ordering::Greater,
                (Some(x), _) if x != b'^' => return Ordering::Greater,
                (_, Some(y)) if y != b'^' => return Ordering::Less,
                _ => {}
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca.is_none() || cb.is_none() {
            break;
        }
        let numeric = a[i].is_ascii_digit();
        let take = |s: &[u8], mut k: usize| {
            let start = k;
            while k < s.len()
                && (if numeric {
                    s[k].is_ascii_digit()
                } else {
                    s[k].is_ascii_alphabetic()
                })
            {
                k += 1;
            }
            (start, k)
        };
        let (sa, ea) = take(a, i);
        let (sb, eb) = take(b, j);
        if sb == eb {
            // Segment types differ: numbers are newer than letters.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut x, mut y) = (&a[sa..ea], &b[sb..eb]);
        if numeric {
            while x.len() > 1 && x[0] == b'0' {
                x = &x[1..];
            }
            while y.len() > 1 && y[0] == b'0' {
                y = &y[1..];
            }
            match x.len().cmp(&y.len()) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        match x.cmp(y) {
            Ordering::Equal => {}
            o => return o,
        }
        i = ea;
        j = eb;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// Compare two EVRs; an empty release on either side is not compared.
pub fn evr_cmp(a: &Evr, b: &Evr) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| rpmvercmp(&a.version, &b.version))
        .then_with(|| {
            if a.release.is_empty() || b.release.is_empty() {
                Ordering::Equal
            } else {
                rpmvercmp(&a.release, &b.release)
            }
        })
}

/// Does a provide satisfy a require (same name assumed)? Unversioned entries
/// on either side match everything, as in rpm.
pub fn satisfies(provide: &Dep, require: &Dep) -> bool {
    let (Some(rf), Some(pf)) = (&require.flags, &provide.flags) else {
        return true;
    };
    // rpm's range overlap: each side is a half-line or point around its EVR.
    let bits = |f: &str| -> (bool, bool, bool) {
        match f {
            "LT" => (true, false, false),
            "LE" => (true, true, false),
            "EQ" => (false, true, false),
            "GE" => (false, true, true),
            "GT" => (false, false, true),
            _ => (false, false, false),
        }
    };
    let (p_lt, p_eq, p_gt) = bits(pf);
    let (r_lt, r_eq, r_gt) = bits(rf);
    match evr_cmp(&provide.evr, &require.evr) {
        Ordering::Less => p_gt || r_lt,
        Ordering::Greater => p_lt || r_gt,
        Ordering::Equal => (p_eq && r_eq) || (p_lt && r_lt) || (p_gt && r_gt),
    }
}

fn parse_err(url: &str, message: impl std::fmt::Display) -> MetaError {
    MetaError::Parse {
        url: url.to_string(),
        message: message.to_string(),
    }
}

fn attr(e: &BytesStart, key: &[u8], url: &str) -> Result<Option<String>, MetaError> {
    for a in e.attributes() {
        let a = a.map_err(|e| parse_err(url, e))?;
        if a.key.as_ref() == key || a.key.local_name().as_ref() == key {
            let v = a.unescape_value().map_err(|e| parse_err(url, e))?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}

/// Resolve an entity reference the XML reader reports separately.
fn entity(name: &[u8]) -> Option<char> {
    match name {
        b"amp" => Some('&'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"quot" => Some('"'),
        b"apos" => Some('\''),
        _ => {
            let s = std::str::from_utf8(name).ok()?.strip_prefix('#')?;
            let n = match s.strip_prefix(['x', 'X']) {
                Some(h) => u32::from_str_radix(h, 16).ok()?,
                None => s.parse().ok()?,
            };
            char::from_u32(n)
        }
    }
}

/// Parse `repomd.xml` for the primary metadata reference.
pub fn parse_repomd(xml: &[u8], url: &str) -> Result<PrimaryRef, MetaError> {
    let mut r = Reader::from_reader(xml);
    r.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut in_primary = false;
    let mut field: Option<&'static str> = None;
    let mut text = String::new();
    let (mut href, mut ctype, mut csum, mut revision) = (None, None, None, None);
    loop {
        match r.read_event_into(&mut buf) {
            Err(e) => return Err(parse_err(url, e)),
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                let name = e.local_name();
                match name.as_ref() {
                    b"data" => in_primary = attr(&e, b"type", url)?.as_deref() == Some("primary"),
                    b"checksum" if in_primary => {
                        ctype = attr(&e, b"type", url)?;
                        field = Some("checksum");
                    }
                    b"revision" => field = Some("revision"),
                    _ => field = None,
                }
                text.clear();
            }
            Ok(Event::Empty(e)) if in_primary && e.local_name().as_ref() == b"location" => {
                href = attr(&e, b"href", url)?;
            }
            Ok(Event::Text(t)) => {
                text.push_str(&t.decode().map_err(|e| parse_err(url, e))?);
            }
            Ok(Event::GeneralRef(g)) => {
                if let Some(c) = entity(&g) {
                    text.push(c);
                }
            }
            Ok(Event::End(e)) => {
                match (field, e.local_name().as_ref()) {
                    (Some("checksum"), b"checksum") => csum = Some(text.trim().to_string()),
                    (Some("revision"), b"revision") => revision = Some(text.trim().to_string()),
                    (_, b"data") => in_primary = false,
                    _ => {}
                }
                field = None;
            }
            _ => {}
        }
        buf.clear();
    }
    match (href, ctype, csum) {
        (Some(href), Some(checksum_type), Some(checksum)) => Ok(PrimaryRef {
            href,
            checksum_type,
            checksum,
            revision,
        }),
        _ => Err(parse_err(
            url,
            "no <data type=\"primary\"> with checksum and location; is this a Yum/DNF repository?",
        )),
    }
}

fn dep_from(e: &BytesStart, url: &str) -> Result<Option<Dep>, MetaError> {
    let Some(name) = attr(e, b"name", url)? else {
        return Ok(None);
    };
    let flags = attr(e, b"flags", url)?;
    let epoch = match attr(e, b"epoch", url)? {
        Some(s) => s
            .parse()
            .map_err(|_| parse_err(url, format!("entry `{name}`: bad epoch `{s}`")))?,
        None => 0,
    };
    Ok(Some(Dep {
        name,
        flags,
        evr: Evr {
            epoch,
            version: attr(e, b"ver", url)?.unwrap_or_default(),
            release: attr(e, b"rel", url)?.unwrap_or_default(),
        },
    }))
}

/// Stream-parse primary metadata (uncompressed XML).
pub fn parse_primary<R: BufRead>(
    input: R,
    url: &str,
    repo: usize,
) -> Result<Vec<Package>, MetaError> {
    let mut r = Reader::from_reader(input);
    r.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut out = Vec::new();
    let mut cur: Option<Package> = None;
    // Which list `rpm:entry` elements belong to.
    let mut list: Option<&'static str> = None;
    let mut field: Option<&'static str> = None;
    let mut text = String::new();
    loop {
        let ev = r
            .read_event_into(&mut buf)
            .map_err(|e| parse_err(url, format!("at byte {}: {e}", r.buffer_position())))?;
        let empty = matches!(ev, Event::Empty(_));
        match ev {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => {
                let local = e.local_name();
                let name = local.as_ref();
                if name == b"package" {
                    if !empty {
                        cur = Some(Package {
                            repo,
                            ..Package::default()
                        });
                    }
                } else if let Some(p) = cur.as_mut() {
                    match name {
                        b"version" => {
                            let epoch = attr(&e, b"epoch", url)?.unwrap_or_default();
                            p.evr = Evr {
                                epoch: if epoch.is_empty() {
                                    0
                                } else {
                                    epoch.parse().map_err(|_| {
                                        parse_err(url, format!("bad epoch `{epoch}`"))
                                    })?
                                },
                                version: attr(&e, b"ver", url)?.unwrap_or_default(),
                                release: attr(&e, b"rel", url)?.unwrap_or_default(),
                            };
                        }
                        b"checksum" => {
                            p.checksum_type = attr(&e, b"type", url)?.unwrap_or_default();
                            field = Some("checksum");
                        }
                        b"location" => {
                            p.href = attr(&e, b"href", url)?.unwrap_or_default();
                            p.base = attr(&e, b"base", url)?;
                        }
                        b"size" => {
                            p.size = attr(&e, b"package", url)?
                                .and_then(|s| s.parse().ok())
                                .unwrap_or(0);
                        }
                        b"name" => field = Some("name"),
                        b"arch" => field = Some("arch"),
                        b"file" => field = Some("file"),
                        b"provides" => list = Some("provides"),
                        b"requires" => list = Some("requires"),
                        b"conflicts" | b"obsoletes" | b"recommends" | b"suggests"
                        | b"supplements" | b"enhances" => list = Some("other"),
                        b"entry" => {
                            if let Some(d) = dep_from(&e, url)? {
                                match list {
                                    Some("provides") => p.provides.push(d),
                                    Some("requires") => p.requires.push(d),
                                    _ => {}
                                }
                            }
                        }
                        _ => {}
                    }
                    if empty && matches!(name, b"provides" | b"requires") {
                        list = None;
                    }
                }
                text.clear();
            }
            Event::Text(t) if field.is_some() => {
                text.push_str(&t.decode().map_err(|e| parse_err(url, e))?);
            }
            Event::GeneralRef(g) if field.is_some() => {
                if let Some(c) = entity(&g) {
                    text.push(c);
                }
            }
            Event::End(e) => {
                let local = e.local_name();
                let name = local.as_ref();
                if let Some(p) = cur.as_mut() {
                    match (field, name) {
                        (Some("name"), b"name") => p.name = text.trim().to_string(),
                        (Some("arch"), b"arch") => p.arch = text.trim().to_string(),
                        (Some("checksum"), b"checksum") => p.checksum = text.trim().to_string(),
                        (Some("file"), b"file") => p.files.push(text.clone()),
                        _ => {}
                    }
                    if matches!(
                        name,
                        b"provides"
                            | b"requires"
                            | b"conflicts"
                            | b"obsoletes"
                            | b"recommends"
                            | b"suggests"
                            | b"supplements"
                            | b"enhances"
                    ) {
                        list = None;
                    }
                }
                field = None;
                if name == b"package" {
                    if let Some(p) = cur.take() {
                        if p.name.is_empty() || p.href.is_empty() {
                            return Err(parse_err(
                                url,
                                format!(
                                    "a <package> lacks a name or location (after `{}`)",
                                    out.last()
                                        .map(|q: &Package| q.name.as_str())
                                        .unwrap_or("start")
                                ),
                            ));
                        }
                        out.push(p);
                    }
                }
            }
            _ => {}
        }
        buf.clear();
    }
    Ok(out)
}

/// Open the primary metadata, checking its checksum and undoing its compression.
fn load_primary(repo_url: &str, repo: usize) -> Result<(PrimaryRef, Vec<Package>), MetaError> {
    let base = format!("{}/", repo_url.trim_end_matches('/'));
    let repomd_url = join_url(&base, "repodata/repomd.xml");
    let repomd = fetch(&repomd_url)?;
    let pref = parse_repomd(&repomd, &repomd_url)?;
    let url = join_url(&base, &pref.href);
    let bytes = fetch(&url)?;
    if pref.checksum_type == "sha256" {
        let got = sha256_hex(&bytes);
        if got != pref.checksum.to_ascii_lowercase() {
            return Err(parse_err(
                &url,
                format!(
                    "sha256 {got} does not match {} recorded in {repomd_url}; the mirror may be mid-sync, retry later",
                    pref.checksum
                ),
            ));
        }
    }
    let reader: Box<dyn Read> = if pref.href.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(&bytes[..]))
    } else if pref.href.ends_with(".xml") {
        Box::new(&bytes[..])
    } else {
        return Err(parse_err(
            &url,
            "unsupported compression (kernel-builder reads .xml and .xml.gz primary metadata); use a mirror that publishes gzip metadata",
        ));
    };
    let packages = parse_primary(BufReader::new(reader), &url, repo)?;
    Ok((pref, packages))
}

/// The output of `pkgmeta rpm`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PackageSet {
    pub schema: u32,
    pub generated_by: &'static str,
    pub arch: String,
    pub repositories: Vec<RepoInfo>,
    pub requested: Vec<String>,
    pub excluded: Vec<String>,
    pub packages: BTreeMap<String, PackageEntry>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct RepoInfo {
    pub url: String,
    pub revision: Option<String>,
    pub primary_sha256: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PackageEntry {
    pub version: String,
    pub release: String,
    pub epoch: u64,
    pub arch: String,
    pub url: String,
    pub sha256: String,
    pub size: u64,
    /// Names of the packages in this set that this package requires.
    pub depends: Vec<String>,
}

fn excluded(name: &str, patterns: &[String]) -> bool {
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == p,
    })
}

/// The dependency resolver over an in-memory package universe.
pub struct Universe {
    pub packages: Vec<Package>,
    by_name: BTreeMap<String, Vec<usize>>,
    by_provide: BTreeMap<String, Vec<usize>>,
    by_file: BTreeMap<String, Vec<usize>>,
}

impl Universe {
    /// Keep packages of `arch` or `noarch`; index names, provides and files.
    pub fn new(all: Vec<Package>, arch: &str) -> Universe {
        let packages: Vec<Package> = all
            .into_iter()
            .filter(|p| p.arch == arch || p.arch == "noarch")
            .collect();
        let mut u = Universe {
            packages,
            by_name: BTreeMap::new(),
            by_provide: BTreeMap::new(),
            by_file: BTreeMap::new(),
        };
        for (i, p) in u.packages.iter().enumerate() {
            u.by_name.entry(p.name.clone()).or_default().push(i);
            for d in &p.provides {
                u.by_provide.entry(d.name.clone()).or_default().push(i);
            }
            for f in &p.files {
                u.by_file.entry(f.clone()).or_default().push(i);
            }
        }
        u
    }

    /// Newest first; an earlier repository wins a tie; then the arch-specific build.
    fn better(&self, a: usize, b: usize) -> Ordering {
        let (pa, pb) = (&self.packages[a], &self.packages[b]);
        evr_cmp(&pb.evr, &pa.evr)
            .then_with(|| rpmvercmp(&pb.evr.release, &pa.evr.release))
            .then_with(|| pa.repo.cmp(&pb.repo))
            .then_with(|| (pa.arch == "noarch").cmp(&(pb.arch == "noarch")))
            .then_with(|| a.cmp(&b))
    }

    fn best_named(&self, name: &str) -> Option<usize> {
        self.by_name
            .get(name)?
            .iter()
            .copied()
            .min_by(|&a, &b| self.better(a, b))
    }

    /// Packages that satisfy a require (not yet restricted to one per name).
    fn providers(&self, req: &Dep) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        if req.name.starts_with('/') {
            out.extend(self.by_file.get(&req.name).into_iter().flatten());
        }
        for &i in self.by_provide.get(&req.name).into_iter().flatten() {
            if self.packages[i]
                .provides
                .iter()
                .any(|p| p.name == req.name && satisfies(p, req))
            {
                out.push(i);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Resolve the closure of `wanted`. Returns the chosen package per name and
    /// the resolved dependency names of each, or every unsatisfiable require.
    pub fn resolve(
        &self,
        wanted: &[String],
        exclude: &[String],
        follow: bool,
    ) -> Result<BTreeMap<String, (usize, BTreeSet<String>)>, MetaError> {
        let mut chosen: BTreeMap<String, (usize, BTreeSet<String>)> = BTreeMap::new();
        let mut queue = VecDeque::new();
        let mut problems = Vec::new();
        for w in wanted {
            match self.best_named(w) {
                Some(i) => {
                    if !chosen.contains_key(w) {
                        chosen.insert(w.clone(), (i, BTreeSet::new()));
                        queue.push_back(w.clone());
                    }
                }
                None => {
                    let mut scored: Vec<(f64, &str)> = self
                        .by_name
                        .keys()
                        .map(|k| (strsim::jaro_winkler(k, w), k.as_str()))
                        .filter(|(s, _)| *s > 0.85)
                        .collect();
                    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
                    let near: Vec<&str> = scored.iter().take(5).map(|(_, k)| *k).collect();
                    problems.push(if near.is_empty() {
                        format!("package `{w}` is not in the repositories")
                    } else {
                        format!(
                            "package `{w}` is not in the repositories (similar: {})",
                            near.join(", ")
                        )
                    });
                }
            }
        }
        if !follow {
            queue.clear();
        }
        while let Some(name) = queue.pop_front() {
            let idx = chosen[&name].0;
            let pkg = &self.packages[idx];
            let mut deps = BTreeSet::new();
            for req in &pkg.requires {
                if req.name.starts_with("rpmlib(") || req.name.starts_with('(') {
                    // rpm-internal features; rich (boolean) deps are not followed.
                    continue;
                }
                // A package that provides what it requires needs nothing else.
                if pkg
                    .provides
                    .iter()
                    .any(|p| p.name == req.name && satisfies(p, req))
                    || pkg.files.contains(&req.name)
                {
                    continue;
                }
                let providers = self.providers(req);
                if providers
                    .iter()
                    .any(|&i| excluded(&self.packages[i].name, exclude))
                    || excluded(&req.name, exclude)
                {
                    continue;
                }
                if let Some(&i) = providers
                    .iter()
                    .find(|&&i| chosen.get(&self.packages[i].name).is_some_and(|c| c.0 == i))
                {
                    deps.insert(self.packages[i].name.clone());
                    continue;
                }
                // Prefer a provider whose name is the require itself, then the best version.
                let pick = providers.iter().copied().min_by(|&a, &b| {
                    let na = self.packages[a].name == req.name;
                    let nb = self.packages[b].name == req.name;
                    nb.cmp(&na).then_with(|| self.better(a, b))
                });
                match pick {
                    Some(i) => {
                        let pname = self.packages[i].name.clone();
                        if let Some(existing) = chosen.get(&pname) {
                            // Another build of an already chosen name would conflict.
                            let e = &self.packages[existing.0];
                            problems.push(format!(
                                "`{}` requires `{}{}`, which the chosen {}-{} does not satisfy",
                                pkg.name,
                                req.name,
                                req.flags
                                    .as_ref()
                                    .map(|f| format!(" {f} {}", req.evr))
                                    .unwrap_or_default(),
                                e.name,
                                e.evr
                            ));
                            continue;
                        }
                        deps.insert(pname.clone());
                        chosen.insert(pname.clone(), (i, BTreeSet::new()));
                        queue.push_back(pname);
                    }
                    None => problems.push(format!(
                        "`{}` requires `{}{}`, which no package provides (add the repository that has it, or `--exclude` a package to accept it from the system)",
                        pkg.name,
                        req.name,
                        req.flags
                            .as_ref()
                            .map(|f| format!(" {f} {}", req.evr))
                            .unwrap_or_default()
                    )),
                }
            }
            deps.remove(&name);
            chosen.get_mut(&name).expect("chosen").1 = deps;
        }
        if problems.is_empty() {
            Ok(chosen)
        } else {
            problems.dedup();
            Err(MetaError::Resolve(format!(
                "cannot resolve the package set:\n  {}",
                problems.join("\n  ")
            )))
        }
    }
}

pub fn generate(a: &RpmArgs) -> Result<Value, MetaError> {
    let mut all = Vec::new();
    let mut repos = Vec::new();
    for (i, url) in a.repos.iter().enumerate() {
        let (pref, pkgs) = load_primary(url, i)?;
        eprintln!("{url}: {} packages", pkgs.len());
        repos.push(RepoInfo {
            url: url.trim_end_matches('/').to_string(),
            revision: pref.revision,
            primary_sha256: if pref.checksum_type == "sha256" {
                pref.checksum.to_ascii_lowercase()
            } else {
                String::new()
            },
        });
        all.extend(pkgs);
    }
    let universe = Universe::new(all, &a.arch);
    let chosen = universe.resolve(&a.packages, &a.exclude, !a.no_deps)?;
    let mut packages = BTreeMap::new();
    for (name, (idx, deps)) in chosen {
        let p = &universe.packages[idx];
        let base = match &p.base {
            Some(b) => format!("{}/", b.trim_end_matches('/')),
            None => format!("{}/", a.repos[p.repo].trim_end_matches('/')),
        };
        let url = join_url(&base, &p.href);
        let sha256 = if p.checksum_type == "sha256" && p.checksum.len() == 64 {
            p.checksum.to_ascii_lowercase()
        } else {
            eprintln!(
                "{name}: repository records a {} checksum; downloading to compute sha256",
                if p.checksum_type.is_empty() {
                    "missing"
                } else {
                    &p.checksum_type
                }
            );
            fetch_sha256(&url)?.0
        };
        packages.insert(
            name,
            PackageEntry {
                version: p.evr.version.clone(),
                release: p.evr.release.clone(),
                epoch: p.evr.epoch,
                arch: p.arch.clone(),
                url,
                sha256,
                size: p.size,
                depends: deps.into_iter().collect(),
            },
        );
    }
    let mut requested = a.packages.clone();
    requested.sort();
    requested.dedup();
    let mut excluded = a.exclude.clone();
    excluded.sort();
    excluded.dedup();
    let set = PackageSet {
        schema: 1,
        generated_by: "cargo xtask pkgmeta rpm",
        arch: a.arch.clone(),
        repositories: repos,
        requested,
        excluded,
        packages,
    };
    Ok(serde_json::to_value(set).expect("serializes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpmvercmp_matches_rpm() {
        use Ordering::*;
        // Cases from rpm's own test suite (rpmvercmp.at).
        let cases = [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("2.0.1a", "2.0.1", Greater),
            ("5.5p1", "5.5p2", Less),
            ("5.5p10", "5.5p1", Greater),
            ("10xyz", "10.1xyz", Less),
            ("xyz10", "xyz10.1", Less),
            ("xyz.4", "8", Less),
            ("5.5p1", "5.5.p1", Equal),
            ("6.0.rc1", "6.0", Greater),
            ("10b2", "10a1", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("1.0~rc1~git123", "1.0~rc1", Less),
            ("1.0^", "1.0", Greater),
            ("1.0^git1", "1.0^git2", Less),
            ("1.0^git1", "1.01", Less),
            ("1.0~rc1^git1", "1.0~rc1", Greater),
            ("1.010", "1.9", Greater),
            ("1.05", "1.5", Equal),
            ("a", "1", Less),
            ("14.2.1", "14.10", Less),
        ];
        for (a, b, want) in cases {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
            assert_eq!(rpmvercmp(b, a), want.reverse(), "{b} vs {a}");
        }
    }

    fn dep(name: &str, flags: Option<&str>, v: &str, r: &str) -> Dep {
        Dep {
            name: name.into(),
            flags: flags.map(|s| s.into()),
            evr: Evr {
                epoch: 0,
                version: v.into(),
                release: r.into(),
            },
        }
    }

    #[test]
    fn versioned_requires() {
        let p = dep("x", Some("EQ"), "2.28", "225.el8");
        assert!(satisfies(&p, &dep("x", None, "", "")));
        assert!(satisfies(&p, &dep("x", Some("GE"), "2.28", "")));
        assert!(satisfies(&p, &dep("x", Some("EQ"), "2.28", "")));
        assert!(satisfies(&p, &dep("x", Some("EQ"), "2.28", "225.el8")));
        assert!(!satisfies(&p, &dep("x", Some("EQ"), "2.28", "226.el8")));
        assert!(!satisfies(&p, &dep("x", Some("GT"), "2.28", "")));
        assert!(satisfies(&p, &dep("x", Some("LT"), "2.29", "")));
        assert!(!satisfies(&p, &dep("x", Some("LT"), "2.28", "")));
        let ge = dep("x", Some("GE"), "3", "");
        assert!(satisfies(&ge, &dep("x", Some("GE"), "1", "")));
        assert!(satisfies(&ge, &dep("x", Some("LE"), "3", "")));
        assert!(!satisfies(&ge, &dep("x", Some("LT"), "3", "")));
        assert!(!satisfies(&ge, &dep("x", Some("EQ"), "2", "")));
        let unversioned = dep("x", None, "", "");
        assert!(satisfies(&unversioned, &dep("x", Some("GE"), "9", "")));
    }

    #[test]
    fn repomd_and_primary_parse() {
        let repomd = br#"<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1700000000</revision>
  <data type="filelists"><checksum type="sha256">aa</checksum><location href="repodata/f.xml.gz"/></data>
  <data type="primary">
    <checksum type="sha256">BB</checksum>
    <open-checksum type="sha256">cc</open-checksum>
    <location href="repodata/bb-primary.xml.gz"/>
  </data>
</repomd>"#;
        let p = parse_repomd(repomd, "u").unwrap();
        assert_eq!(p.href, "repodata/bb-primary.xml.gz");
        assert_eq!(p.checksum, "BB");
        assert_eq!(p.revision.as_deref(), Some("1700000000"));
        assert!(parse_repomd(b"<html/>", "u").is_err());

        let primary = br#"<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">
<package type="rpm">
  <name>a&amp;b</name><arch>x86_64</arch>
  <version epoch="1" ver="2.0" rel="3.el8"/>
  <checksum type="sha256" pkgid="YES">ABCDEF</checksum>
  <summary>s &lt;x&gt;</summary>
  <size package="10" installed="20" archive="30"/>
  <location xml:base="https://mirror.example/x" href="Packages/a.rpm"/>
  <format>
    <rpm:provides><rpm:entry name="a" flags="EQ" epoch="1" ver="2.0" rel="3.el8"/><rpm:entry name="liba.so.1()(64bit)"/></rpm:provides>
    <rpm:requires><rpm:entry name="b" flags="GE" ver="1"/><rpm:entry name="/bin/sh" pre="1"/></rpm:requires>
    <rpm:obsoletes><rpm:entry name="old-a"/></rpm:obsoletes>
    <file>/usr/bin/a</file>
  </format>
</package>
</metadata>"#;
        let pk = parse_primary(&primary[..], "u", 0).unwrap();
        assert_eq!(pk.len(), 1);
        let a = &pk[0];
        assert_eq!(a.name, "a&b");
        assert_eq!(a.evr.to_string(), "1:2.0-3.el8");
        assert_eq!(a.checksum, "ABCDEF");
        assert_eq!(a.base.as_deref(), Some("https://mirror.example/x"));
        assert_eq!(a.size, 10);
        assert_eq!(a.provides.len(), 2);
        assert_eq!(a.requires.len(), 2);
        assert_eq!(a.requires[0].flags.as_deref(), Some("GE"));
        assert_eq!(a.files, vec!["/usr/bin/a"]);
        assert!(parse_primary(
            &b"<metadata><package><arch>x</arch></package></metadata>"[..],
            "u",
            0
        )
        .is_err());
    }
}
