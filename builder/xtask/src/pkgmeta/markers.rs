//! `Requires-Dist` lines of wheel metadata (PEP 508): the requirement's
//! name, version specifier, and whether its environment marker holds for a
//! CPython on a Nix system, with no extras requested.
//!
//! Hand-written (~200 lines) rather than the `pep508_rs` crate, which brings
//! a URL parser and regex engine for what wheel metadata needs: names,
//! specifiers and `and`/`or` markers over the standard environment markers.
//! A marker this reader cannot evaluate is an error, never a guess.

/// One requirement that applies to the target environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// PEP 503-normalised name.
    pub name: String,
    /// Version specifier as written (`==4.8.1`, `>=1.0,<2`), `""` for any.
    pub specifier: String,
}

impl Requirement {
    /// The exact version of an `==X` pin (no wildcard, no other clause).
    pub fn pinned(&self) -> Option<&str> {
        let v = self.specifier.strip_prefix("==")?.trim();
        (!v.is_empty() && !v.contains([',', '*', '<', '>', '!', '~', '='])).then_some(v)
    }
}

/// The marker environment of a CPython (`cp313`) on a Nix system.
#[derive(Debug, Clone)]
pub struct Env {
    pub python_version: String,
    pub system: String,
}

impl Env {
    fn var(&self, name: &str) -> Option<String> {
        let (arch, os) = self.system.split_once('-').unwrap_or((&self.system, ""));
        Some(match name {
            "python_version" => self.python_version.clone(),
            // The patch level is unknown ahead of time; `.0` keeps comparisons
            // against minor versions right.
            "python_full_version" | "implementation_version" => {
                format!("{}.0", self.python_version)
            }
            "os_name" => "posix".into(),
            "sys_platform" => os.into(),
            "platform_system" => match os {
                "linux" => "Linux".into(),
                "darwin" => "Darwin".into(),
                o => o.into(),
            },
            "platform_machine" => match (os, arch) {
                ("darwin", "aarch64") => "arm64".into(),
                (_, a) => a.into(),
            },
            "platform_python_implementation" => "CPython".into(),
            "implementation_name" => "cpython".into(),
            // No extras are requested.
            "extra" => "".into(),
            _ => return None,
        })
    }
}

/// Parse a `Requires-Dist` value; `Ok(None)` when its marker does not hold.
pub fn requirement(line: &str, env: &Env) -> Result<Option<Requirement>, String> {
    let (req, marker) = match line.split_once(';') {
        Some((r, m)) => (r.trim(), Some(m.trim())),
        None => (line.trim(), None),
    };
    if let Some(m) = marker {
        if !evaluate(m, env)? {
            return Ok(None);
        }
    }
    if req.contains(" @ ") || req.contains("@ ") {
        return Err(format!(
            "`{line}`: direct URL requirements are not supported"
        ));
    }
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .unwrap_or(req.len());
    let name = &req[..end];
    if name.is_empty() {
        return Err(format!("`{line}`: no package name"));
    }
    let mut rest = req[end..].trim();
    if let Some(r) = rest.strip_prefix('[') {
        rest = r.split_once(']').map(|x| x.1).unwrap_or("").trim();
    }
    let specifier = rest
        .trim_start_matches('(')
        .trim_end_matches(')')
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    Ok(Some(Requirement {
        name: super::wheels::normalize(name),
        specifier,
    }))
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Var(String),
    Op(String),
    And,
    Or,
    Open,
    Close,
}

fn tokens(s: &str) -> Result<Vec<Tok>, String> {
    let b: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' || c == ')' {
            out.push(if c == '(' { Tok::Open } else { Tok::Close });
            i += 1;
        } else if c == '"' || c == '\'' {
            let end = b[i + 1..]
                .iter()
                .position(|&x| x == c)
                .ok_or_else(|| format!("unterminated string in marker `{s}`"))?;
            out.push(Tok::Str(b[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if "=!<>~".contains(c) {
            let mut j = i;
            while j < b.len() && "=!<>~".contains(b[j]) {
                j += 1;
            }
            out.push(Tok::Op(b[i..j].iter().collect()));
            i = j;
        } else if c.is_ascii_alphabetic() || c == '_' {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == '_' || b[j] == '.') {
                j += 1;
            }
            let w: String = b[i..j].iter().collect();
            i = j;
            match w.as_str() {
                "and" => out.push(Tok::And),
                "or" => out.push(Tok::Or),
                "in" => out.push(Tok::Op("in".into())),
                "not" => {
                    // `not in`
                    let rest: String = b[i..].iter().collect();
                    let t = rest.trim_start();
                    if let Some(after) = t.strip_prefix("in") {
                        i = b.len() - after.chars().count();
                        out.push(Tok::Op("not in".into()));
                    } else {
                        return Err(format!("unexpected `not` in marker `{s}`"));
                    }
                }
                _ => out.push(Tok::Var(w)),
            }
        } else {
            return Err(format!("unexpected `{c}` in marker `{s}`"));
        }
    }
    Ok(out)
}

/// Evaluate a marker expression for `env`.
pub fn evaluate(marker: &str, env: &Env) -> Result<bool, String> {
    let toks = tokens(marker)?;
    let mut p = Parser {
        toks: &toks,
        i: 0,
        env,
        src: marker,
    };
    let v = p.or()?;
    if p.i != toks.len() {
        return Err(format!("cannot read marker `{marker}`"));
    }
    Ok(v)
}

struct Parser<'a> {
    toks: &'a [Tok],
    i: usize,
    env: &'a Env,
    src: &'a str,
}

impl Parser<'_> {
    fn err(&self) -> String {
        format!("cannot read marker `{}`", self.src)
    }
    fn or(&mut self) -> Result<bool, String> {
        let mut v = self.and()?;
        while self.toks.get(self.i) == Some(&Tok::Or) {
            self.i += 1;
            let r = self.and()?;
            v = v || r;
        }
        Ok(v)
    }
    fn and(&mut self) -> Result<bool, String> {
        let mut v = self.atom()?;
        while self.toks.get(self.i) == Some(&Tok::And) {
            self.i += 1;
            let r = self.atom()?;
            v = v && r;
        }
        Ok(v)
    }
    fn value(&mut self) -> Result<(String, bool), String> {
        let t = self.toks.get(self.i).cloned().ok_or_else(|| self.err())?;
        self.i += 1;
        match t {
            Tok::Str(s) => Ok((s, false)),
            Tok::Var(v) => self
                .env
                .var(&v)
                .map(|x| (x, true))
                .ok_or_else(|| format!("unknown marker variable `{v}` in `{}`", self.src)),
            _ => Err(self.err()),
        }
    }
    fn atom(&mut self) -> Result<bool, String> {
        if self.toks.get(self.i) == Some(&Tok::Open) {
            self.i += 1;
            let v = self.or()?;
            if self.toks.get(self.i) != Some(&Tok::Close) {
                return Err(self.err());
            }
            self.i += 1;
            return Ok(v);
        }
        let (l, _) = self.value()?;
        let op = match self.toks.get(self.i) {
            Some(Tok::Op(o)) => o.clone(),
            _ => return Err(self.err()),
        };
        self.i += 1;
        let (r, _) = self.value()?;
        compare(&l, &op, &r).ok_or_else(|| self.err())
    }
}

fn version(s: &str) -> Option<Vec<u64>> {
    s.split('.').map(|p| p.parse().ok()).collect()
}

fn compare(l: &str, op: &str, r: &str) -> Option<bool> {
    let norm = |s: &str| super::wheels::normalize(s);
    match op {
        "in" => return Some(r.contains(l)),
        "not in" => return Some(!r.contains(l)),
        _ => {}
    }
    if let (Some(a), Some(b)) = (version(l), version(r)) {
        let n = a.len().max(b.len());
        let pad = |v: &[u64]| {
            let mut v = v.to_vec();
            v.resize(n, 0);
            v
        };
        let (pa, pb) = (pad(&a), pad(&b));
        return Some(match op {
            "==" | "===" => pa == pb,
            "!=" => pa != pb,
            "<" => pa < pb,
            "<=" => pa <= pb,
            ">" => pa > pb,
            ">=" => pa >= pb,
            // Compatible release: >= b and the same prefix but the last part.
            "~=" => b.len() >= 2 && pa >= pb && pa[..b.len() - 1] == b[..b.len() - 1],
            _ => return None,
        });
    }
    // Strings (and `extra`, compared normalised).
    Some(match op {
        "==" | "===" => l == r || (!l.is_empty() && norm(l) == norm(r)),
        "!=" => !(l == r || (!l.is_empty() && norm(l) == norm(r))),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(py: &str, system: &str) -> Env {
        Env {
            python_version: py.into(),
            system: system.into(),
        }
    }

    #[test]
    fn markers_of_real_wheels() {
        let linux = env("3.13", "x86_64-linux");
        let mac = env("3.13", "aarch64-darwin");
        let m = r#"platform_system == "Linux" and python_version < "3.15""#;
        assert!(evaluate(m, &linux).unwrap());
        assert!(!evaluate(m, &mac).unwrap());
        assert!(!evaluate("extra == 'cute'", &linux).unwrap());
        assert!(evaluate("python_full_version < '3.14'", &linux).unwrap());
        assert!(!evaluate("python_full_version < '3.11'", &linux).unwrap());
        assert!(evaluate("platform_machine == 'arm64'", &mac).unwrap());
        assert!(evaluate(
            "(sys_platform == 'darwin' or sys_platform == 'linux') and platform_machine != 'ppc64le'",
            &linux
        )
        .unwrap());
        assert!(evaluate("'linux' in sys_platform", &linux).unwrap());
        assert!(evaluate("sys_platform not in 'win32 cygwin'", &linux).unwrap());
        assert!(evaluate("python_version ~= '3.12'", &linux).unwrap());
        assert!(evaluate("bogus == '1'", &linux).is_err());
        assert!(evaluate("python_version <", &linux).is_err());
    }

    #[test]
    fn requirements_parse() {
        let e = env("3.13", "x86_64-linux");
        let r = requirement("nvidia-cutlass-dsl-libs-base==4.8.1", &e)
            .unwrap()
            .unwrap();
        assert_eq!(r.name, "nvidia-cutlass-dsl-libs-base");
        assert_eq!(r.pinned(), Some("4.8.1"));
        let r = requirement(
            "cuda-toolkit[cublas,cudart]==13.2.2; platform_system == \"Linux\"",
            &e,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (r.name.as_str(), r.pinned()),
            ("cuda-toolkit", Some("13.2.2"))
        );
        let r = requirement("Typing_Extensions (>=4.0, <5)", &e)
            .unwrap()
            .unwrap();
        assert_eq!(r.name, "typing-extensions");
        assert_eq!(r.specifier, ">=4.0,<5");
        assert_eq!(r.pinned(), None);
        assert_eq!(requirement("pytest; extra == 'dev'", &e).unwrap(), None);
        assert_eq!(
            requirement("tomli>=2.0 ; python_full_version < '3.11'", &e).unwrap(),
            None
        );
        assert!(requirement("x @ https://example/x.whl", &e).is_err());
    }
}
