//! Op-namespace hygiene of a kernel's Python sources.
//!
//! Every build registers its ops under a unique namespace (the ops id), so
//! two builds of one kernel can be loaded side by side. Python code that
//! registers ops with `torch.library` must therefore build op names with
//! `add_op_namespace_prefix(...)` from the generated `_ops` module. This
//! check finds registrations whose name is a string literal instead, e.g.
//!
//! ```python
//! @torch.library.register_fake("relu::relu_fwd")   # rejected
//! @torch.library.register_fake(add_op_namespace_prefix("relu_fwd"))   # ok
//! ```
//!
//! It works on tokens, not regular expressions: comments and strings are
//! recognised (so a registration inside a docstring is ignored), calls may
//! span lines, and `torch.library` may be reached through `import torch as
//! th`, `import torch.library as tl`, `from torch import library` or
//! `from torch.library import register_fake as rf`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// `torch.library` functions that take an op name, with the keyword name of
/// that argument.
const REGISTRATION_FUNCTIONS: &[(&str, &str)] = &[
    ("custom_op", "name"),
    ("triton_op", "name"),
    ("register_fake", "op"),
    ("register_kernel", "op"),
    ("register_vmap", "op"),
    ("register_torch_dispatch", "op"),
    ("register_autograd", "op"),
    ("register_autocast", "op"),
    ("impl_abstract", "qualname"),
    ("define", "qualname"),
    ("impl", "qualname"),
    ("Library", "ns"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Name(String),
    /// A string literal: raw source text, and whether it is an f-string whose
    /// namespace part (before `::`) is computed.
    Str {
        text: String,
        computed_namespace: bool,
    },
    Op(String),
    Other,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    col: usize,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Tokenize Python source (enough of it for this check). Never fails:
/// unterminated strings run to the end of the file.
fn tokenize(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let advance = |i: &mut usize, line: &mut usize, col: &mut usize, n: usize| {
        for _ in 0..n {
            if *i < chars.len() {
                if chars[*i] == '\n' {
                    *line += 1;
                    *col = 1;
                } else {
                    *col += 1;
                }
                *i += 1;
            }
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut col, 1);
            }
            continue;
        }
        if c.is_whitespace() || c == '\\' {
            advance(&mut i, &mut line, &mut col, 1);
            continue;
        }
        // String prefix + quote?
        if is_ident_start(c) || c == '"' || c == '\'' {
            let start = i;
            let mut j = i;
            while j < chars.len() && is_ident_char(chars[j]) {
                j += 1;
            }
            let word: String = chars[start..j].iter().collect();
            let is_prefix = word.len() <= 2
                && word
                    .chars()
                    .all(|ch| matches!(ch.to_ascii_lowercase(), 'r' | 'b' | 'u' | 'f' | 't'));
            if j < chars.len()
                && (chars[j] == '"' || chars[j] == '\'')
                && (is_prefix || word.is_empty())
            {
                let lower = word.to_ascii_lowercase();
                let raw = lower.contains('r');
                let fstring = lower.contains('f') || lower.contains('t');
                let q = chars[j];
                let triple = j + 2 < chars.len() && chars[j + 1] == q && chars[j + 2] == q;
                let qlen = if triple { 3 } else { 1 };
                let (tline, tcol) = (line, col);
                let body_start = j + qlen;
                let mut k = body_start;
                loop {
                    if k >= chars.len() {
                        break;
                    }
                    if chars[k] == '\\' && !raw {
                        k += 2;
                        continue;
                    }
                    if chars[k] == '\\' && raw {
                        // A raw string still cannot end with an odd backslash before the quote.
                        k += 2;
                        continue;
                    }
                    if !triple && chars[k] == '\n' {
                        break;
                    }
                    if chars[k] == q
                        && (!triple
                            || (k + 2 < chars.len() && chars[k + 1] == q && chars[k + 2] == q))
                    {
                        break;
                    }
                    k += 1;
                }
                let body_end = k.min(chars.len());
                let body: String = chars[body_start.min(body_end)..body_end].iter().collect();
                let end = (k + qlen).min(chars.len());
                let computed_namespace = fstring && {
                    let ns = body.split("::").next().unwrap_or("");
                    ns.contains('{')
                };
                let text: String = chars[start..end].iter().collect();
                let n = end - i;
                advance(&mut i, &mut line, &mut col, n);
                out.push(Token {
                    tok: Tok::Str {
                        text,
                        computed_namespace,
                    },
                    line: tline,
                    col: tcol,
                });
                continue;
            }
            if !word.is_empty() {
                let (tline, tcol) = (line, col);
                let n = j - i;
                advance(&mut i, &mut line, &mut col, n);
                out.push(Token {
                    tok: Tok::Name(word),
                    line: tline,
                    col: tcol,
                });
                continue;
            }
        }
        if c.is_ascii_digit() {
            let (tline, tcol) = (line, col);
            while i < chars.len() && (is_ident_char(chars[i]) || chars[i] == '.') {
                advance(&mut i, &mut line, &mut col, 1);
            }
            out.push(Token {
                tok: Tok::Other,
                line: tline,
                col: tcol,
            });
            continue;
        }
        let (tline, tcol) = (line, col);
        advance(&mut i, &mut line, &mut col, 1);
        out.push(Token {
            tok: Tok::Op(c.to_string()),
            line: tline,
            col: tcol,
        });
    }
    out
}

/// A registration with a literal op name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct LiteralRegistration {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// `torch.library.register_fake`
    pub function: String,
    /// The literal as written.
    pub literal: String,
}

impl std::fmt::Display for LiteralRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = literal_value(&self.literal);
        let hint = if self.function.ends_with("Library") {
            "use this build's namespace from `._ops` (`ops.name`)".to_string()
        } else {
            let rest = inner.split_once("::").map(|(_, r)| r).unwrap_or(&inner);
            format!("use `add_op_namespace_prefix(\"{rest}\")` from `._ops`")
        };
        write!(
            f,
            "{}:{}:{}: `{}` registers the literal op name {}; {hint} so the op lands in this build's unique namespace",
            self.file.display(),
            self.line,
            self.column,
            self.function,
            self.literal
        )
    }
}

/// The content of a simple string literal (prefix and quotes removed).
fn literal_value(lit: &str) -> String {
    let s = lit.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let s = s
        .strip_prefix("\"\"\"")
        .and_then(|s| s.strip_suffix("\"\"\""))
        .or_else(|| s.strip_prefix("'''").and_then(|s| s.strip_suffix("'''")))
        .or_else(|| s.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
        .or_else(|| s.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .unwrap_or(s);
    s.to_string()
}

fn name(t: Option<&Token>) -> Option<&str> {
    match t.map(|t| &t.tok) {
        Some(Tok::Name(n)) => Some(n),
        _ => None,
    }
}

fn op(t: Option<&Token>, o: &str) -> bool {
    matches!(t.map(|t| &t.tok), Some(Tok::Op(x)) if x == o)
}

fn registration_keyword(func: &str) -> Option<&'static str> {
    REGISTRATION_FUNCTIONS
        .iter()
        .find(|(f, _)| *f == func)
        .map(|(_, k)| *k)
}

/// Scan Python source text; `file` is only used in the findings.
pub fn scan_source(src: &str, file: &Path) -> Vec<LiteralRegistration> {
    let toks = tokenize(src);
    // Aliases: names bound to the `torch` module, to `torch.library`, and to
    // registration functions.
    let mut torch_names: Vec<String> = vec!["torch".into()];
    let mut library_names: Vec<String> = Vec::new();
    let mut fn_aliases: BTreeMap<String, String> = BTreeMap::new();

    // Pass 1: imports.
    let mut i = 0;
    while i < toks.len() {
        let at_stmt_start = i == 0
            || matches!(toks[i - 1].tok, Tok::Op(ref o) if o == ";")
            || toks[i - 1].line < toks[i].line;
        if !at_stmt_start {
            i += 1;
            continue;
        }
        match name(toks.get(i)) {
            Some("import") => {
                // import torch [as x], import torch.library as y, ...
                let mut j = i + 1;
                loop {
                    let mut dotted = Vec::new();
                    while let Some(n) = name(toks.get(j)) {
                        dotted.push(n.to_string());
                        if op(toks.get(j + 1), ".") {
                            j += 2;
                        } else {
                            j += 1;
                            break;
                        }
                    }
                    let alias = if name(toks.get(j)) == Some("as") {
                        let a = name(toks.get(j + 1)).map(str::to_string);
                        j += 2;
                        a
                    } else {
                        None
                    };
                    let path = dotted.join(".");
                    match (path.as_str(), alias) {
                        ("torch", Some(a)) => torch_names.push(a),
                        ("torch.library", Some(a)) => library_names.push(a),
                        _ => {}
                    }
                    if op(toks.get(j), ",") {
                        j += 1;
                        continue;
                    }
                    break;
                }
                i = j;
                continue;
            }
            Some("from") => {
                let mut j = i + 1;
                let mut dotted = Vec::new();
                while let Some(n) = name(toks.get(j)) {
                    if n == "import" {
                        break;
                    }
                    dotted.push(n.to_string());
                    j += 1;
                    if op(toks.get(j), ".") {
                        j += 1;
                    }
                }
                if name(toks.get(j)) != Some("import") {
                    i = j.max(i + 1);
                    continue;
                }
                j += 1;
                let paren = op(toks.get(j), "(");
                if paren {
                    j += 1;
                }
                let module = dotted.join(".");
                while let Some(n) = name(toks.get(j)).map(str::to_string) {
                    j += 1;
                    let alias = if name(toks.get(j)) == Some("as") {
                        let a = name(toks.get(j + 1)).map(str::to_string);
                        j += 2;
                        a
                    } else {
                        None
                    };
                    let bound = alias.unwrap_or_else(|| n.clone());
                    if module == "torch" && n == "library" {
                        library_names.push(bound);
                    } else if module == "torch.library" && registration_keyword(&n).is_some() {
                        fn_aliases.insert(bound, n);
                    }
                    if op(toks.get(j), ",") {
                        j += 1;
                        continue;
                    }
                    break;
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }

    // Pass 2: calls.
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let prev_is_dot = i > 0 && op(toks.get(i - 1), ".");
        let mut matched: Option<(String, usize)> = None; // (function, index of '(')
        if !prev_is_dot {
            if let Some(n) = name(toks.get(i)) {
                // torch.library.fn(
                if torch_names.iter().any(|t| t == n)
                    && op(toks.get(i + 1), ".")
                    && name(toks.get(i + 2)) == Some("library")
                    && op(toks.get(i + 3), ".")
                {
                    if let Some(f) = name(toks.get(i + 4)) {
                        if registration_keyword(f).is_some() && op(toks.get(i + 5), "(") {
                            matched = Some((format!("{n}.library.{f}"), i + 5));
                        }
                    }
                }
                // library.fn(
                if matched.is_none()
                    && library_names.iter().any(|l| l == n)
                    && op(toks.get(i + 1), ".")
                {
                    if let Some(f) = name(toks.get(i + 2)) {
                        if registration_keyword(f).is_some() && op(toks.get(i + 3), "(") {
                            matched = Some((format!("{n}.{f}"), i + 3));
                        }
                    }
                }
                // fn( imported from torch.library
                if matched.is_none() && op(toks.get(i + 1), "(") {
                    if let Some(real) = fn_aliases.get(n) {
                        let shown = if real == n {
                            format!("torch.library.{real}")
                        } else {
                            format!("{n} (torch.library.{real})")
                        };
                        matched = Some((shown, i + 1));
                    }
                }
            }
        }
        let Some((function, open)) = matched else {
            i += 1;
            continue;
        };
        let real = function
            .rsplit('.')
            .next()
            .unwrap_or(&function)
            .trim_end_matches(')')
            .to_string();
        let keyword = registration_keyword(&real).unwrap_or("name");
        if let Some(arg) = name_argument(&toks, open, keyword) {
            if let Some(first) = toks.get(arg) {
                if let Tok::Str {
                    text,
                    computed_namespace: false,
                } = &first.tok
                {
                    out.push(LiteralRegistration {
                        file: file.to_path_buf(),
                        line: first.line,
                        column: first.col,
                        function,
                        literal: text.clone(),
                    });
                }
            }
        }
        i = open + 1;
    }
    out
}

/// Index of the first token of the op-name argument of the call whose `(` is
/// at `open`: the first positional argument, or the `keyword=` argument.
fn name_argument(toks: &[Token], open: usize, keyword: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut arg_start = open + 1;
    let mut first_positional: Option<usize> = None;
    let mut j = open + 1;
    let check_arg = |start: usize, first_positional: &mut Option<usize>| -> Option<usize> {
        // keyword argument?
        if let (Some(n), true) = (name(toks.get(start)), op(toks.get(start + 1), "=")) {
            if !op(toks.get(start + 2), "=") {
                return (n == keyword).then_some(start + 2);
            }
        }
        if first_positional.is_none() && !op(toks.get(start), ")") && !op(toks.get(start), "*") {
            *first_positional = Some(start);
        }
        None
    };
    while j < toks.len() {
        match &toks[j].tok {
            Tok::Op(o) if o == "(" || o == "[" || o == "{" => depth += 1,
            Tok::Op(o) if o == ")" || o == "]" || o == "}" => {
                if depth == 0 {
                    if j > arg_start {
                        if let Some(k) = check_arg(arg_start, &mut first_positional) {
                            return Some(k);
                        }
                    }
                    return first_positional;
                }
                depth -= 1;
            }
            Tok::Op(o) if o == "," && depth == 0 => {
                if let Some(k) = check_arg(arg_start, &mut first_positional) {
                    return Some(k);
                }
                arg_start = j + 1;
            }
            _ => {}
        }
        j += 1;
    }
    first_positional
}

/// Scan every `.py` file under `dir` (recursively, sorted; `__pycache__`
/// skipped). Files that are not UTF-8 are skipped.
pub fn scan_dir(dir: &Path) -> std::io::Result<Vec<LiteralRegistration>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let ft = entry.file_type()?;
            let path = entry.path();
            if ft.is_dir() {
                if entry.file_name() != "__pycache__" {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "py" || e == "pyi") {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f)?;
        if let Ok(text) = String::from_utf8(bytes) {
            out.extend(scan_source(&text, &f));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(src: &str) -> Vec<(usize, String, String)> {
        scan_source(src, Path::new("x.py"))
            .into_iter()
            .map(|f| (f.line, f.function, f.literal))
            .collect()
    }

    #[test]
    fn literal_names_are_found() {
        let src = r#"
import torch
from ._ops import add_op_namespace_prefix, ops

@torch.library.register_fake("relu::relu_fwd")
def a(x): ...

@torch.library.register_fake(add_op_namespace_prefix("relu_fwd"))
def b(x): ...

@torch.library.custom_op(
    # a comment with "quotes" and torch.library.custom_op("x::y")
    "relu::fused",
    mutates_args=(),
)
def c(x): ...

torch.library.define(add_op_namespace_prefix("g(Tensor x) -> Tensor"))
torch.library.define("relu::g(Tensor x) -> Tensor")
torch.library.impl(qualname="relu::g", types="CPU", func=c)
torch.library.register_kernel(ops.relu.default, "cpu")
"""torch.library.register_fake("in::docstring")"""
"#;
        let found = scan(src);
        assert_eq!(
            found,
            vec![
                (
                    5,
                    "torch.library.register_fake".into(),
                    "\"relu::relu_fwd\"".into()
                ),
                (
                    13,
                    "torch.library.custom_op".into(),
                    "\"relu::fused\"".into()
                ),
                (
                    19,
                    "torch.library.define".into(),
                    "\"relu::g(Tensor x) -> Tensor\"".into()
                ),
                (20, "torch.library.impl".into(), "\"relu::g\"".into()),
            ]
        );
    }

    #[test]
    fn aliases_are_followed() {
        let src = r#"
import torch as th
import torch.library as tl
from torch import library as L
from torch.library import (
    register_fake as rf,
    triton_op,
)
th.library.register_vmap("a::b")
tl.register_torch_dispatch('a::c', None)
L.triton_op(name=f"a::d", mutates_args={})
rf(r"a::e")
triton_op(f"{ns}::ok", mutates_args={})
other.register_fake("not::torch")
"#;
        let found = scan(src);
        let lines: Vec<usize> = found.iter().map(|f| f.0).collect();
        assert_eq!(lines, vec![9, 10, 11, 12]);
        assert_eq!(found[3].1, "rf (torch.library.register_fake)");
    }

    #[test]
    fn message_suggests_the_fix() {
        let f = &scan_source(
            "import torch\ntorch.library.register_fake('relu::fwd')\n",
            Path::new("pkg/x.py"),
        )[0];
        let msg = f.to_string();
        assert!(msg.starts_with("pkg/x.py:2:29:"), "{msg}");
        assert!(msg.contains("add_op_namespace_prefix(\"fwd\")"), "{msg}");
    }

    #[test]
    fn garbage_does_not_panic() {
        for src in [
            "'''",
            "torch.library.register_fake(",
            "\"\\",
            "f'{",
            "é(((\"",
            "r'\\",
        ] {
            let _ = scan(src);
        }
    }
}
