//! Just enough of Python to read a package's public surface: a tokenizer
//! (strings with every prefix and quoting style, f-strings with nested
//! expressions, comments, backslash continuations, bracket nesting,
//! indentation) and a reader for module-level statements: `__all__`
//! assignments, `class`/`def` statements and imports.
//!
//! Only module-level statements count (a logical line starting in column 0),
//! so `__all__` updates inside `if`/`try` blocks or functions are ignored, as
//! are names inside strings and comments.

use std::fmt;

/// A syntax problem, with a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for SyntaxError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Name(String),
    /// A string literal. `value` is the decoded text of a plain (non-bytes,
    /// non-f) string; `None` when the literal is not a constant `str`.
    Str {
        value: Option<String>,
    },
    Number,
    Op(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub line: usize,
    pub col: usize,
}

/// One logical line: its indentation (in columns, tabs to multiples of 8)
/// and its tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogicalLine {
    pub indent: usize,
    pub tokens: Vec<Token>,
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    col: usize,
}

const OPERATORS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "->", ":=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=",
    "@=", "==", "!=", "<=", ">=", "**", "//", "<<", ">>", "<>",
];

impl Lexer {
    fn new(src: &str) -> Self {
        let src_body = src.strip_prefix('\u{feff}').unwrap_or(src);
        Lexer {
            chars: src_body.chars().collect(),
            pos: 0,
            line: 1,
            col: 1,
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn err<T>(
        &self,
        line: usize,
        col: usize,
        message: impl Into<String>,
    ) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            line,
            col,
            message: message.into(),
        })
    }

    /// Whether the text at the cursor is a line continuation (`\` + newline).
    fn at_continuation(&self) -> bool {
        self.peek(0) == Some('\\')
            && (self.peek(1) == Some('\n')
                || (self.peek(1) == Some('\r') && self.peek(2) == Some('\n')))
    }

    fn skip_continuation(&mut self) {
        self.bump();
        if self.peek(0) == Some('\r') {
            self.bump();
        }
        self.bump();
    }

    /// If the cursor is at a string prefix followed by a quote, return the
    /// prefix length.
    fn string_prefix_len(&self) -> Option<usize> {
        let mut n = 0;
        while n < 3 {
            match self.peek(n) {
                Some('\'' | '"') => break,
                Some(c) if "rRbBuUfFtT".contains(c) => n += 1,
                _ => return None,
            }
        }
        if !matches!(self.peek(n), Some('\'' | '"')) {
            return None;
        }
        let prefix: String = (0..n)
            .filter_map(|i| self.peek(i))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let valid = matches!(
            prefix.as_str(),
            "" | "r" | "u" | "b" | "f" | "t" | "br" | "rb" | "fr" | "rf" | "tr" | "rt"
        );
        valid.then_some(n)
    }

    /// Scan a string literal starting at the prefix.
    fn string(&mut self) -> Result<Tok, SyntaxError> {
        let (line, col) = (self.line, self.col);
        let n = self.string_prefix_len().expect("called at a string");
        let mut prefix = String::new();
        for _ in 0..n {
            prefix.push(self.bump().unwrap().to_ascii_lowercase());
        }
        let raw = prefix.contains('r');
        let bytes = prefix.contains('b');
        let formatted = prefix.contains('f') || prefix.contains('t');
        let quote = self.bump().unwrap();
        let triple = self.peek(0) == Some(quote) && self.peek(1) == Some(quote);
        if triple {
            self.bump();
            self.bump();
        }
        let mut value = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                return self.err(line, col, "unterminated string literal");
            };
            if c == quote {
                if !triple {
                    self.bump();
                    break;
                }
                if self.peek(1) == Some(quote) && self.peek(2) == Some(quote) {
                    self.bump();
                    self.bump();
                    self.bump();
                    break;
                }
                self.bump();
                value.push(c);
                continue;
            }
            if c == '\n' && !triple {
                return self.err(
                    line,
                    col,
                    "unterminated string literal (missing closing quote)",
                );
            }
            if c == '\\' {
                self.bump();
                let Some(next) = self.bump() else {
                    return self.err(line, col, "unterminated string literal");
                };
                if raw {
                    value.push('\\');
                    value.push(next);
                } else {
                    self.escape(next, &mut value);
                }
                continue;
            }
            if formatted && c == '{' {
                if self.peek(1) == Some('{') {
                    self.bump();
                    self.bump();
                    value.push('{');
                    continue;
                }
                self.replacement_field()?;
                continue;
            }
            if formatted && c == '}' && self.peek(1) == Some('}') {
                self.bump();
                self.bump();
                value.push('}');
                continue;
            }
            self.bump();
            value.push(c);
        }
        Ok(Tok::Str {
            value: (!bytes && !formatted).then_some(value),
        })
    }

    /// Decode the escape after a backslash in a non-raw string.
    fn escape(&mut self, c: char, out: &mut String) {
        let hex = |lexer: &mut Self, digits: usize| -> Option<char> {
            let mut v = 0u32;
            for _ in 0..digits {
                let d = lexer.peek(0)?.to_digit(16)?;
                lexer.bump();
                v = v * 16 + d;
            }
            char::from_u32(v)
        };
        match c {
            '\n' => {}
            '\r' => {
                if self.peek(0) == Some('\n') {
                    self.bump();
                }
            }
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0'..='7' => {
                let mut v = c.to_digit(8).unwrap();
                for _ in 0..2 {
                    match self.peek(0).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            self.bump();
                            v = v * 8 + d;
                        }
                        None => break,
                    }
                }
                out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
            }
            'x' => out.push(hex(self, 2).unwrap_or('\u{fffd}')),
            'u' => out.push(hex(self, 4).unwrap_or('\u{fffd}')),
            'U' => out.push(hex(self, 8).unwrap_or('\u{fffd}')),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' | '\'' | '"' => out.push(c),
            // `\N{NAME}` and unknown escapes are kept as written.
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }

    /// Skip an f-string replacement field `{expr!r:spec}`, which may hold
    /// nested brackets, strings (any quotes) and nested fields in the spec.
    fn replacement_field(&mut self) -> Result<(), SyntaxError> {
        let (line, col) = (self.line, self.col);
        self.bump(); // `{`
        let mut depth = 1usize;
        loop {
            if self.string_prefix_len().is_some() && !self.prev_is_ident() {
                self.string()?;
                continue;
            }
            let Some(c) = self.peek(0) else {
                return self.err(line, col, "unterminated f-string replacement field");
            };
            match c {
                '{' | '[' | '(' => depth += 1,
                '}' | ']' | ')' => {
                    depth -= 1;
                    if depth == 0 {
                        self.bump();
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    fn prev_is_ident(&self) -> bool {
        self.pos > 0
            && self
                .chars
                .get(self.pos - 1)
                .is_some_and(|c| c.is_alphanumeric() || *c == '_')
    }

    fn name(&mut self) -> Tok {
        let mut s = String::new();
        while let Some(c) = self.peek(0) {
            if c.is_alphanumeric() || c == '_' {
                s.push(c);
                self.bump();
            } else {
                break;
            }
        }
        Tok::Name(s)
    }

    fn number(&mut self) -> Tok {
        let mut prev = ' ';
        let hex = self.peek(0) == Some('0') && matches!(self.peek(1), Some('x' | 'X'));
        while let Some(c) = self.peek(0) {
            let exponent_sign = !hex && matches!(c, '+' | '-') && matches!(prev, 'e' | 'E');
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || exponent_sign {
                prev = c;
                self.bump();
            } else {
                break;
            }
        }
        Tok::Number
    }

    fn operator(&mut self) -> Tok {
        for op in OPERATORS {
            if op.chars().enumerate().all(|(i, c)| self.peek(i) == Some(c)) {
                for _ in 0..op.chars().count() {
                    self.bump();
                }
                return Tok::Op((*op).to_string());
            }
        }
        Tok::Op(self.bump().unwrap().to_string())
    }

    fn lines(mut self) -> Result<Vec<LogicalLine>, SyntaxError> {
        let mut out = Vec::new();
        let mut current: Option<LogicalLine> = None;
        // Open brackets: (char, line, col).
        let mut stack: Vec<(char, usize, usize)> = Vec::new();
        let mut at_line_start = true;
        loop {
            if at_line_start && stack.is_empty() {
                // Measure indentation of a new physical line.
                let mut indent = 0usize;
                while let Some(c) = self.peek(0) {
                    match c {
                        ' ' => indent += 1,
                        '\t' => indent = (indent / 8 + 1) * 8,
                        '\u{c}' => indent = 0,
                        _ => break,
                    }
                    self.bump();
                }
                at_line_start = false;
                if current.is_none() {
                    match self.peek(0) {
                        // Blank and comment-only lines do not start logical lines.
                        None | Some('\n' | '#' | '\r') => {}
                        _ if self.at_continuation() => {}
                        _ => {
                            current = Some(LogicalLine {
                                indent,
                                tokens: Vec::new(),
                            })
                        }
                    }
                }
            }
            let Some(c) = self.peek(0) else { break };
            let (line, col) = (self.line, self.col);
            match c {
                '\n' => {
                    self.bump();
                    if stack.is_empty() {
                        if let Some(l) = current.take() {
                            out.push(l);
                        }
                        at_line_start = true;
                    }
                }
                ' ' | '\t' | '\r' | '\u{c}' => {
                    self.bump();
                }
                '#' => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.bump();
                    }
                }
                '\\' if self.at_continuation() => self.skip_continuation(),
                _ => {
                    let tok = if self.string_prefix_len().is_some() {
                        self.string()?
                    } else if c.is_alphabetic() || c == '_' {
                        self.name()
                    } else if c.is_ascii_digit()
                        || (c == '.' && self.peek(1).is_some_and(|d| d.is_ascii_digit()))
                    {
                        self.number()
                    } else {
                        let op = self.operator();
                        if let Tok::Op(s) = &op {
                            match s.as_str() {
                                "(" | "[" | "{" => {
                                    stack.push((s.chars().next().unwrap(), line, col))
                                }
                                ")" | "]" | "}" => {
                                    let close = s.chars().next().unwrap();
                                    let want = match close {
                                        ')' => '(',
                                        ']' => '[',
                                        _ => '{',
                                    };
                                    match stack.pop() {
                                        Some((open, _, _)) if open == want => {}
                                        Some((open, l, c2)) => {
                                            return self.err(
                                                line,
                                                col,
                                                format!("`{close}` does not match `{open}` opened at {l}:{c2}"),
                                            )
                                        }
                                        None => {
                                            return self.err(line, col, format!("unmatched `{close}`"))
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                        op
                    };
                    let l = current.get_or_insert_with(|| LogicalLine {
                        indent: 0,
                        tokens: Vec::new(),
                    });
                    l.tokens.push(Token { tok, line, col });
                }
            }
        }
        if let Some((open, line, col)) = stack.pop() {
            return self.err(line, col, format!("`{open}` is never closed"));
        }
        if let Some(l) = current.take() {
            out.push(l);
        }
        Ok(out.into_iter().filter(|l| !l.tokens.is_empty()).collect())
    }
}

/// Tokenize Python source into logical lines.
pub fn logical_lines(src: &str) -> Result<Vec<LogicalLine>, SyntaxError> {
    Lexer::new(src).lines()
}

/// `from <module> import <names>` or `import <module>` at module level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Module path as written, with leading dots for relative imports
    /// (`.layers`, `.`, `torch.nn`).
    pub module: String,
    /// Imported `(name, bound_as)` pairs for `from` imports (`*` for star
    /// imports); empty for plain `import`.
    pub names: Vec<(String, String)>,
    pub line: usize,
}

/// The public surface of one module.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Module {
    /// Names in `__all__` (after all module-level updates), `None` when the
    /// module never assigns it.
    pub all: Option<Vec<String>>,
    /// Parts of `__all__` that are not string literals, as `line: text`.
    pub all_unresolved: Vec<String>,
    /// Module-level `class` statements, in order.
    pub classes: Vec<String>,
    /// Module-level `def`/`async def` statements, in order.
    pub functions: Vec<String>,
    pub imports: Vec<Import>,
}

const COMPOUND: &[&str] = &[
    "if", "elif", "else", "for", "while", "try", "except", "finally", "with", "def", "class",
    "async", "match", "case",
];

fn is_op(t: &Token, op: &str) -> bool {
    matches!(&t.tok, Tok::Op(o) if o == op)
}

fn is_name(t: &Token, name: &str) -> bool {
    matches!(&t.tok, Tok::Name(n) if n == name)
}

/// Split a logical line into simple statements at top-level `;`.
fn statements(line: &LogicalLine) -> Vec<&[Token]> {
    let toks = &line.tokens[..];
    if toks
        .first()
        .is_some_and(|t| matches!(&t.tok, Tok::Name(n) if COMPOUND.contains(&n.as_str())))
    {
        return vec![toks];
    }
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if let Tok::Op(o) = &t.tok {
            match o.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                ";" if depth == 0 => {
                    out.push(&toks[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    out.push(&toks[start..]);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

/// Split tokens at commas of nesting depth 0.
fn split_commas(toks: &[Token]) -> Vec<&[Token]> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        if let Tok::Op(o) = &t.tok {
            match o.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                "," if depth == 0 => {
                    out.push(&toks[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    out.push(&toks[start..]);
    // A trailing comma leaves an empty last element.
    if out.last().is_some_and(|s| s.is_empty()) {
        out.pop();
    }
    out
}

/// Index of the first `op` at nesting depth 0.
fn top_level(toks: &[Token], op: &str) -> Option<usize> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate() {
        if let Tok::Op(o) = &t.tok {
            match o.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                o2 if o2 == op && depth == 0 => return Some(i),
                _ => {}
            }
        }
    }
    None
}

/// Index of the bracket closing the one at `open`.
fn closing(toks: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, t) in toks.iter().enumerate().skip(open) {
        if let Tok::Op(o) = &t.tok {
            match o.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
    }
    None
}

fn describe(toks: &[Token]) -> String {
    let mut s = String::new();
    for t in toks {
        let part = match &t.tok {
            Tok::Name(n) => n.clone(),
            Tok::Str { value: Some(v) } => format!("{v:?}"),
            Tok::Str { value: None } => "<string>".into(),
            Tok::Number => "<number>".into(),
            Tok::Op(o) => o.clone(),
        };
        if !s.is_empty()
            && !matches!(part.as_str(), "." | "," | ")" | "]")
            && !s.ends_with(['.', '(', '[', '*'])
        {
            s.push(' ');
        }
        s.push_str(&part);
    }
    s
}

/// A single element: one or more adjacent string literals (implicitly
/// concatenated).
fn string_element(toks: &[Token]) -> Option<String> {
    if toks.is_empty() {
        return None;
    }
    let mut s = String::new();
    for t in toks {
        match &t.tok {
            Tok::Str { value: Some(v) } => s.push_str(v),
            _ => return None,
        }
    }
    Some(s)
}

/// Evaluate a sequence-of-strings expression: `[..]`, `(..)`, a bare
/// sequence, or `+` concatenations of those.
fn string_sequence(toks: &[Token], names: &mut Vec<String>, unresolved: &mut Vec<String>) {
    // Split at top-level `+`.
    let mut depth = 0i32;
    let mut start = 0;
    let mut terms = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if let Tok::Op(o) = &t.tok {
            match o.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                "+" if depth == 0 => {
                    terms.push(&toks[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    terms.push(&toks[start..]);
    let bare = terms.len() == 1 && top_level(toks, ",").is_some();
    for term in terms {
        let items: Vec<&[Token]> = if bare {
            split_commas(term)
        } else if term.len() >= 2
            && (is_op(&term[0], "[") || is_op(&term[0], "("))
            && closing(term, 0) == Some(term.len() - 1)
        {
            split_commas(&term[1..term.len() - 1])
        } else if let Some(s) = string_element(term) {
            // `__all__ = "name"` is a bug in Python (a string, iterated by
            // characters), but `append("name")` passes a single element.
            names.push(s);
            continue;
        } else {
            unresolved.push(format!(
                "{}: {}",
                term.first().map_or(0, |t| t.line),
                describe(term)
            ));
            continue;
        };
        for item in items {
            match string_element(item) {
                Some(s) => names.push(s),
                None => unresolved.push(format!(
                    "{}: {}",
                    item.first().map_or(0, |t| t.line),
                    describe(item)
                )),
            }
        }
    }
}

fn dotted(toks: &[Token]) -> (String, usize) {
    let mut s = String::new();
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].tok {
            Tok::Op(o) if o == "." || o == "..." => s.push_str(o),
            Tok::Name(n) if n != "import" && (s.is_empty() || s.ends_with('.')) => s.push_str(n),
            _ => break,
        }
        i += 1;
    }
    (s, i)
}

fn parse_import(stmt: &[Token]) -> Option<Import> {
    let line = stmt[0].line;
    if is_name(&stmt[0], "from") {
        let (module, used) = dotted(&stmt[1..]);
        let rest = &stmt[1 + used..];
        if rest.is_empty() || !is_name(&rest[0], "import") {
            return None;
        }
        let mut list = &rest[1..];
        if list.first().is_some_and(|t| is_op(t, "(")) && list.last().is_some_and(|t| is_op(t, ")"))
        {
            list = &list[1..list.len() - 1];
        }
        let mut names = Vec::new();
        for item in split_commas(list) {
            match item {
                [t] if is_op(t, "*") => names.push(("*".to_string(), "*".to_string())),
                [Token {
                    tok: Tok::Name(n), ..
                }] => names.push((n.clone(), n.clone())),
                [Token {
                    tok: Tok::Name(n), ..
                }, kw, Token {
                    tok: Tok::Name(a), ..
                }] if is_name(kw, "as") => names.push((n.clone(), a.clone())),
                _ => {}
            }
        }
        Some(Import {
            module,
            names,
            line,
        })
    } else if is_name(&stmt[0], "import") {
        let (module, _) = dotted(&stmt[1..]);
        Some(Import {
            module,
            names: Vec::new(),
            line,
        })
    } else {
        None
    }
}

/// Read a module's public surface from its source.
pub fn parse_module(src: &str) -> Result<Module, SyntaxError> {
    let mut m = Module::default();
    for line in logical_lines(src)? {
        if line.indent != 0 {
            continue;
        }
        for stmt in statements(&line) {
            let first = &stmt[0];
            match &first.tok {
                Tok::Name(kw) if kw == "class" || kw == "def" => {
                    if let Some(Token {
                        tok: Tok::Name(n), ..
                    }) = stmt.get(1)
                    {
                        if kw == "class" {
                            m.classes.push(n.clone());
                        } else {
                            m.functions.push(n.clone());
                        }
                    }
                }
                Tok::Name(kw) if kw == "async" => {
                    if let (
                        Some(d),
                        Some(Token {
                            tok: Tok::Name(n), ..
                        }),
                    ) = (stmt.get(1), stmt.get(2))
                    {
                        if is_name(d, "def") {
                            m.functions.push(n.clone());
                        }
                    }
                }
                Tok::Name(kw) if kw == "from" || kw == "import" => {
                    if let Some(i) = parse_import(stmt) {
                        m.imports.push(i);
                    }
                }
                Tok::Name(n) if n == "__all__" => all_statement(stmt, &mut m),
                _ => {}
            }
        }
    }
    Ok(m)
}

fn all_statement(stmt: &[Token], m: &mut Module) {
    let Some(second) = stmt.get(1) else { return };
    let mut names = Vec::new();
    let mut unresolved = Vec::new();
    if is_op(second, "=") || is_op(second, ":") {
        // `__all__ = value`, `__all__: annotation = value`, or a chained
        // `__all__ = other = value`: the value follows the last `=`.
        let Some(mut eq) = top_level(&stmt[1..], "=").map(|i| i + 1) else {
            return;
        };
        while let Some(next) = top_level(&stmt[eq + 1..], "=") {
            eq += 1 + next;
        }
        let value = &stmt[eq + 1..];
        string_sequence(value, &mut names, &mut unresolved);
        m.all = Some(names);
        m.all_unresolved = unresolved;
        return;
    }
    if is_op(second, "+=") {
        string_sequence(&stmt[2..], &mut names, &mut unresolved);
    } else if is_op(second, ".") {
        let method = match stmt.get(2) {
            Some(Token {
                tok: Tok::Name(n), ..
            }) => n.as_str(),
            _ => return,
        };
        let Some(open) = stmt.get(3).filter(|t| is_op(t, "(")).map(|_| 3) else {
            return;
        };
        let Some(close) = closing(stmt, open) else {
            return;
        };
        let args = &stmt[open + 1..close];
        match method {
            "extend" => string_sequence(args, &mut names, &mut unresolved),
            "append" => match string_element(args) {
                Some(s) => names.push(s),
                None => unresolved.push(format!("{}: {}", stmt[0].line, describe(args))),
            },
            "remove" => {
                if let (Some(s), Some(all)) = (string_element(args), m.all.as_mut()) {
                    if let Some(i) = all.iter().position(|n| *n == s) {
                        all.remove(i);
                    }
                }
                return;
            }
            _ => return,
        }
    } else {
        return;
    }
    m.all.get_or_insert_with(Vec::new).extend(names);
    m.all_unresolved.extend(unresolved);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(src: &str) -> Option<Vec<String>> {
        parse_module(src).unwrap().all
    }

    fn v(names: &[&str]) -> Option<Vec<String>> {
        Some(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn list_tuple_and_bare_forms() {
        assert_eq!(all("__all__ = ['a', \"b\"]\n"), v(&["a", "b"]));
        assert_eq!(all("__all__ = ('a', 'b',)\n"), v(&["a", "b"]));
        assert_eq!(all("__all__ = 'a', 'b'\n"), v(&["a", "b"]));
        assert_eq!(all("__all__: list[str] = ['a']\n"), v(&["a"]));
        assert_eq!(all("__all__ = []\n"), v(&[]));
        assert_eq!(all("__all__ = 'a',\n"), v(&["a"]));
        assert_eq!(all("__all__ = x = ['chained']\n"), v(&["chained"]));
        assert_eq!(all("x = 1\n"), None);
    }

    #[test]
    fn multiline_comments_and_continuations() {
        let src = r#"
import torch  # __all__ = ["not_this"]

__all__ = [
    # a comment with a ] bracket and "quotes"
    "relu",   # trailing comment
    'gelu', "fused_" "add",
    """doc""",
]
x = \
    1
"#;
        assert_eq!(all(src), v(&["relu", "gelu", "fused_add", "doc"]));
        let cont = "__all__ = \\\n    ['a',\\\n 'b']\n";
        assert_eq!(all(cont), v(&["a", "b"]));
    }

    #[test]
    fn updates_and_concatenation() {
        let src = "__all__ = ['a']\n__all__ += ['b']\n__all__.extend(('c', 'd'))\n__all__.append('e')\n__all__.remove('a')\n";
        assert_eq!(all(src), v(&["b", "c", "d", "e"]));
        assert_eq!(all("__all__ = ['a'] + ['b']\n"), v(&["a", "b"]));
        // Reassignment resets.
        assert_eq!(all("__all__ = ['a']\n__all__ = ['z']\n"), v(&["z"]));
    }

    #[test]
    fn ignores_nested_and_string_contents() {
        let src = r#"
s = """
__all__ = ["inside_string"]
"""
if True:
    __all__ = ["conditional"]
def f():
    __all__ = ["local"]
__all__ = ["real"]
"#;
        assert_eq!(all(src), v(&["real"]));
    }

    #[test]
    fn semicolons_and_one_line_compounds() {
        assert_eq!(all("import x; __all__ = ['a']; y = 2\n"), v(&["a"]));
        assert_eq!(all("if x: __all__ = ['no']\n"), None);
    }

    #[test]
    fn unresolved_elements_are_reported() {
        let m = parse_module("from .a import names\n__all__ = ['x', *names, f'y']\n").unwrap();
        assert_eq!(m.all, v(&["x"]));
        assert_eq!(m.all_unresolved.len(), 2, "{:?}", m.all_unresolved);
        assert!(
            m.all_unresolved[0].starts_with("2: *names"),
            "{:?}",
            m.all_unresolved
        );
        let m = parse_module("__all__ = other.__all__ + ['z']\n").unwrap();
        assert_eq!(m.all, v(&["z"]));
        assert_eq!(m.all_unresolved, vec!["1: other.__all__".to_string()]);
    }

    #[test]
    fn classes_functions_imports() {
        let src = r#"
from typing import Optional
from . import layers
from .ops import (fwd as forward,
                  bwd)
import torch.nn as nn

@decorator
class RMSNorm(nn.Module):
    weight: "torch.Tensor"

    class Inner:
        pass

    def forward(self, x):
        return x

class Plain: pass
async def run(): pass
def _private(): pass
"#;
        let m = parse_module(src).unwrap();
        assert_eq!(m.classes, vec!["RMSNorm", "Plain"]);
        assert_eq!(m.functions, vec!["run", "_private"]);
        assert_eq!(m.imports.len(), 4);
        assert_eq!(m.imports[1].module, ".");
        assert_eq!(
            m.imports[1].names,
            vec![("layers".to_string(), "layers".to_string())]
        );
        assert_eq!(m.imports[2].module, ".ops");
        assert_eq!(
            m.imports[2].names,
            vec![
                ("fwd".to_string(), "forward".to_string()),
                ("bwd".to_string(), "bwd".to_string())
            ]
        );
        assert_eq!(m.imports[3].module, "torch.nn");
    }

    #[test]
    fn string_forms() {
        let src = r#"
a = r'\d+' + b"bytes" + rb'\x' + u"uni"
t = '''it's
multi''' ; u = "esc\"aped\n"
f1 = f"{x['k']}" + f'{y:{width}}' + f"{{literal}}" + f"{d["nested"]}"
__all__ = ["\x61b", 'c\
d']
"#;
        assert_eq!(all(src), v(&["ab", "cd"]));
    }

    #[test]
    fn indentation_with_tabs_and_blank_lines() {
        let src = "class A:\n\tdef f(self):\n\t\tpass\n\n   \n# c\nclass B:\n    pass\n";
        let m = parse_module(src).unwrap();
        assert_eq!(m.classes, vec!["A", "B"]);
        assert!(m.functions.is_empty());
    }

    #[test]
    fn syntax_errors_have_positions() {
        let e = parse_module("x = 'abc\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 5));
        assert!(e.message.contains("unterminated"));
        let e = parse_module("__all__ = [\n 'a',\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 11));
        assert!(e.message.contains("never closed"), "{e}");
        let e = parse_module("x = (1]\n").unwrap_err();
        assert!(e.message.contains("does not match"), "{e}");
        let e = parse_module("x = '''abc\n").unwrap_err();
        assert!(e.message.contains("unterminated"));
        assert!(parse_module("x = )\n").is_err());
    }

    #[test]
    fn crlf_and_bom() {
        let src = "\u{feff}__all__ = [\r\n  'a',\r\n]\r\nclass K:\r\n  pass\r\n";
        let m = parse_module(src).unwrap();
        assert_eq!(m.all, v(&["a"]));
        assert_eq!(m.classes, vec!["K"]);
    }
}
