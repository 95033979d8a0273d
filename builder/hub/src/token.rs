//! Hub token discovery and redaction.
//!
//! The token is looked up the way the Hugging Face tools do it: `HF_TOKEN`, then the file named by
//! `HF_TOKEN_PATH`, then `$HF_HOME/token` (`HF_HOME` defaults to `$XDG_CACHE_HOME/huggingface`,
//! then `~/.cache/huggingface`), the file `hf auth login` writes. An upload always needs a token,
//! so `HF_HUB_DISABLE_IMPLICIT_TOKEN` (which concerns anonymous downloads) is not consulted.
//! The value is kept in [`Secret`], whose `Debug`/`Display` never show it, and every message that
//! leaves the hub module goes through [`redact`].

use std::fmt;
use std::path::PathBuf;

/// A token that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The raw value, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where a token was found (for messages; never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Env,
    File(PathBuf),
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Env => f.write_str("HF_TOKEN"),
            TokenSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The Hugging Face home directory (`HF_HOME`, `$XDG_CACHE_HOME/huggingface`, `~/.cache/huggingface`).
pub fn hf_home(var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(h) = var("HF_HOME").filter(|s| !s.is_empty()) {
        return Some(PathBuf::from(h));
    }
    if let Some(x) = var("XDG_CACHE_HOME").filter(|s| !s.is_empty()) {
        return Some(PathBuf::from(x).join("huggingface"));
    }
    var("HOME")
        .filter(|s| !s.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("huggingface"))
}

/// Find the token through `var` (the process environment in production, a map in tests).
pub fn discover(var: &dyn Fn(&str) -> Option<String>) -> Option<(Secret, TokenSource)> {
    if let Some(t) = var("HF_TOKEN") {
        let t = t.trim();
        if !t.is_empty() {
            return Some((Secret::new(t), TokenSource::Env));
        }
    }
    let mut files = Vec::new();
    if let Some(p) = var("HF_TOKEN_PATH").filter(|s| !s.is_empty()) {
        files.push(PathBuf::from(p));
    }
    if let Some(home) = hf_home(var) {
        files.push(home.join("token"));
    }
    for path in files {
        if let Ok(text) = kb_core::fsutil::read_regular_to_string(&path) {
            let t = text.trim();
            if !t.is_empty() {
                return Some((Secret::new(t), TokenSource::File(path)));
            }
        }
    }
    None
}

/// Matches of a token substring at least this long are redacted (shorter tokens: the whole
/// token).
pub const MIN_SECRET_RUN: usize = 8;

/// Remove secrets from a message. This is the one redaction every error and progress line
/// of an upload goes through. It masks:
/// - the token, and any run of at least [`MIN_SECRET_RUN`] characters of it,
/// - the same inside percent-encoded (`hf%5F…`), `\uXXXX`- and `\xXX`-escaped text,
/// - its base64 (standard and URL-safe) at every alignment, so the base64 of `user:token`
///   (HTTP basic credentials) is caught as well as that of the token alone,
/// - `Bearer <anything>`, and anything that looks like a Hugging Face token (`hf_` followed
///   by 20 or more letters or digits).
pub fn redact(message: &str, token: Option<&Secret>) -> String {
    let mut out = match token.filter(|t| t.0.len() >= 4) {
        Some(t) => mask_runs(message, &secret_forms(&t.0), t.0.len().min(MIN_SECRET_RUN)),
        None => message.to_string(),
    };
    out = mask_after(&out, "Bearer ", 1);
    out = mask_after(&out, "bearer ", 1);
    mask_hf_tokens(&out)
}

/// The token as it may be echoed back: raw, and the parts of its base64 that depend only on
/// the token (for each of the three alignments after an arbitrary prefix such as `user:`).
fn secret_forms(token: &str) -> Vec<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    let t = token.as_bytes();
    let mut forms = vec![t.to_vec()];
    for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
        for k in 0..3usize {
            let mut data = vec![0u8; k];
            data.extend_from_slice(t);
            let enc = engine.encode(&data);
            // Characters whose 6 bits all come from the token.
            let first = (8 * k).div_ceil(6);
            let last = (8 * (k + t.len())) / 6;
            if last > first {
                forms.push(enc.as_bytes()[first..last].to_vec());
            }
        }
    }
    forms.sort();
    forms.dedup();
    forms
}

/// `message` with escapes decoded (`%XX`, `\uXXXX` below 0x80, `\xXX`), and for each
/// decoded byte the range of message bytes it came from.
fn decoded_view(message: &str) -> (Vec<u8>, Vec<(usize, usize)>) {
    let b = message.as_bytes();
    let hex = |s: &[u8]| -> Option<u32> {
        std::str::from_utf8(s)
            .ok()
            .and_then(|s| u32::from_str_radix(s, 16).ok())
    };
    let mut bytes = Vec::with_capacity(b.len());
    let mut spans = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let (value, len) = match b[i] {
            b'%' if i + 3 <= b.len() => (hex(&b[i + 1..i + 3]), 3),
            b'\\' if i + 6 <= b.len() && b[i + 1] == b'u' => {
                (hex(&b[i + 2..i + 6]).filter(|v| *v < 0x80), 6)
            }
            b'\\' if i + 4 <= b.len() && b[i + 1] == b'x' => (hex(&b[i + 2..i + 4]), 4),
            _ => (None, 1),
        };
        match value {
            Some(v) => {
                bytes.push(v as u8);
                spans.push((i, i + len));
                i += len;
            }
            None => {
                bytes.push(b[i]);
                spans.push((i, i + 1));
                i += 1;
            }
        }
    }
    (bytes, spans)
}

/// Mark in `mask` every byte of `hay` (mapped through `spans`) that lies in a common run of
/// at least `min` bytes with one of `forms`.
fn mark_runs(
    hay: &[u8],
    spans: &[(usize, usize)],
    forms: &[Vec<u8>],
    min: usize,
    mask: &mut [bool],
) {
    for form in forms {
        if form.len() < min {
            continue;
        }
        // Longest common suffix of hay[..=i] and form[..=j], one row at a time.
        let mut prev = vec![0usize; form.len() + 1];
        let mut row = vec![0usize; form.len() + 1];
        for (i, &h) in hay.iter().enumerate() {
            for (j, &f) in form.iter().enumerate() {
                row[j + 1] = if h == f { prev[j] + 1 } else { 0 };
                let run = row[j + 1];
                if run >= min {
                    for &(a, b) in &spans[i + 1 - run..=i] {
                        mask[a..b].iter_mut().for_each(|m| *m = true);
                    }
                }
            }
            std::mem::swap(&mut prev, &mut row);
        }
    }
}

/// Replace every run of `message` that matches (directly or once decoded) at least `min`
/// consecutive bytes of one of `forms` with `***`.
fn mask_runs(message: &str, forms: &[Vec<u8>], min: usize) -> String {
    let raw = message.as_bytes();
    let mut mask = vec![false; raw.len()];
    let identity: Vec<(usize, usize)> = (0..raw.len()).map(|i| (i, i + 1)).collect();
    mark_runs(raw, &identity, forms, min, &mut mask);
    let (view, spans) = decoded_view(message);
    if view.len() != raw.len() {
        mark_runs(&view, &spans, forms, min, &mut mask);
    }
    let mut out = String::with_capacity(message.len());
    let mut in_mask = false;
    for (i, c) in message.char_indices() {
        if mask[i..i + c.len_utf8()].iter().any(|m| *m) {
            if !in_mask {
                out.push_str("***");
                in_mask = true;
            }
        } else {
            in_mask = false;
            out.push(c);
        }
    }
    out
}

/// Replace the word that follows each occurrence of `marker` (if at least `min` chars) with `***`.
fn mask_after(s: &str, marker: &str, min: usize) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        let after = &rest[i + marker.len()..];
        let end = after
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | '}'))
            .unwrap_or(after.len());
        if end >= min && &after[..end] != "***" {
            out.push_str("***");
        } else {
            out.push_str(&after[..end]);
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn mask_hf_tokens(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i + 3 <= bytes.len() {
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if boundary && &bytes[i..i + 3] == b"hf_" {
            let mut j = i + 3;
            while j < bytes.len() && bytes[j].is_ascii_alphanumeric() {
                j += 1;
            }
            if j - (i + 3) >= 20 {
                out.push_str(&s[copied..i]);
                out.push_str("hf_***");
                copied = j;
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn env_token_wins() {
        let (t, src) = discover(&env(&[("HF_TOKEN", " abc123 ")])).unwrap();
        assert_eq!(t.expose(), "abc123");
        assert_eq!(src, TokenSource::Env);
    }

    #[test]
    fn token_files_under_hf_home_and_token_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "hf_fromfile\n").unwrap();
        let home = dir.path().to_str().unwrap();
        let (t, src) = discover(&env(&[("HF_HOME", home)])).unwrap();
        assert_eq!(t.expose(), "hf_fromfile");
        assert_eq!(src, TokenSource::File(dir.path().join("token")));
        // HF_TOKEN_PATH comes before HF_HOME.
        let other = dir.path().join("other");
        std::fs::write(&other, "second").unwrap();
        let (t, _) = discover(&env(&[
            ("HF_HOME", home),
            ("HF_TOKEN_PATH", other.to_str().unwrap()),
        ]))
        .unwrap();
        assert_eq!(t.expose(), "second");
        // XDG cache fallback.
        let xdg = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(xdg.path().join("huggingface")).unwrap();
        std::fs::write(xdg.path().join("huggingface/token"), "xdg").unwrap();
        let (t, _) = discover(&env(&[("XDG_CACHE_HOME", xdg.path().to_str().unwrap())])).unwrap();
        assert_eq!(t.expose(), "xdg");
        assert!(discover(&env(&[])).is_none());
    }

    #[test]
    fn secret_never_formats() {
        let s = Secret::new("hf_abcdefghijklmnopqrstuvwxyz");
        assert!(!format!("{s:?} {s}").contains("abcdef"));
    }

    #[test]
    fn redaction() {
        let t = Secret::new("sekrit-value");
        let msg = "got sekrit-value and Authorization: Bearer other_token, and hf_ABCDEFGHIJKLMNOPQRSTUVWX end";
        let r = redact(msg, Some(&t));
        assert!(!r.contains("sekrit-value"));
        assert!(!r.contains("other_token"));
        assert!(!r.contains("ABCDEFGHIJKLMNOP"));
        assert!(r.contains("Bearer ***"));
        assert!(r.contains("hf_*** end"));
        // Short `hf_` words (paths, identifiers) are left alone.
        assert_eq!(redact("see hf_hub.rs", None), "see hf_hub.rs");
    }

    /// Every form a server may echo the token in is masked.
    #[test]
    fn redaction_of_echoed_forms() {
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        use base64::Engine;
        let raw = "hf_Ab9xQz-7_LmNoPqRsTuVwXyZ0123456789";
        let t = Secret::new(raw);
        let pct: String = raw
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let pct_all: String = raw.bytes().map(|b| format!("%{b:02x}")).collect();
        let uni: String = raw.bytes().map(|b| format!("\\u{:04x}", b)).collect();
        let cases = [
            raw.to_string(),
            pct,
            pct_all,
            uni,
            STANDARD.encode(raw),
            STANDARD.encode(format!("user:{raw}")),
            STANDARD.encode(format!("ab:{raw}")),
            URL_SAFE_NO_PAD.encode(format!("x{raw}")),
            format!("Basic {}", STANDARD.encode(format!("__token__:{raw}"))),
            raw[5..20].to_string(),
            raw[20..].to_string(),
        ];
        for c in cases {
            let msg = format!("server said: <{c}> (end)");
            let r = redact(&msg, Some(&t));
            assert!(r.contains("***"), "{c} -> {r}");
            assert!(
                r.starts_with("server said: <") && r.ends_with("> (end)"),
                "{r}"
            );
            // No run of 8 token characters survives in any form.
            for w in raw.as_bytes().windows(MIN_SECRET_RUN) {
                let w = std::str::from_utf8(w).unwrap();
                assert!(!r.contains(w), "{c} -> {r}");
            }
        }
        // Short common runs and unrelated text stay.
        let r = redact("commit 0123abc of org/relu, id _relu_cpu_0123", Some(&t));
        assert_eq!(r, "commit 0123abc of org/relu, id _relu_cpu_0123");
        // Non-ASCII text next to a match keeps its characters whole.
        let r = redact(&format!("é{raw}ü"), Some(&t));
        assert_eq!(r, "é***ü");
    }
}
