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
        if let Ok(text) = std::fs::read_to_string(&path) {
            let t = text.trim();
            if !t.is_empty() {
                return Some((Secret::new(t), TokenSource::File(path)));
            }
        }
    }
    None
}

/// Remove secrets from a message: the known token, `Bearer <anything>` and anything that looks like
/// a Hugging Face token (`hf_` followed by 20 or more letters/digits).
pub fn redact(message: &str, token: Option<&Secret>) -> String {
    let mut out = message.to_string();
    if let Some(t) = token {
        if t.0.len() >= 4 {
            out = out.replace(&t.0, "***");
        }
    }
    out = mask_after(&out, "Bearer ", 1);
    out = mask_after(&out, "bearer ", 1);
    mask_hf_tokens(&out)
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
}
