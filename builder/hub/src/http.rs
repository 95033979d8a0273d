//! A small blocking HTTP layer over `ureq`: bounded retries with exponential backoff, timeouts,
//! and a token that is only ever sent to the Hub endpoint's own origin.

use std::path::Path;
use std::time::Duration;

use kb_core::{bail, err, Result};

use super::token::{redact, Secret};
use super::Progress;

/// Network tunables. Defaults suit the real Hub; tests shrink them through the environment.
#[derive(Debug, Clone)]
pub struct Tuning {
    /// Retries after the first attempt (`KERNEL_BUILDER_HUB_RETRIES`, default 5).
    pub retries: u32,
    /// First backoff delay, doubled per retry (`KERNEL_BUILDER_HUB_BACKOFF`, seconds, default 1).
    pub backoff: Duration,
    /// Upper bound of one backoff delay (30 s; a `Retry-After` is honoured up to 60 s).
    pub max_backoff: Duration,
    /// Connect/stall/response timeout (`KERNEL_BUILDER_HUB_TIMEOUT`, seconds, default 60);
    /// commits may take five times as long to be answered. Each request also has a
    /// deadline that covers its whole exchange, body included ([`Tuning::deadline`]).
    pub timeout: Duration,
    /// Files per commit (`KERNEL_BUILDER_HUB_BATCH_FILES`, default 1000).
    pub batch_files: usize,
    /// Inline (non-LFS) bytes per commit (`KERNEL_BUILDER_HUB_BATCH_BYTES`, default 64 MiB).
    pub batch_inline_bytes: u64,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            retries: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            timeout: Duration::from_secs(60),
            batch_files: 1000,
            batch_inline_bytes: 64 << 20,
        }
    }
}

impl Tuning {
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<Tuning> {
        let mut t = Tuning::default();
        fn secs(name: &str, v: &str) -> Result<Duration> {
            let x: f64 = v.trim().parse().map_err(|_| {
                err!("{name}={v:?} is not a number of seconds; use e.g. {name}=2.5")
            })?;
            if !(x.is_finite() && (0.0..=86_400.0).contains(&x)) {
                bail!("{name}={v:?} is out of range; use 0 to 86400 seconds");
            }
            Ok(Duration::from_secs_f64(x))
        }
        fn count(name: &str, v: &str, min: u64) -> Result<u64> {
            match v.trim().parse::<u64>() {
                Ok(n) if n >= min => Ok(n),
                _ => bail!("{name}={v:?} must be an integer of at least {min}"),
            }
        }
        if let Some(v) = var("KERNEL_BUILDER_HUB_RETRIES") {
            t.retries = count("KERNEL_BUILDER_HUB_RETRIES", &v, 0)?.min(100) as u32;
        }
        if let Some(v) = var("KERNEL_BUILDER_HUB_BACKOFF") {
            t.backoff = secs("KERNEL_BUILDER_HUB_BACKOFF", &v)?;
            t.max_backoff = t.max_backoff.max(t.backoff);
        }
        if let Some(v) = var("KERNEL_BUILDER_HUB_TIMEOUT") {
            t.timeout = secs("KERNEL_BUILDER_HUB_TIMEOUT", &v)?.max(Duration::from_millis(10));
        }
        if let Some(v) = var("KERNEL_BUILDER_HUB_BATCH_FILES") {
            t.batch_files = count("KERNEL_BUILDER_HUB_BATCH_FILES", &v, 1)? as usize;
        }
        if let Some(v) = var("KERNEL_BUILDER_HUB_BATCH_BYTES") {
            t.batch_inline_bytes = count("KERNEL_BUILDER_HUB_BATCH_BYTES", &v, 1)?;
        }
        Ok(t)
    }

    /// The most one request (one attempt) may take from connecting to the last byte of the
    /// answer, so that a server trickling its answer cannot hold the upload forever: a
    /// multiple of the timeout, plus the time to send `body_len` bytes at [`MIN_RATE`].
    pub fn deadline(&self, profile: Profile, body_len: u64) -> Duration {
        let steps = match profile {
            Profile::Api => 3,
            Profile::Commit => 10,
            Profile::Transfer => 5,
        };
        self.timeout.saturating_mul(steps)
            + Duration::from_secs_f64(body_len as f64 / MIN_RATE as f64)
    }

    /// Delay before retry number `retry` (1-based).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .backoff
            .saturating_mul(1u32 << (retry.saturating_sub(1)).min(16));
        let d = exp.min(self.max_backoff);
        match retry_after {
            Some(ra) => ra.min(Duration::from_secs(60)).max(d),
            None => d,
        }
    }
}

/// Which timeout profile a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Ordinary API calls.
    Api,
    /// Commit requests, which the Hub may take a while to answer.
    Commit,
    /// Large-file transfers: a deadline that grows with the body size.
    Transfer,
}

pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    File(&'a Path),
}

pub struct Request<'a> {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Body<'a>,
    pub profile: Profile,
    /// What the request does, for messages ("list the files of `v1`").
    pub what: String,
}

impl<'a> Request<'a> {
    pub fn new(method: &'static str, url: String, what: impl Into<String>) -> Self {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: Body::Empty,
            profile: Profile::Api,
            what: what.into(),
        }
    }
    pub fn header(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }
    pub fn body(mut self, b: Body<'a>) -> Self {
        self.body = b;
        self
    }
    pub fn json(self, v: &serde_json::Value) -> OwnedBody<'a> {
        OwnedBody {
            req: self.header("content-type", "application/json"),
            bytes: serde_json::to_vec(v).expect("JSON values serialize"),
        }
    }
    pub fn profile(mut self, p: Profile) -> Self {
        self.profile = p;
        self
    }
}

/// A request together with a body it owns.
pub struct OwnedBody<'a> {
    pub req: Request<'a>,
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// How many attempts it took (1 = first try).
    pub attempts: u32,
}

impl Response {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self, what: &str) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            err!(
                "{what}: the Hub answered with something that is not JSON ({e}): {}",
                snippet(&self.body)
            )
        })
    }
    /// The Hub's error message (`{"error": "..."}`) or the start of the body.
    pub fn message(&self) -> String {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&self.body) {
            if let Some(s) = v.get("error").and_then(|e| e.as_str()) {
                return s.to_string();
            }
            if let Some(s) = v.get("message").and_then(|e| e.as_str()) {
                return s.to_string();
            }
        }
        snippet(&self.body)
    }
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    let s = s.trim();
    if s.is_empty() {
        return "(empty body)".into();
    }
    let mut out: String = s.chars().take(300).collect();
    if s.chars().count() > 300 {
        out.push('…');
    }
    out.replace(['\n', '\r'], " ")
}

/// `scheme://host[:port]` of a URL, lowercased; `None` when it has no scheme.
pub fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let mut o = format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    );
    // Default ports are the same origin as no port.
    for (s, p) in [("https", ":443"), ("http", ":80")] {
        if scheme.eq_ignore_ascii_case(s) && o.ends_with(p) {
            o.truncate(o.len() - p.len());
        }
    }
    Some(o)
}

/// True when `host` (from an origin) is this machine.
pub fn is_loopback(origin: &str) -> bool {
    let host = origin.split_once("://").map(|x| x.1).unwrap_or(origin);
    let host = if let Some(h) = host.strip_prefix('[') {
        h.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost" || host == "::1" || host.starts_with("127.")
}

/// Only the scheme and host of a URL, for messages about URLs that may carry signatures.
pub fn describe_url(url: &str) -> String {
    origin(url).unwrap_or_else(|| "(invalid URL)".into())
}

pub struct Http<'p> {
    api: ureq::Agent,
    commit: ureq::Agent,
    transfer: ureq::Agent,
    origin: String,
    token: Option<Secret>,
    pub tuning: Tuning,
    progress: Progress<'p>,
}

impl std::fmt::Debug for Http<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("origin", &self.origin)
            .field("token", &self.token)
            .finish()
    }
}

const BODY_LIMIT: u64 = 512 << 20;

/// The slowest transfer rate (bytes per second) a request deadline allows for its body.
pub const MIN_RATE: u64 = 64 << 10;

impl<'p> Http<'p> {
    pub fn new(
        endpoint: &str,
        token: Option<Secret>,
        tuning: Tuning,
        progress: Progress<'p>,
    ) -> Result<Http<'p>> {
        let origin = origin(endpoint).ok_or_else(|| {
            err!("HF_ENDPOINT={endpoint:?} is not a URL; use e.g. https://huggingface.co")
        })?;
        if !(origin.starts_with("https://") || origin.starts_with("http://")) {
            bail!("HF_ENDPOINT={endpoint:?} must use http:// or https://");
        }
        let local = is_loopback(&origin);
        if origin.starts_with("http://") && !local {
            bail!(
                "HF_ENDPOINT={endpoint:?} uses plain http to another machine, which would send the \
                 token unencrypted; use https://"
            );
        }
        let t = tuning.timeout;
        let tls = crate::tls::tls_config()?;
        let ua = format!("kernel-builder/{}", env!("CARGO_PKG_VERSION"));
        let make = |read: Option<Duration>, response: Option<Duration>| {
            let mut b = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .user_agent(ua.as_str())
                .timeout_connect(Some(t))
                .timeout_per_read(read)
                .timeout_per_write(Some(t))
                .timeout_recv_response(response)
                .tls_config(tls.clone());
            if local {
                // A proxy cannot reach this machine's loopback interface.
                b = b.proxy(None);
            }
            ureq::Agent::new_with_config(b.build())
        };
        Ok(Http {
            api: make(Some(t), Some(t)),
            commit: make(Some(t * 5), Some(t * 5)),
            transfer: make(Some(t), Some(t * 5)),
            origin,
            token,
            tuning,
            progress,
        })
    }

    pub fn token(&self) -> Option<&Secret> {
        self.token.as_ref()
    }

    pub fn redact(&self, s: &str) -> String {
        redact(s, self.token.as_ref())
    }

    /// Send with retries: transport failures, timeouts, 408, 429 and 5xx are retried with
    /// exponential backoff; any other answer is returned as is.
    pub fn send(&self, req: &Request<'_>) -> Result<Response> {
        self.send_bytes(req, None)
    }

    pub fn send_owned(&self, req: &OwnedBody<'_>) -> Result<Response> {
        self.send_bytes(&req.req, Some(&req.bytes))
    }

    fn send_bytes(&self, req: &Request<'_>, owned: Option<&[u8]>) -> Result<Response> {
        let max = self.tuning.retries + 1;
        let mut attempt = 1;
        loop {
            let (reason, retry_after) = match self.once(req, owned) {
                Ok(mut resp) => {
                    resp.attempts = attempt;
                    if !retryable(resp.status) || attempt >= max {
                        return Ok(resp);
                    }
                    let ra = resp
                        .header("retry-after")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    (
                        format!("HTTP {}: {}", resp.status, self.redact(&resp.message())),
                        ra,
                    )
                }
                Err(e) => {
                    let msg = self.redact(&transport_message(&e, &self.tuning, req.profile));
                    if attempt >= max {
                        bail!(
                            "{}: {msg}; gave up after {attempt} attempt{} \
                             (check the network, or raise KERNEL_BUILDER_HUB_RETRIES / KERNEL_BUILDER_HUB_TIMEOUT)",
                            req.what,
                            if attempt == 1 { "" } else { "s" }
                        );
                    }
                    if !retryable_transport(&e) {
                        bail!("{}: {msg}", req.what);
                    }
                    (msg, None)
                }
            };
            let delay = self.tuning.delay(attempt, retry_after);
            self.progress.line(&format!(
                "  {} failed ({reason}); retry {attempt}/{} in {:.1}s",
                req.what,
                max - 1,
                delay.as_secs_f64()
            ));
            std::thread::sleep(delay);
            attempt += 1;
        }
    }

    fn once(
        &self,
        req: &Request<'_>,
        owned: Option<&[u8]>,
    ) -> std::result::Result<Response, ureq::Error> {
        let agent = match req.profile {
            Profile::Api => &self.api,
            Profile::Commit => &self.commit,
            Profile::Transfer => &self.transfer,
        };
        let mut b = ureq::http::Request::builder()
            .method(req.method)
            .uri(req.url.as_str());
        for (k, v) in &req.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let same_origin = origin(&req.url).is_some_and(|o| o == self.origin);
        let explicit = req
            .headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if same_origin && !explicit {
            if let Some(t) = &self.token {
                b = b.header("authorization", format!("Bearer {}", t.expose()));
            }
        }
        let deadline = |len: u64| Some(self.tuning.deadline(req.profile, len));
        let mut resp = match (owned, &req.body) {
            (Some(bytes), _) => agent.run(
                agent
                    .configure_request(b.body(bytes)?)
                    .timeout_global(deadline(bytes.len() as u64))
                    .build(),
            )?,
            (None, Body::Empty) => agent.run(
                agent
                    .configure_request(b.body(())?)
                    .timeout_global(deadline(0))
                    .build(),
            )?,
            (None, Body::Bytes(bytes)) => agent.run(
                agent
                    .configure_request(b.body(*bytes)?)
                    .timeout_global(deadline(bytes.len() as u64))
                    .build(),
            )?,
            (None, Body::File(path)) => {
                let f = kb_core::fsutil::open_regular(path)?;
                let len = f.metadata()?.len();
                agent.run(
                    agent
                        .configure_request(b.body(f)?)
                        .timeout_global(deadline(len))
                        .build(),
                )?
            }
        };
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp
            .body_mut()
            .with_config()
            .limit(BODY_LIMIT)
            .read_to_vec()?;
        Ok(Response {
            status,
            headers,
            body,
            attempts: 1,
        })
    }

    /// Turn a non-2xx answer into an error naming what failed and how to fix it.
    pub fn check(&self, resp: Response, what: &str) -> Result<Response> {
        if resp.ok() {
            return Ok(resp);
        }
        Err(err!(self.status_error(&resp, what)))
    }

    pub fn status_error(&self, resp: &Response, what: &str) -> String {
        let hint = match resp.status {
            401 => " (the token was rejected: set HF_TOKEN to a valid write token or run `hf auth login`)",
            403 => " (the token may not write to this repository or namespace; kernel repositories also need kernel-creation access, see huggingface.co/settings/account)",
            404 => " (not found: check the repository id, its type (--repo-type) and the branch)",
            412 => " (the branch moved while uploading, someone else committed; run the upload again)",
            429 => " (rate limited; wait and run the upload again)",
            s if s >= 500 => " (the Hub had a server error; run the upload again later)",
            _ => "",
        };
        let tries = if resp.attempts > 1 {
            format!(" after {} attempts", resp.attempts)
        } else {
            String::new()
        };
        self.redact(&format!(
            "{what}: HTTP {}{tries}: {}{hint}",
            resp.status,
            resp.message()
        ))
    }
}

fn retryable(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

fn retryable_transport(e: &ureq::Error) -> bool {
    // A certificate the trust store rejects stays rejected.
    if crate::tls::is_certificate_rejection(e) {
        return false;
    }
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::Timeout(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_)
    )
}

fn transport_message(e: &ureq::Error, tuning: &Tuning, profile: Profile) -> String {
    match e {
        ureq::Error::Timeout(t) => format!(
            "timed out ({t}; limit {:.1}s per step, {:.1}s per request plus {} KiB/s of body)",
            tuning.timeout.as_secs_f64(),
            tuning.deadline(profile, 0).as_secs_f64(),
            MIN_RATE >> 10
        ),
        ureq::Error::ConnectionFailed => "cannot connect".into(),
        ureq::Error::HostNotFound => "host not found".into(),
        other => other.to_string(),
    }
}

/// Percent-encode a git ref for one URL path segment (`refs/pr/1` → `refs%2Fpr%2F1`).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encode a repository path, keeping `/` separators.
pub fn encode_path(s: &str) -> String {
    s.split('/')
        .map(encode_segment)
        .collect::<Vec<_>>()
        .join("/")
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    for part in link.split(',') {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim();
        if pieces.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        }) {
            return url
                .strip_prefix('<')
                .and_then(|u| u.strip_suffix('>'))
                .map(str::to_string);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://HuggingFace.co/api/x").unwrap(),
            "https://huggingface.co"
        );
        assert_eq!(
            origin("https://huggingface.co:443/x").unwrap(),
            "https://huggingface.co"
        );
        assert_eq!(
            origin("http://127.0.0.1:8080/x?y").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_ne!(
            origin("https://huggingface.co.evil.com/x"),
            origin("https://huggingface.co/x")
        );
        assert_eq!(
            origin("https://user@s3.amazonaws.com/b").unwrap(),
            "https://s3.amazonaws.com"
        );
        assert!(is_loopback("http://127.0.0.1:1"));
        assert!(is_loopback("http://[::1]:1"));
        assert!(is_loopback("http://localhost"));
        assert!(!is_loopback("http://example.com"));
    }

    #[test]
    fn plain_http_to_remote_hosts_is_refused() {
        let p = Progress::silent();
        let e = Http::new("http://example.com", None, Tuning::default(), p).unwrap_err();
        assert!(e.to_string().contains("unencrypted"), "{e}");
        Http::new("http://127.0.0.1:9", None, Tuning::default(), p).unwrap();
        Http::new("https://huggingface.co/", None, Tuning::default(), p).unwrap();
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let t = Tuning::default();
        assert_eq!(t.delay(1, None), Duration::from_secs(1));
        assert_eq!(t.delay(2, None), Duration::from_secs(2));
        assert_eq!(t.delay(3, None), Duration::from_secs(4));
        assert_eq!(t.delay(30, None), Duration::from_secs(30));
        assert_eq!(
            t.delay(1, Some(Duration::from_secs(5))),
            Duration::from_secs(5)
        );
        assert_eq!(
            t.delay(1, Some(Duration::from_secs(500))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn tuning_from_env() {
        let t = Tuning::from_env(&|k| match k {
            "KERNEL_BUILDER_HUB_RETRIES" => Some("2".into()),
            "KERNEL_BUILDER_HUB_BACKOFF" => Some("0.01".into()),
            "KERNEL_BUILDER_HUB_TIMEOUT" => Some("0.5".into()),
            "KERNEL_BUILDER_HUB_BATCH_FILES" => Some("7".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(t.retries, 2);
        assert_eq!(t.backoff, Duration::from_millis(10));
        assert_eq!(t.timeout, Duration::from_millis(500));
        assert_eq!(t.batch_files, 7);
        let e = Tuning::from_env(&|k| (k == "KERNEL_BUILDER_HUB_TIMEOUT").then(|| "x".into()))
            .unwrap_err();
        assert!(e.to_string().contains("KERNEL_BUILDER_HUB_TIMEOUT"));
    }

    #[test]
    fn encoding_and_links() {
        assert_eq!(encode_segment("refs/pr/1"), "refs%2Fpr%2F1");
        assert_eq!(encode_segment("v1"), "v1");
        assert_eq!(encode_path("build/a b/c"), "build/a%20b/c");
        assert_eq!(
            next_link("<https://h/api/x?cursor=abc>; rel=\"next\"").as_deref(),
            Some("https://h/api/x?cursor=abc")
        );
        assert_eq!(next_link("<https://h/p>; rel=\"prev\""), None);
    }
}
