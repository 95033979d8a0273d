//! Who owns a new kernel when `init` gets no `--name`: the user logged in to
//! the Hugging Face Hub, asked through the Hub's `whoami-v2` API with the
//! token the Hugging Face tools use (`HF_TOKEN`, the file in `HF_TOKEN_PATH`,
//! or `token` in `HF_HOME`, which defaults to `$XDG_CACHE_HOME/huggingface`
//! and then `~/.cache/huggingface`). `HF_ENDPOINT` selects another Hub and
//! `HF_HUB_OFFLINE=1` disables the lookup.

use std::path::PathBuf;
use std::time::Duration;

/// Read an environment variable (the process environment, or a map in tests).
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

fn set(env: Env, name: &str) -> Option<String> {
    env(name).filter(|v| !v.trim().is_empty())
}

/// The Hub token and where it came from.
pub fn find_token(env: Env) -> Option<(String, String)> {
    if let Some(t) = set(env, "HF_TOKEN") {
        return Some((t.trim().to_string(), "HF_TOKEN".into()));
    }
    let mut files = Vec::new();
    if let Some(p) = set(env, "HF_TOKEN_PATH") {
        files.push(PathBuf::from(p));
    }
    let home = set(env, "HF_HOME")
        .map(PathBuf::from)
        .or_else(|| set(env, "XDG_CACHE_HOME").map(|x| PathBuf::from(x).join("huggingface")))
        .or_else(|| set(env, "HOME").map(|h| PathBuf::from(h).join(".cache").join("huggingface")));
    if let Some(h) = home {
        files.push(h.join("token"));
    }
    for f in files {
        if let Ok(text) = std::fs::read_to_string(&f) {
            let t = text.trim();
            if !t.is_empty() {
                return Some((t.to_string(), f.display().to_string()));
            }
        }
    }
    None
}

/// The user name of the Hub login, or why there is none.
pub fn hub_username(env: Env) -> Result<String, String> {
    if set(env, "HF_HUB_OFFLINE").is_some_and(|v| v != "0" && !v.eq_ignore_ascii_case("false")) {
        return Err("HF_HUB_OFFLINE is set, so the Hub is not asked for your user name".into());
    }
    let Some((token, source)) = find_token(env) else {
        return Err(
            "you are not logged in to the Hugging Face Hub (no HF_TOKEN and no token file)".into(),
        );
    };
    let endpoint = set(env, "HF_ENDPOINT").unwrap_or_else(|| "https://huggingface.co".into());
    let url = format!("{}/api/whoami-v2", endpoint.trim_end_matches('/'));
    let tls = kb_hub::tls::tls_config().map_err(|e| e.to_string())?;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(tls)
        .timeout_global(Some(Duration::from_secs(15)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .get(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .header(
            "User-Agent",
            concat!("kernel-builder/", env!("CARGO_PKG_VERSION")),
        )
        .call()
        .map_err(|e| format!("cannot reach {endpoint} to look up your user name ({e})"))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("cannot read the answer of {url} ({e})"))?;
    if status == 401 || status == 403 {
        return Err(format!(
            "the Hub rejected the token from {source} (HTTP {status})"
        ));
    }
    if status != 200 {
        return Err(format!("{url} answered HTTP {status}"));
    }
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|_| format!("{url} did not answer with JSON"))?;
    match v.get("name").and_then(|n| n.as_str()) {
        Some(n) if !n.is_empty() => Ok(n.to_string()),
        _ => Err(format!("{url} did not say which user the token belongs to")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    #[test]
    fn token_sources_in_order() {
        let d = tempfile::tempdir().unwrap();
        let home = d.path().join("home");
        std::fs::create_dir_all(home.join(".cache/huggingface")).unwrap();
        std::fs::write(home.join(".cache/huggingface/token"), "hf_file\n").unwrap();
        let h = home.to_str().unwrap();
        let e = env_of(&[("HOME", h)]);
        assert_eq!(find_token(&e).unwrap().0, "hf_file");
        let e = env_of(&[("HOME", h), ("HF_TOKEN", " hf_env ")]);
        assert_eq!(
            find_token(&e).unwrap(),
            ("hf_env".into(), "HF_TOKEN".into())
        );
        let hf_home = d.path().join("hfhome");
        std::fs::create_dir_all(&hf_home).unwrap();
        std::fs::write(hf_home.join("token"), "hf_home").unwrap();
        let e = env_of(&[("HOME", h), ("HF_HOME", hf_home.to_str().unwrap())]);
        assert_eq!(find_token(&e).unwrap().0, "hf_home");
        let e = env_of(&[("HOME", "/nonexistent-kb-test")]);
        assert!(find_token(&e).is_none());
    }

    #[test]
    fn offline_and_logged_out_do_not_touch_the_network() {
        let e = env_of(&[
            ("HF_TOKEN", "hf_x"),
            ("HF_HUB_OFFLINE", "1"),
            ("HF_ENDPOINT", "http://0.0.0.0:1"),
        ]);
        assert!(hub_username(&e).unwrap_err().contains("HF_HUB_OFFLINE"));
        let e = env_of(&[
            ("HOME", "/nonexistent-kb-test"),
            ("HF_ENDPOINT", "http://0.0.0.0:1"),
        ]);
        assert!(hub_username(&e).unwrap_err().contains("not logged in"));
    }
}
