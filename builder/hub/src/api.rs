//! The Hub HTTP endpoints an upload uses.
//!
//! - `GET  /api/{kind}s/{repo}`: does the repository exist
//! - `POST /api/repos/create`: create it (`type` = `kernel` or `model`)
//! - `GET  /api/{kind}s/{repo}/refs`: branches and their head commits
//! - `POST /api/{kind}s/{repo}/branch/{branch}`: create a branch
//! - `GET  /api/{kind}s/{repo}/tree/{rev}?recursive=true`: files with git and LFS object ids
//!   (paginated through `Link: <…>; rel="next"`)
//! - `POST /api/{kind}s/{repo}/preupload/{rev}`: regular or LFS for each file, and the remote oid
//! - `POST /{prefix}{repo}.git/info/lfs/objects/batch`: git-lfs batch API (basic and multipart
//!   transfers), then the upload/verify actions it returns
//! - `POST /api/{kind}s/{repo}/commit/{rev}`: one atomic commit (NDJSON: header, `file`,
//!   `lfsFile`, `deletedFile` lines), `parentCommit` guarding against concurrent changes

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use kb_core::{bail, err, Result};
use serde_json::{json, Value};

use super::http::{describe_url, encode_segment, next_link, origin, Body, Http, Profile, Request};
use super::local::LocalFile;
use super::sync::RemoteFile;
use crate::RepoType;

pub fn plural(t: RepoType) -> &'static str {
    match t {
        RepoType::Kernel => "kernels",
        RepoType::Model => "models",
    }
}

pub fn singular(t: RepoType) -> &'static str {
    match t {
        RepoType::Kernel => "kernel",
        RepoType::Model => "model",
    }
}

/// URL prefix of web and git URLs (`kernels/` for kernels, nothing for models).
pub fn url_prefix(t: RepoType) -> &'static str {
    match t {
        RepoType::Kernel => "kernels/",
        RepoType::Model => "",
    }
}

/// The most pages a tree listing may have (the Hub lists up to 1000 files a page).
pub const MAX_PAGES: usize = 10_000;

pub struct Hub<'p> {
    pub http: Http<'p>,
    pub endpoint: String,
    pub repo_type: RepoType,
    pub repo: String,
}

/// Result of the preupload call for one file.
#[derive(Debug, Clone)]
pub struct Preupload {
    pub lfs: bool,
    pub should_ignore: bool,
    /// The object id the Hub already has at this path (git oid, or SHA-256 for LFS files).
    pub remote_oid: Option<String>,
}

/// What the LFS batch endpoint asks for one object.
#[derive(Debug, Clone)]
pub enum LfsAction {
    /// The storage already has it.
    Present,
    Basic {
        href: String,
        header: Vec<(String, String)>,
        verify: Option<(String, Vec<(String, String)>)>,
    },
    Multipart {
        complete_href: String,
        chunk_size: u64,
        parts: Vec<String>,
        verify: Option<(String, Vec<(String, String)>)>,
    },
}

/// What a commit request returned.
#[derive(Debug, Clone, Default)]
pub struct CommitResult {
    pub oid: Option<String>,
    pub url: Option<String>,
    pub pr_url: Option<String>,
}

fn header_pairs(v: Option<&Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(obj) = v.and_then(|h| h.as_object()) {
        for (k, v) in obj {
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            out.push((k.clone(), s));
        }
    }
    out
}

impl Hub<'_> {
    fn api(&self) -> String {
        format!(
            "{}/api/{}/{}",
            self.endpoint,
            plural(self.repo_type),
            self.repo
        )
    }

    /// The repository's web URL.
    pub fn web_url(&self) -> String {
        format!(
            "{}/{}{}",
            self.endpoint,
            url_prefix(self.repo_type),
            self.repo
        )
    }

    pub fn repo_exists(&self) -> Result<bool> {
        let what = format!("look up repository `{}`", self.repo);
        let resp = self
            .http
            .send(&Request::new("GET", self.api(), what.clone()))?;
        match resp.status {
            404 => Ok(false),
            _ => self.http.check(resp, &what).map(|_| true),
        }
    }

    /// Create the repository; `Ok(false)` when it already existed.
    pub fn create_repo(&self, private: bool) -> Result<bool> {
        let (org, name) = self
            .repo
            .split_once('/')
            .ok_or_else(|| err!("`{}` is not an owner/name repository id", self.repo))?;
        let what = format!(
            "create {} repository `{}`",
            singular(self.repo_type),
            self.repo
        );
        let body = json!({
            "name": name,
            "organization": org,
            "private": private,
            "type": singular(self.repo_type),
        });
        let req = Request::new(
            "POST",
            format!("{}/api/repos/create", self.endpoint),
            what.clone(),
        )
        .json(&body);
        let resp = self.http.send_owned(&req)?;
        if resp.status == 409 {
            return Ok(false);
        }
        self.http.check(resp, &what)?;
        Ok(true)
    }

    /// Branch name → head commit.
    pub fn branches(&self) -> Result<BTreeMap<String, String>> {
        let what = format!("list the branches of `{}`", self.repo);
        let resp = self.http.send(&Request::new(
            "GET",
            format!("{}/refs", self.api()),
            what.clone(),
        ))?;
        let resp = self.http.check(resp, &what)?;
        let v = resp.json(&what)?;
        let mut out = BTreeMap::new();
        for b in v
            .get("branches")
            .and_then(|b| b.as_array())
            .into_iter()
            .flatten()
        {
            if let (Some(name), Some(commit)) = (
                b.get("name").and_then(|n| n.as_str()),
                b.get("targetCommit").and_then(|n| n.as_str()),
            ) {
                out.insert(name.to_string(), commit.to_string());
            }
        }
        Ok(out)
    }

    /// Create `branch` from `from` (a commit or branch). `Ok(false)` when it already existed.
    pub fn create_branch(&self, branch: &str, from: Option<&str>) -> Result<bool> {
        let what = format!("create branch `{branch}` in `{}`", self.repo);
        let mut body = json!({});
        if let Some(f) = from {
            body["startingPoint"] = json!(f);
        }
        let url = format!("{}/branch/{}", self.api(), encode_segment(branch));
        let resp = self
            .http
            .send_owned(&Request::new("POST", url, what.clone()).json(&body))?;
        if resp.status == 409 {
            return Ok(false);
        }
        self.http.check(resp, &what)?;
        Ok(true)
    }

    /// All files of `rev` (recursively), keyed by path.
    pub fn tree(&self, rev: &str, recursive: bool) -> Result<BTreeMap<String, RemoteFile>> {
        let what = format!("list the files of `{}` at `{rev}`", self.repo);
        let mut url = format!("{}/tree/{}", self.api(), encode_segment(rev));
        if recursive {
            url.push_str("?recursive=true");
        }
        let own = origin(&self.endpoint);
        let mut out = BTreeMap::new();
        // Pagination ends: a page URL is never fetched twice (self links, cycles), every page
        // but the last must list something new, and there are at most MAX_PAGES pages.
        let mut seen: BTreeSet<String> = BTreeSet::new();
        let mut listed: BTreeSet<String> = BTreeSet::new();
        for page in 0.. {
            if page >= MAX_PAGES {
                bail!("{what}: the listing does not end (more than {MAX_PAGES} pages)");
            }
            if !seen.insert(url.clone()) {
                bail!(
                    "{what}: the Hub's next page points back to a page already read ({}); \
                     the listing would never end",
                    describe_url(&url)
                );
            }
            let mut new_entries = 0usize;
            let resp = self
                .http
                .send(&Request::new("GET", url.clone(), what.clone()))?;
            let resp = self.http.check(resp, &what)?;
            let v = resp.json(&what)?;
            let Some(items) = v.as_array() else {
                bail!("{what}: expected a JSON list of files");
            };
            for it in items {
                if let Some(p) = it.get("path").and_then(|p| p.as_str()) {
                    if listed.insert(p.to_string()) {
                        new_entries += 1;
                    }
                }
                if it.get("type").and_then(|t| t.as_str()) != Some("file") {
                    continue;
                }
                let (Some(path), Some(oid)) = (
                    it.get("path").and_then(|p| p.as_str()),
                    it.get("oid").and_then(|p| p.as_str()),
                ) else {
                    continue;
                };
                let lfs = it.get("lfs").and_then(|l| {
                    l.get("oid")
                        .or_else(|| l.get("sha256"))
                        .and_then(|o| o.as_str())
                        .map(str::to_string)
                });
                out.insert(
                    path.to_string(),
                    RemoteFile {
                        path: path.to_string(),
                        git_oid: oid.to_string(),
                        size: it.get("size").and_then(|s| s.as_u64()).unwrap_or(0),
                        lfs_sha256: lfs,
                    },
                );
            }
            let next = resp.header("link").and_then(next_link);
            if next.is_some() && new_entries == 0 {
                bail!("{what}: a page listed nothing new but points to another page");
            }
            match next {
                // Follow pagination only on the Hub itself: the token goes there.
                Some(next) if origin(&next) == own => url = next,
                Some(next) => bail!(
                    "{what}: the Hub pointed the next page to another host ({}); refusing to follow",
                    describe_url(&next)
                ),
                None => break,
            }
        }
        Ok(out)
    }

    /// Ask the Hub how each file must travel (at most 256 per request).
    pub fn preupload(
        &self,
        rev: &str,
        files: &[&LocalFile],
        create_pr: bool,
    ) -> Result<BTreeMap<String, Preupload>> {
        let what = format!("prepare the upload to `{}` at `{rev}`", self.repo);
        let mut out = BTreeMap::new();
        for chunk in files.chunks(256) {
            let payload: Vec<Value> = chunk
                .iter()
                .map(|f| {
                    json!({
                        "path": f.repo_path,
                        "size": f.size,
                        "sample": base64::engine::general_purpose::STANDARD.encode(&f.sample),
                        "sha": f.sha256,
                    })
                })
                .collect();
            let mut url = format!("{}/preupload/{}", self.api(), encode_segment(rev));
            if create_pr {
                url.push_str("?create_pr=1");
            }
            let req = Request::new("POST", url, what.clone()).json(&json!({ "files": payload }));
            let resp = self.http.check(self.http.send_owned(&req)?, &what)?;
            let v = resp.json(&what)?;
            for f in v
                .get("files")
                .and_then(|f| f.as_array())
                .into_iter()
                .flatten()
            {
                let Some(path) = f.get("path").and_then(|p| p.as_str()) else {
                    continue;
                };
                let mode = f
                    .get("uploadMode")
                    .and_then(|m| m.as_str())
                    .unwrap_or("regular");
                out.insert(
                    path.to_string(),
                    Preupload {
                        lfs: mode == "lfs",
                        should_ignore: f
                            .get("shouldIgnore")
                            .and_then(|s| s.as_bool())
                            .unwrap_or(false),
                        remote_oid: f.get("oid").and_then(|o| o.as_str()).map(str::to_string),
                    },
                );
            }
            for f in chunk {
                if !out.contains_key(&f.repo_path) {
                    bail!(
                        "{what}: the Hub did not say how to upload `{}`",
                        f.repo_path
                    );
                }
            }
        }
        Ok(out)
    }

    /// The git-lfs batch call: what to do with each object (`(sha256, size)`, at most 256 per call).
    pub fn lfs_batch(
        &self,
        rev: &str,
        objects: &[(String, u64)],
    ) -> Result<BTreeMap<String, LfsAction>> {
        let what = format!("negotiate large-file uploads for `{}`", self.repo);
        let url = format!(
            "{}/{}{}.git/info/lfs/objects/batch",
            self.endpoint,
            url_prefix(self.repo_type),
            self.repo
        );
        let mut out = BTreeMap::new();
        for chunk in objects.chunks(256) {
            let objs: Vec<Value> = chunk
                .iter()
                .map(|(oid, size)| json!({"oid": oid, "size": size}))
                .collect();
            let body = json!({
                "operation": "upload",
                "transfers": ["basic", "multipart"],
                "objects": objs,
                "hash_algo": "sha256",
                "ref": {"name": rev},
            });
            let mut req = Request::new("POST", url.clone(), what.clone()).json(&body);
            req.req = req.req.header("accept", "application/vnd.git-lfs+json");
            // The LFS API wants its own content type.
            req.req.headers.retain(|(k, _)| k != "content-type");
            req.req
                .headers
                .push(("content-type".into(), "application/vnd.git-lfs+json".into()));
            let resp = self.http.check(self.http.send_owned(&req)?, &what)?;
            let v = resp.json(&what)?;
            let transfer = v
                .get("transfer")
                .and_then(|t| t.as_str())
                .unwrap_or("basic")
                .to_string();
            for o in v
                .get("objects")
                .and_then(|o| o.as_array())
                .into_iter()
                .flatten()
            {
                let Some(oid) = o.get("oid").and_then(|x| x.as_str()) else {
                    continue;
                };
                if let Some(err) = o.get("error") {
                    bail!(
                        "{what}: the Hub refused object {oid}: {}",
                        self.http
                            .redact(err.get("message").and_then(|m| m.as_str()).unwrap_or(""))
                    );
                }
                let actions = o.get("actions");
                let upload = actions.and_then(|a| a.get("upload"));
                let verify = actions.and_then(|a| a.get("verify")).and_then(|vf| {
                    vf.get("href")
                        .and_then(|h| h.as_str())
                        .map(|h| (h.to_string(), header_pairs(vf.get("header"))))
                });
                let action = match upload {
                    None => LfsAction::Present,
                    Some(up) => {
                        let href = up
                            .get("href")
                            .and_then(|h| h.as_str())
                            .ok_or_else(|| err!("{what}: upload action without href for {oid}"))?
                            .to_string();
                        let header = header_pairs(up.get("header"));
                        let chunk_size = header
                            .iter()
                            .find(|(k, _)| k == "chunk_size")
                            .and_then(|(_, v)| v.parse::<u64>().ok());
                        match (transfer.as_str(), chunk_size) {
                            ("multipart", Some(cs)) if cs > 0 => {
                                let mut numbered: Vec<(u32, String)> = header
                                    .iter()
                                    .filter_map(|(k, v)| {
                                        k.parse::<u32>().ok().map(|n| (n, v.clone()))
                                    })
                                    .collect();
                                numbered.sort();
                                LfsAction::Multipart {
                                    complete_href: href,
                                    chunk_size: cs,
                                    parts: numbered.into_iter().map(|(_, u)| u).collect(),
                                    verify,
                                }
                            }
                            _ => LfsAction::Basic {
                                href,
                                header,
                                verify,
                            },
                        }
                    }
                };
                out.insert(oid.to_string(), action);
            }
        }
        Ok(out)
    }

    /// Perform an LFS action for `file`; returns the bytes sent.
    pub fn lfs_upload(&self, file: &LocalFile, action: &LfsAction) -> Result<u64> {
        let what = format!("upload `{}` ({} bytes)", file.repo_path, file.size);
        let (sent, verify) = match action {
            LfsAction::Present => return Ok(0),
            LfsAction::Basic {
                href,
                header,
                verify,
            } => {
                let mut req = Request::new(
                    "PUT",
                    href.clone(),
                    format!("{what} to {}", describe_url(href)),
                )
                .body(Body::File(&file.local))
                .profile(Profile::Transfer);
                for (k, v) in header {
                    req = req.header(k.clone(), v.clone());
                }
                let resp = self.http.send(&req)?;
                self.http.check(resp, &req.what)?;
                (file.size, verify)
            }
            LfsAction::Multipart {
                complete_href,
                chunk_size,
                parts,
                verify,
            } => {
                let expected = file.size.div_ceil(*chunk_size) as usize;
                if parts.len() != expected {
                    bail!(
                        "{what}: the Hub offered {} part URLs for {expected} parts of {chunk_size} bytes",
                        parts.len()
                    );
                }
                let mut etags = Vec::new();
                let mut f = kb_core::fsutil::open_regular(&file.local)?;
                for (i, url) in parts.iter().enumerate() {
                    use std::io::{Read, Seek, SeekFrom};
                    let start = i as u64 * chunk_size;
                    let len = (*chunk_size).min(file.size - start);
                    let mut buf = vec![0u8; len as usize];
                    f.seek(SeekFrom::Start(start))?;
                    f.read_exact(&mut buf)?;
                    let pwhat = format!("{what}: part {}/{}", i + 1, parts.len());
                    let req = Request::new(
                        "PUT",
                        url.clone(),
                        format!("{pwhat} to {}", describe_url(url)),
                    )
                    .body(Body::Bytes(&buf))
                    .profile(Profile::Transfer);
                    let resp = self.http.check(self.http.send(&req)?, &req.what)?;
                    let etag = resp
                        .header("etag")
                        .ok_or_else(|| err!("{pwhat}: the storage answered without an ETag"))?;
                    etags.push(json!({"partNumber": i + 1, "etag": etag}));
                }
                let body = json!({"oid": file.sha256, "parts": etags});
                let req = Request::new("POST", complete_href.clone(), format!("{what}: complete"))
                    .profile(Profile::Transfer)
                    .json(&body);
                self.http
                    .check(self.http.send_owned(&req)?, &req.req.what)?;
                (file.size, verify)
            }
        };
        if let Some((href, header)) = verify {
            let mut req = Request::new("POST", href.clone(), format!("{what}: verify"));
            for (k, v) in header {
                req = req.header(k.clone(), v.clone());
            }
            let req = req.json(&json!({"oid": file.sha256, "size": file.size}));
            self.http
                .check(self.http.send_owned(&req)?, &req.req.what)?;
        }
        Ok(sent)
    }

    /// Create one commit. `parent` guards against concurrent changes to `rev`.
    pub fn commit(
        &self,
        rev: &str,
        summary: &str,
        description: &str,
        parent: Option<&str>,
        lines: &[Value],
        create_pr: bool,
    ) -> Result<(CommitResult, crate::http::Response)> {
        let mut header = json!({"summary": summary, "description": description});
        if let Some(p) = parent {
            header["parentCommit"] = json!(p);
        }
        let mut body = serde_json::to_vec(&json!({"key": "header", "value": header}))?;
        body.push(b'\n');
        for l in lines {
            serde_json::to_writer(&mut body, l)?;
            body.push(b'\n');
        }
        let mut url = format!("{}/commit/{}", self.api(), encode_segment(rev));
        if create_pr {
            url.push_str("?create_pr=1");
        }
        let what = format!("commit to `{rev}` of `{}`", self.repo);
        let req = Request::new("POST", url, what)
            .header("content-type", "application/x-ndjson")
            .body(Body::Bytes(&body))
            .profile(Profile::Commit);
        let resp = self.http.send(&req)?;
        let mut r = CommitResult::default();
        if resp.ok() {
            let v = resp.json(&req.what)?;
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            r.oid = s("commitOid");
            r.url = s("commitUrl");
            r.pr_url = s("pullRequestUrl").or_else(|| s("prUrl"));
        }
        Ok((r, resp))
    }
}

/// Commit line adding a regular file inline.
pub fn inline_line(f: &LocalFile) -> Result<Value> {
    let bytes = kb_core::fsutil::read_regular(&f.local)
        .map_err(|e| err!("{}: cannot read: {e}", f.local.display()))?;
    use sha2::Digest;
    if bytes.len() as u64 != f.size || super::local::hex(&sha2::Sha256::digest(&bytes)) != f.sha256
    {
        bail!(
            "{}: the file changed during the upload; run the upload again",
            f.local.display()
        );
    }
    Ok(json!({"key": "file", "value": {
        "content": base64::engine::general_purpose::STANDARD.encode(&bytes),
        "path": f.repo_path,
        "encoding": "base64",
    }}))
}

pub fn lfs_line(f: &LocalFile) -> Value {
    json!({"key": "lfsFile", "value": {"path": f.repo_path, "algo": "sha256", "oid": f.sha256, "size": f.size}})
}

pub fn delete_line(path: &str) -> Value {
    json!({"key": "deletedFile", "value": {"path": path}})
}

/// `refs/pr/<n>` from a pull request URL (`…/discussions/<n>`).
pub fn pr_ref(pr_url: &str) -> Option<String> {
    let n = pr_url.trim_end_matches('/').rsplit('/').next()?;
    n.parse::<u64>().ok().map(|n| format!("refs/pr/{n}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_refs() {
        assert_eq!(
            pr_ref("https://huggingface.co/kernels/org/x/discussions/12").as_deref(),
            Some("refs/pr/12")
        );
        assert_eq!(
            pr_ref("https://huggingface.co/kernels/org/x/discussions/12/").as_deref(),
            Some("refs/pr/12")
        );
        assert_eq!(pr_ref("https://huggingface.co/kernels/org/x"), None);
    }

    #[test]
    fn commit_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.py");
        std::fs::write(&p, b"x = 1\n").unwrap();
        let f = LocalFile::hash("build/v/a.py".into(), &p).unwrap();
        let l = inline_line(&f).unwrap();
        assert_eq!(l["key"], "file");
        assert_eq!(l["value"]["content"], "eCA9IDEK");
        assert_eq!(lfs_line(&f)["value"]["oid"], f.sha256);
        assert_eq!(delete_line("x")["key"], "deletedFile");
        // Same size, different bytes: refused rather than sent under the old hash.
        std::fs::write(&p, b"x = 2\n").unwrap();
        assert!(inline_line(&f).unwrap_err().to_string().contains("changed"));
    }
}
