//! A small stand-in for the Hugging Face Hub on 127.0.0.1, speaking the HTTP endpoints the upload
//! client uses, keeping repositories as in-memory trees, and recording every request and the
//! file bytes it received. A second listener plays the large-file storage (another origin, like
//! S3 behind the real Hub), so tests can check that the token never goes there.
//!
//! Faults can be injected per request (`METHOD` + path substring): an HTTP status, a delay
//! longer than the client timeout, or "apply, then lose the answer".

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{json, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn git_oid(data: &[u8]) -> String {
    let mut h = Sha1::new();
    h.update(format!("blob {}\0", data.len()).as_bytes());
    h.update(data);
    hex(&h.finalize())
}

fn lfs_pointer(oid: &str, size: usize) -> Vec<u8> {
    format!("version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n")
        .into_bytes()
}

#[derive(Debug, Clone)]
pub struct Blob {
    pub data: Vec<u8>,
    pub lfs: bool,
}

#[derive(Debug, Clone)]
pub struct Commit {
    pub parent: Option<String>,
    pub summary: String,
    pub tree: BTreeMap<String, Blob>,
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub private: bool,
    /// Branches and pull-request refs (`refs/pr/<n>`) → commit id.
    pub refs: BTreeMap<String, String>,
    pub commits: BTreeMap<String, Commit>,
    pub prs: u32,
}

#[derive(Debug, Clone)]
pub struct Logged {
    /// `hub` or `storage`.
    pub server: &'static str,
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub status: u16,
    pub authorization: Option<String>,
    pub body_len: usize,
}

#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and body instead of handling the request.
    Status(u16, String),
    /// Say nothing for this long, then close the connection (nothing is applied).
    Stall(Duration),
    /// Handle the request, then close the connection without answering.
    ApplyThenDrop,
    /// Handle the request, send the headers, then the body one byte per interval.
    Trickle(Duration),
    /// Handle the request and point its `Link: rel="next"` at the request itself.
    LinkToSelf,
    /// Handle the request and point `Link: rel="next"` at a new cursor past the end each
    /// time (an endless listing of empty pages).
    EndlessPages,
}

struct Rule {
    method: String,
    path_contains: String,
    /// Matching requests to let through before the fault starts.
    skip: usize,
    remaining: usize,
    fault: Fault,
}

pub struct State {
    pub token: String,
    /// `"<plural>/<owner>/<name>"` → repository.
    pub repos: BTreeMap<String, Repo>,
    pub lfs: BTreeMap<String, Vec<u8>>,
    pub parts: BTreeMap<(String, u32), Vec<u8>>,
    pub log: Vec<Logged>,
    /// File content bytes received: decoded inline files, LFS uploads and parts.
    pub file_bytes: u64,
    /// Commits applied through the commit endpoint.
    pub commits_applied: usize,
    /// Files larger than this go to LFS (`.so` files always do).
    pub lfs_threshold: u64,
    /// LFS objects larger than this are uploaded in parts of `chunk_size`.
    pub multipart_threshold: u64,
    pub chunk_size: u64,
    /// Tree listing page size.
    pub page_size: usize,
    rules: Vec<Rule>,
    seq: u64,
    hub_url: String,
    storage_url: String,
}

pub struct FakeHub {
    pub url: String,
    pub storage_url: String,
    pub state: Arc<Mutex<State>>,
}

struct Req {
    method: String,
    target: String,
    path: String,
    query: BTreeMap<String, String>,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn resp_json(status: u16, v: Value) -> Resp {
    Resp {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: serde_json::to_vec(&v).unwrap(),
    }
}

fn error(status: u16, msg: &str) -> Resp {
    resp_json(status, json!({ "error": msg }))
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl FakeHub {
    /// Start both listeners; requests to the Hub must carry `Bearer <token>`.
    pub fn start(token: &str) -> FakeHub {
        let hub = TcpListener::bind("127.0.0.1:0").unwrap();
        let storage = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", hub.local_addr().unwrap());
        let storage_url = format!("http://{}", storage.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            token: token.to_string(),
            repos: BTreeMap::new(),
            lfs: BTreeMap::new(),
            parts: BTreeMap::new(),
            log: Vec::new(),
            file_bytes: 0,
            commits_applied: 0,
            lfs_threshold: 10 * 1024,
            multipart_threshold: 48 * 1024,
            chunk_size: 16 * 1024,
            page_size: 7,
            rules: Vec::new(),
            seq: 0,
            hub_url: url.clone(),
            storage_url: storage_url.clone(),
        }));
        for (listener, server) in [(hub, "hub"), (storage, "storage")] {
            let st = state.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    let Ok(conn) = conn else { continue };
                    let st = st.clone();
                    std::thread::spawn(move || serve(conn, st, server));
                }
            });
        }
        FakeHub {
            url,
            storage_url,
            state,
        }
    }

    /// Fail the next `times` requests matching `method` and `path_contains`.
    pub fn fault(&self, method: &str, path_contains: &str, times: usize, fault: Fault) {
        self.fault_after(method, path_contains, 0, times, fault);
    }

    /// Like [`FakeHub::fault`], after letting `skip` matching requests through.
    pub fn fault_after(
        &self,
        method: &str,
        path_contains: &str,
        skip: usize,
        times: usize,
        fault: Fault,
    ) {
        self.state.lock().unwrap().rules.push(Rule {
            method: method.into(),
            path_contains: path_contains.into(),
            skip,
            remaining: times,
            fault,
        });
    }

    pub fn clear_faults(&self) {
        self.state.lock().unwrap().rules.clear();
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn file_bytes(&self) -> u64 {
        self.with(|s| s.file_bytes)
    }

    pub fn commits_applied(&self) -> usize {
        self.with(|s| s.commits_applied)
    }

    pub fn log(&self) -> Vec<Logged> {
        self.with(|s| s.log.clone())
    }

    pub fn requests(&self, method: &str, path_contains: &str) -> usize {
        self.log()
            .iter()
            .filter(|l| l.method == method && l.target.contains(path_contains))
            .count()
    }

    pub fn repo(&self, key: &str) -> Option<Repo> {
        self.with(|s| s.repos.get(key).cloned())
    }

    /// Files of `rev` in repository `key` (`kernels/org/name`), LFS contents resolved.
    pub fn files(&self, key: &str, rev: &str) -> BTreeMap<String, Vec<u8>> {
        self.with(|s| {
            let repo = s
                .repos
                .get(key)
                .unwrap_or_else(|| panic!("no repository {key}"));
            let id = repo
                .refs
                .get(rev)
                .unwrap_or_else(|| panic!("no ref {rev} in {key}"));
            repo.commits[id]
                .tree
                .iter()
                .map(|(p, b)| (p.clone(), b.data.clone()))
                .collect()
        })
    }

    /// Which files of `rev` are stored in LFS.
    pub fn lfs_paths(&self, key: &str, rev: &str) -> Vec<String> {
        self.with(|s| {
            let repo = &s.repos[key];
            repo.commits[&repo.refs[rev]]
                .tree
                .iter()
                .filter(|(_, b)| b.lfs)
                .map(|(p, _)| p.clone())
                .collect()
        })
    }

    /// Put files on a branch directly (creating the repository and branch), as an earlier
    /// upload or another tool would have.
    pub fn seed<P: AsRef<str>, D: AsRef<[u8]>>(&self, key: &str, branch: &str, files: &[(P, D)]) {
        self.with(|s| {
            if !s.repos.contains_key(key) {
                s.create_repo(key, false);
            }
            let threshold = s.lfs_threshold;
            let mut lfs_new = Vec::new();
            let repo = s.repos.get_mut(key).unwrap();
            let base = repo
                .refs
                .get(branch)
                .or_else(|| repo.refs.get("main"))
                .cloned()
                .unwrap();
            let mut tree = repo.commits[&base].tree.clone();
            for (p, d) in files {
                let (p, d) = (p.as_ref(), d.as_ref());
                let lfs = p.ends_with(".so") || d.len() as u64 > threshold;
                if lfs {
                    lfs_new.push(d.to_vec());
                }
                tree.insert(
                    p.to_string(),
                    Blob {
                        data: d.to_vec(),
                        lfs,
                    },
                );
            }
            let id = format!("seed{:036}", repo.commits.len());
            repo.commits.insert(
                id.clone(),
                Commit {
                    parent: Some(base),
                    summary: "seed".into(),
                    tree,
                },
            );
            repo.refs.insert(branch.to_string(), id);
            for d in lfs_new {
                s.lfs.insert(sha256_hex(&d), d);
            }
        })
    }
}

impl State {
    fn create_repo(&mut self, key: &str, private: bool) {
        let mut tree = BTreeMap::new();
        tree.insert(
            ".gitattributes".to_string(),
            Blob {
                data: b"*.so filter=lfs diff=lfs merge=lfs -text\n".to_vec(),
                lfs: false,
            },
        );
        let id = "0".repeat(40);
        let mut commits = BTreeMap::new();
        commits.insert(
            id.clone(),
            Commit {
                parent: None,
                summary: "initial commit".into(),
                tree,
            },
        );
        let mut refs = BTreeMap::new();
        refs.insert("main".to_string(), id);
        self.repos.insert(
            key.to_string(),
            Repo {
                private,
                refs,
                commits,
                prs: 0,
            },
        );
    }

    fn next_id(&mut self, salt: &str) -> String {
        self.seq += 1;
        let mut h = Sha1::new();
        h.update(format!("{}:{salt}", self.seq).as_bytes());
        hex(&h.finalize())
    }

    fn take_fault(&mut self, method: &str, target: &str) -> Option<Fault> {
        let rule = self
            .rules
            .iter_mut()
            .find(|r| r.remaining > 0 && r.method == method && target.contains(&r.path_contains))?;
        if rule.skip > 0 {
            rule.skip -= 1;
            return None;
        }
        rule.remaining -= 1;
        Some(rule.fault.clone())
    }

    fn is_lfs_path(&self, path: &str, size: u64) -> bool {
        path.ends_with(".so") || size > self.lfs_threshold
    }
}

fn read_request(r: &mut BufReader<TcpStream>, w: &mut TcpStream) -> Option<Req> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.trim_end().split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    if headers
        .get("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").ok()?;
    }
    let mut body = Vec::new();
    if let Some(n) = headers
        .get("content-length")
        .and_then(|n| n.parse::<usize>().ok())
    {
        body.resize(n, 0);
        r.read_exact(&mut body).ok()?;
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    let (path, q) = target.split_once('?').unwrap_or((&target, ""));
    let query = q
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (pct_decode(k), pct_decode(v))
        })
        .collect();
    Some(Req {
        method,
        path: path.to_string(),
        target: target.clone(),
        query,
        headers,
        body,
    })
}

fn write_response(w: &mut TcpStream, resp: &Resp) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
        resp.status,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(&resp.body)?;
    w.flush()
}

/// Headers at once, then the body one byte per `every` (a server that never quite stalls).
fn write_trickled(w: &mut TcpStream, resp: &Resp, every: Duration) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
        resp.status,
        resp.body.len()
    );
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.flush()?;
    for b in &resp.body {
        std::thread::sleep(every);
        w.write_all(&[*b])?;
        w.flush()?;
    }
    Ok(())
}

fn serve(conn: TcpStream, st: Arc<Mutex<State>>, server: &'static str) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    while let Some(req) = read_request(&mut r, &mut w) {
        let fault = st.lock().unwrap().take_fault(&req.method, &req.target);
        let log = |st: &Arc<Mutex<State>>, status: u16| {
            st.lock().unwrap().log.push(Logged {
                server,
                method: req.method.clone(),
                target: req.target.clone(),
                status,
                authorization: req.headers.get("authorization").cloned(),
                body_len: req.body.len(),
            });
        };
        match fault {
            Some(Fault::Status(code, body)) => {
                log(&st, code);
                let mut resp = error(code, &body);
                resp.headers.push(("retry-after".into(), "0".into()));
                if write_response(&mut w, &resp).is_err() {
                    return;
                }
                continue;
            }
            Some(Fault::Stall(d)) => {
                log(&st, 0);
                std::thread::sleep(d);
                return;
            }
            Some(Fault::ApplyThenDrop) => {
                let resp = handle(&st, server, &req);
                log(&st, resp.status);
                return;
            }
            Some(Fault::Trickle(every)) => {
                let resp = handle(&st, server, &req);
                log(&st, resp.status);
                let _ = write_trickled(&mut w, &resp, every);
                return;
            }
            Some(f @ (Fault::LinkToSelf | Fault::EndlessPages)) => {
                let mut resp = handle(&st, server, &req);
                log(&st, resp.status);
                resp.headers.retain(|(k, _)| k != "link");
                let next = if matches!(f, Fault::LinkToSelf) {
                    req.target.clone()
                } else {
                    let n = st.lock().unwrap().log.len();
                    format!("{}?recursive=true&cursor={}", req.path, 1_000_000 + n)
                };
                let hub_url = st.lock().unwrap().hub_url.clone();
                resp.headers
                    .push(("link".into(), format!("<{hub_url}{next}>; rel=\"next\"")));
                if write_response(&mut w, &resp).is_err() {
                    return;
                }
                continue;
            }
            None => {}
        }
        let resp = handle(&st, server, &req);
        log(&st, resp.status);
        if write_response(&mut w, &resp).is_err() {
            return;
        }
    }
}

fn handle(st: &Arc<Mutex<State>>, server: &str, req: &Req) -> Resp {
    let mut s = st.lock().unwrap();
    if server == "storage" {
        return storage(&mut s, req);
    }
    let expected = format!("Bearer {}", s.token);
    if req.headers.get("authorization") != Some(&expected) {
        return error(401, "Invalid credentials in Authorization header");
    }
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("POST", ["api", "repos", "create"]) => create(&mut s, req),
        ("GET", ["api", kind, org, name]) => {
            let key = format!("{kind}/{org}/{name}");
            match s.repos.get(&key) {
                Some(r) => resp_json(
                    200,
                    json!({"id": format!("{org}/{name}"), "private": r.private}),
                ),
                None => error(404, "Repository not found"),
            }
        }
        ("GET", ["api", kind, org, name, "refs"]) => {
            let key = format!("{kind}/{org}/{name}");
            let Some(repo) = s.repos.get(&key) else {
                return error(404, "Repository not found");
            };
            let branches: Vec<Value> = repo
                .refs
                .iter()
                .filter(|(n, _)| !n.starts_with("refs/"))
                .map(|(n, c)| json!({"name": n, "ref": format!("refs/heads/{n}"), "targetCommit": c}))
                .collect();
            resp_json(
                200,
                json!({"branches": branches, "tags": [], "converts": []}),
            )
        }
        ("POST", ["api", kind, org, name, "branch", branch]) => {
            let key = format!("{kind}/{org}/{name}");
            let branch = pct_decode(branch);
            let v: Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
            let Some(repo) = s.repos.get_mut(&key) else {
                return error(404, "Repository not found");
            };
            if repo.refs.contains_key(&branch) {
                return error(409, "Reference already exists");
            }
            let from = v
                .get("startingPoint")
                .and_then(|x| x.as_str())
                .map(|x| repo.refs.get(x).cloned().unwrap_or(x.to_string()))
                .unwrap_or_else(|| repo.refs["main"].clone());
            if !repo.commits.contains_key(&from) {
                return error(400, "Invalid startingPoint");
            }
            repo.refs.insert(branch, from);
            resp_json(200, json!({}))
        }
        ("GET", ["api", kind, org, name, "tree", rev, rest @ ..]) => {
            let key = format!("{kind}/{org}/{name}");
            tree(&s, &key, &pct_decode(rev), rest, req)
        }
        ("POST", ["api", kind, org, name, "preupload", rev]) => {
            let key = format!("{kind}/{org}/{name}");
            preupload(&s, &key, &pct_decode(rev), req)
        }
        ("POST", ["api", kind, org, name, "commit", rev]) => {
            let key = format!("{kind}/{org}/{name}");
            commit(&mut s, &key, kind, &pct_decode(rev), req)
        }
        ("POST", ["lfs-complete", oid]) => complete(&mut s, oid, req),
        ("POST", [.., "info", "lfs", "objects", "batch"]) => lfs_batch(&s, req),
        ("POST", [.., "info", "lfs", "objects", "verify"]) => {
            let v: Value = serde_json::from_slice(&req.body).unwrap_or(json!({}));
            let oid = v.get("oid").and_then(|o| o.as_str()).unwrap_or("");
            if s.lfs.contains_key(oid) {
                resp_json(200, json!({}))
            } else {
                error(404, "object not found")
            }
        }
        _ => error(404, &format!("no route for {} {}", req.method, req.path)),
    }
}

fn create(s: &mut State, req: &Req) -> Resp {
    let v: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(_) => return error(400, "bad JSON"),
    };
    let kind = match v.get("type").and_then(|t| t.as_str()) {
        Some("kernel") => "kernels",
        Some("model") | None => "models",
        Some(_) => return error(400, "unknown type"),
    };
    let (Some(org), Some(name)) = (
        v.get("organization").and_then(|o| o.as_str()),
        v.get("name").and_then(|o| o.as_str()),
    ) else {
        return error(400, "name and organization required");
    };
    let key = format!("{kind}/{org}/{name}");
    if s.repos.contains_key(&key) {
        return error(409, "You already created this repo");
    }
    let private = v.get("private").and_then(|p| p.as_bool()).unwrap_or(false);
    s.create_repo(&key, private);
    let prefix = if kind == "kernels" { "kernels/" } else { "" };
    resp_json(
        200,
        json!({"url": format!("{}/{prefix}{org}/{name}", s.hub_url)}),
    )
}

fn tree(s: &State, key: &str, rev: &str, rest: &[&str], req: &Req) -> Resp {
    let Some(repo) = s.repos.get(key) else {
        return error(404, "Repository not found");
    };
    let Some(id) = repo.refs.get(rev) else {
        return error(404, "Revision not found");
    };
    let sub = rest.join("/");
    let recursive = req.query.get("recursive").is_some_and(|v| v == "true");
    let mut entries: BTreeMap<String, Value> = BTreeMap::new();
    for (path, blob) in &repo.commits[id].tree {
        let rel = if sub.is_empty() {
            path.as_str()
        } else if let Some(r) = path.strip_prefix(&format!("{sub}/")) {
            r
        } else {
            continue;
        };
        let base = if sub.is_empty() {
            String::new()
        } else {
            format!("{sub}/")
        };
        let comps: Vec<&str> = rel.split('/').collect();
        for i in 1..comps.len() {
            if !recursive && i > 1 {
                break;
            }
            let dir = format!("{base}{}", comps[..i].join("/"));
            entries.entry(dir.clone()).or_insert_with(
                || json!({"type": "directory", "oid": "d", "size": 0, "path": dir}),
            );
        }
        if !recursive && comps.len() > 1 {
            continue;
        }
        let mut e = json!({"type": "file", "path": path, "size": blob.data.len()});
        if blob.lfs {
            let oid = sha256_hex(&blob.data);
            let pointer = lfs_pointer(&oid, blob.data.len());
            e["oid"] = json!(git_oid(&pointer));
            e["lfs"] = json!({"oid": oid, "size": blob.data.len(), "pointerSize": pointer.len()});
        } else {
            e["oid"] = json!(git_oid(&blob.data));
        }
        entries.insert(path.clone(), e);
    }
    let all: Vec<Value> = entries.into_values().collect();
    let start: usize = req
        .query
        .get("cursor")
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let end = (start + s.page_size).min(all.len());
    let mut resp = resp_json(200, Value::Array(all[start.min(end)..end].to_vec()));
    if end < all.len() {
        let mut q = format!("cursor={end}");
        if recursive {
            q = format!("recursive=true&{q}");
        }
        resp.headers.push((
            "link".into(),
            format!("<{}{}?{q}>; rel=\"next\"", s.hub_url, req.path),
        ));
    }
    resp
}

fn preupload(s: &State, key: &str, rev: &str, req: &Req) -> Resp {
    let Some(repo) = s.repos.get(key) else {
        return error(404, "Repository not found");
    };
    let Some(id) = repo.refs.get(rev) else {
        return error(404, "Revision not found");
    };
    let tree = &repo.commits[id].tree;
    let v: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(_) => return error(400, "bad JSON"),
    };
    let mut out = Vec::new();
    for f in v
        .get("files")
        .and_then(|f| f.as_array())
        .into_iter()
        .flatten()
    {
        let path = f.get("path").and_then(|p| p.as_str()).unwrap_or("");
        let size = f.get("size").and_then(|p| p.as_u64()).unwrap_or(0);
        if f.get("sample").and_then(|p| p.as_str()).is_none() {
            return error(400, "sample missing");
        }
        let lfs = s.is_lfs_path(path, size);
        let mut e = json!({"path": path, "uploadMode": if lfs {"lfs"} else {"regular"}, "shouldIgnore": false});
        if let Some(b) = tree.get(path) {
            e["oid"] = json!(if b.lfs {
                sha256_hex(&b.data)
            } else {
                git_oid(&b.data)
            });
        }
        out.push(e);
    }
    resp_json(200, json!({"files": out, "commitOid": id}))
}

fn lfs_batch(s: &State, req: &Req) -> Resp {
    let v: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(_) => return error(400, "bad JSON"),
    };
    if v.get("operation").and_then(|o| o.as_str()) != Some("upload") {
        return error(400, "only upload is supported");
    }
    let offers_multipart = v
        .get("transfers")
        .and_then(|t| t.as_array())
        .is_some_and(|t| t.iter().any(|x| x == "multipart"));
    let verify_href = format!("{}{}", s.hub_url, req.path.replace("/batch", "/verify"));
    let mut objects = Vec::new();
    let mut any_multipart = false;
    for o in v
        .get("objects")
        .and_then(|o| o.as_array())
        .into_iter()
        .flatten()
    {
        let oid = o
            .get("oid")
            .and_then(|x| x.as_str())
            .unwrap_or("")
            .to_string();
        let size = o.get("size").and_then(|x| x.as_u64()).unwrap_or(0);
        if s.lfs.contains_key(&oid) {
            objects.push(json!({"oid": oid, "size": size}));
            continue;
        }
        let upload = if offers_multipart && size > s.multipart_threshold {
            any_multipart = true;
            let n = size.div_ceil(s.chunk_size);
            let mut header = serde_json::Map::new();
            header.insert("chunk_size".into(), json!(s.chunk_size.to_string()));
            for i in 1..=n {
                header.insert(
                    format!("{i:05}"),
                    json!(format!("{}/part/{oid}/{i}?sig=secret", s.storage_url)),
                );
            }
            json!({"href": format!("{}/lfs-complete/{oid}", s.hub_url), "header": header})
        } else {
            json!({"href": format!("{}/upload/{oid}?X-Amz-Signature=secret", s.storage_url),
                   "header": {"x-test-signature": "sig"}})
        };
        objects.push(json!({"oid": oid, "size": size, "authenticated": true,
            "actions": {"upload": upload, "verify": {"href": verify_href}}}));
    }
    let mut resp = resp_json(
        200,
        json!({"transfer": if any_multipart {"multipart"} else {"basic"}, "objects": objects}),
    );
    resp.headers[0].1 = "application/vnd.git-lfs+json".into();
    resp
}

fn storage(s: &mut State, req: &Req) -> Resp {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), segs.as_slice()) {
        ("PUT", ["upload", oid]) => {
            if req.headers.get("x-test-signature").map(String::as_str) != Some("sig") {
                return error(403, "signature header missing");
            }
            if sha256_hex(&req.body) != *oid {
                return error(400, "content does not match oid");
            }
            s.file_bytes += req.body.len() as u64;
            s.lfs.insert(oid.to_string(), req.body.clone());
            Resp {
                status: 200,
                headers: vec![],
                body: vec![],
            }
        }
        ("PUT", ["part", oid, n]) => {
            let n: u32 = n.parse().unwrap_or(0);
            s.file_bytes += req.body.len() as u64;
            s.parts.insert((oid.to_string(), n), req.body.clone());
            Resp {
                status: 200,
                headers: vec![("etag".into(), format!("\"etag-{oid}-{n}\""))],
                body: vec![],
            }
        }
        _ => error(404, "no such storage route"),
    }
}

fn complete(s: &mut State, oid: &str, req: &Req) -> Resp {
    let v: Value = match serde_json::from_slice(&req.body) {
        Ok(v) => v,
        Err(_) => return error(400, "bad JSON"),
    };
    let mut data = Vec::new();
    for (i, p) in v
        .get("parts")
        .and_then(|p| p.as_array())
        .into_iter()
        .flatten()
        .enumerate()
    {
        let n = p.get("partNumber").and_then(|n| n.as_u64()).unwrap_or(0) as u32;
        let etag = p.get("etag").and_then(|e| e.as_str()).unwrap_or("");
        if n != i as u32 + 1 || etag != format!("\"etag-{oid}-{n}\"") {
            return error(400, "parts out of order or bad etag");
        }
        match s.parts.get(&(oid.to_string(), n)) {
            Some(d) => data.extend_from_slice(d),
            None => return error(400, "missing part"),
        }
    }
    if sha256_hex(&data) != oid {
        return error(400, "assembled content does not match oid");
    }
    s.lfs.insert(oid.to_string(), data);
    resp_json(200, json!({}))
}

fn commit(s: &mut State, key: &str, kind: &str, rev: &str, req: &Req) -> Resp {
    if req.headers.get("content-type").map(String::as_str) != Some("application/x-ndjson") {
        return error(400, "expected application/x-ndjson");
    }
    let Some(repo) = s.repos.get(key) else {
        return error(404, "Repository not found");
    };
    let Some(head) = repo.refs.get(rev).cloned() else {
        return error(404, "Revision not found");
    };
    let mut tree = repo.commits[&head].tree.clone();
    let text = String::from_utf8_lossy(&req.body).into_owned();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Value = match lines.next().map(serde_json::from_str::<Value>) {
        Some(Ok(h)) if h["key"] == "header" => h["value"].clone(),
        _ => return error(400, "the first line must be the header"),
    };
    let summary = header["summary"].as_str().unwrap_or("").to_string();
    if summary.is_empty() {
        return error(400, "summary required");
    }
    if let Some(p) = header.get("parentCommit").and_then(|p| p.as_str()) {
        if p != head {
            return error(
                412,
                "A commit has happened since. Please refresh and try again.",
            );
        }
    }
    let mut inline_bytes = 0u64;
    let mut n_ops = 0;
    for l in lines {
        let v: Value = match serde_json::from_str(l) {
            Ok(v) => v,
            Err(_) => return error(400, "bad NDJSON line"),
        };
        let val = &v["value"];
        let path = val["path"].as_str().unwrap_or("").to_string();
        if path.is_empty() || path.starts_with('/') || path.contains("..") {
            return error(400, "bad path");
        }
        n_ops += 1;
        match v["key"].as_str() {
            Some("file") => {
                if val["encoding"] != "base64" {
                    return error(400, "only base64");
                }
                let data = match base64::engine::general_purpose::STANDARD
                    .decode(val["content"].as_str().unwrap_or(""))
                {
                    Ok(d) => d,
                    Err(_) => return error(400, "bad base64"),
                };
                inline_bytes += data.len() as u64;
                tree.insert(path, Blob { data, lfs: false });
            }
            Some("lfsFile") => {
                let oid = val["oid"].as_str().unwrap_or("");
                let Some(data) = s.lfs.get(oid) else {
                    return error(422, &format!("LFS object {oid} was not uploaded"));
                };
                tree.insert(
                    path,
                    Blob {
                        data: data.clone(),
                        lfs: true,
                    },
                );
            }
            Some("deletedFile") => {
                if tree.remove(&path).is_none() {
                    return error(404, &format!("cannot delete {path}: no such file"));
                }
            }
            _ => return error(400, "unknown key"),
        }
    }
    if n_ops == 0 {
        return error(400, "empty commit");
    }
    let create_pr = req.query.get("create_pr").is_some_and(|v| v == "1");
    let id = s.next_id(&summary);
    s.file_bytes += inline_bytes;
    s.commits_applied += 1;
    let hub_url = s.hub_url.clone();
    let repo = s.repos.get_mut(key).unwrap();
    repo.commits.insert(
        id.clone(),
        Commit {
            parent: Some(head),
            summary,
            tree,
        },
    );
    let prefix = if kind == "kernels" { "kernels/" } else { "" };
    let repo_path = key.split_once('/').unwrap().1;
    let mut out =
        json!({"commitOid": id, "commitUrl": format!("{hub_url}/{prefix}{repo_path}/commit/{id}")});
    if create_pr {
        repo.prs += 1;
        let n = repo.prs;
        repo.refs.insert(format!("refs/pr/{n}"), id);
        out["pullRequestUrl"] = json!(format!("{hub_url}/{prefix}{repo_path}/discussions/{n}"));
    } else {
        repo.refs.insert(rev.to_string(), id);
    }
    resp_json(200, out)
}
