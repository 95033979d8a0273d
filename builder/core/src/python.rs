//! What a kernel's Python sources declare, read with a real Python parser
//! (`ruff_python_parser`): a module's public surface (`__all__`, classes,
//! functions, imports) for the kernel card, `torch.library` registrations
//! with literal op names for the op-namespace check, and what `_ops.py`
//! exposes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ruff_python_ast::visitor::{self, Visitor};
use ruff_python_ast::{self as ast, Expr, Stmt};
use ruff_text_size::{Ranged, TextRange, TextSize};

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

/// 1-based line and column (in characters) of a byte offset.
fn position(src: &str, offset: TextSize) -> (usize, usize) {
    let offset = usize::from(offset).min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

fn text(src: &str, range: TextRange) -> &str {
    src.get(usize::from(range.start())..usize::from(range.end()))
        .unwrap_or("")
}

fn strip_bom(src: &str) -> &str {
    src.strip_prefix('\u{feff}').unwrap_or(src)
}

fn parse(src: &str) -> ruff_python_parser::Parsed<ast::ModModule> {
    ruff_python_parser::parse_unchecked_source(src, ast::PySourceType::Python)
}

/// The first syntax error of a parse. A file that ends inside brackets is
/// reported at the bracket that is never closed (more useful than the end
/// of the file, where the parser notices).
fn syntax_error(
    src: &str,
    parsed: &ruff_python_parser::Parsed<ast::ModModule>,
) -> Option<SyntaxError> {
    use ruff_python_ast::token::TokenKind;
    let e = parsed.errors().first()?;
    let mut open: Vec<(TokenKind, TextSize)> = Vec::new();
    for t in parsed.tokens().iter() {
        match t.kind() {
            TokenKind::Lpar | TokenKind::Lsqb | TokenKind::Lbrace => {
                open.push((t.kind(), t.start()))
            }
            TokenKind::Rpar | TokenKind::Rsqb | TokenKind::Rbrace => {
                open.pop();
            }
            _ => {}
        }
    }
    let (offset, message) = match open.last() {
        Some((kind, at)) if e.error.to_string().contains("EOF") => {
            let bracket = match kind {
                TokenKind::Lpar => "(",
                TokenKind::Lsqb => "[",
                _ => "{",
            };
            (*at, format!("`{bracket}` is never closed"))
        }
        _ => (e.location.start(), e.error.to_string()),
    };
    let (line, col) = position(src, offset);
    Some(SyntaxError { line, col, message })
}

// ------------------------------------------------------- module surface

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

fn is_all(e: &Expr) -> bool {
    matches!(e, Expr::Name(n) if n.id.as_str() == "__all__")
}

struct SurfaceReader<'s> {
    src: &'s str,
    module: Module,
}

impl SurfaceReader<'_> {
    fn unresolved(&mut self, e: &Expr, out: &mut Vec<String>) {
        let (line, _) = position(self.src, e.start());
        out.push(format!("{line}: {}", text(self.src, e.range())));
    }

    /// A sequence-of-strings expression: a list, tuple, string, or `+`
    /// concatenations of those.
    fn strings(&mut self, e: &Expr, names: &mut Vec<String>, unresolved: &mut Vec<String>) {
        match e {
            Expr::List(ast::ExprList { elts, .. }) | Expr::Tuple(ast::ExprTuple { elts, .. }) => {
                for el in elts {
                    match el {
                        Expr::StringLiteral(s) => names.push(s.value.to_str().to_string()),
                        other => self.unresolved(other, unresolved),
                    }
                }
            }
            Expr::BinOp(ast::ExprBinOp {
                left,
                op: ast::Operator::Add,
                right,
                ..
            }) => {
                self.strings(left, names, unresolved);
                self.strings(right, names, unresolved);
            }
            // `__all__ = "name"` is a bug in Python (iterated by
            // characters), but `append("name")` passes one element.
            Expr::StringLiteral(s) => names.push(s.value.to_str().to_string()),
            other => self.unresolved(other, unresolved),
        }
    }

    fn assign(&mut self, value: &Expr) {
        let mut names = Vec::new();
        let mut unresolved = Vec::new();
        self.strings(value, &mut names, &mut unresolved);
        self.module.all = Some(names);
        self.module.all_unresolved = unresolved;
    }

    fn extend(&mut self, value: &Expr, single: bool) {
        let mut names = Vec::new();
        let mut unresolved = Vec::new();
        match value {
            Expr::StringLiteral(s) if single => names.push(s.value.to_str().to_string()),
            other if single => self.unresolved(other, &mut unresolved),
            other => self.strings(other, &mut names, &mut unresolved),
        }
        self.module.all.get_or_insert_with(Vec::new).extend(names);
        self.module.all_unresolved.extend(unresolved);
    }

    fn statement(&mut self, stmt: &Stmt) {
        match stmt {
            Stmt::ClassDef(c) => self.module.classes.push(c.name.as_str().to_string()),
            Stmt::FunctionDef(f) => self.module.functions.push(f.name.as_str().to_string()),
            Stmt::Import(i) => {
                let (line, _) = position(self.src, i.start());
                for a in &i.names {
                    self.module.imports.push(Import {
                        module: a.name.as_str().to_string(),
                        names: Vec::new(),
                        line,
                    });
                }
            }
            Stmt::ImportFrom(i) => {
                let (line, _) = position(self.src, i.start());
                let mut module = ".".repeat(i.level as usize);
                if let Some(m) = &i.module {
                    module.push_str(m.as_str());
                }
                let names = i
                    .names
                    .iter()
                    .map(|a| {
                        let n = a.name.as_str().to_string();
                        let bound = a
                            .asname
                            .as_ref()
                            .map_or(n.clone(), |x| x.as_str().to_string());
                        (n, bound)
                    })
                    .collect();
                self.module.imports.push(Import {
                    module,
                    names,
                    line,
                });
            }
            Stmt::Assign(a) if a.targets.iter().any(is_all) => self.assign(&a.value),
            Stmt::AnnAssign(a) if is_all(&a.target) => {
                if let Some(v) = &a.value {
                    self.assign(v);
                }
            }
            Stmt::AugAssign(a) if is_all(&a.target) && a.op == ast::Operator::Add => {
                self.extend(&a.value, false)
            }
            Stmt::Expr(ast::StmtExpr { value, .. }) => {
                let Expr::Call(call) = value.as_ref() else {
                    return;
                };
                let Expr::Attribute(attr) = call.func.as_ref() else {
                    return;
                };
                if !is_all(&attr.value) {
                    return;
                }
                let [arg] = &call.arguments.args[..] else {
                    return;
                };
                match attr.attr.as_str() {
                    "extend" => self.extend(arg, false),
                    "append" => self.extend(arg, true),
                    "remove" => {
                        if let (Expr::StringLiteral(s), Some(all)) = (arg, self.module.all.as_mut())
                        {
                            if let Some(i) = all.iter().position(|n| n == s.value.to_str()) {
                                all.remove(i);
                            }
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

/// Read a module's public surface from its source. Only module-level
/// statements count: `__all__` updates inside `if`/`try` blocks or functions
/// are ignored, as are names inside strings and comments.
pub fn module_surface(src: &str) -> Result<Module, SyntaxError> {
    let src = strip_bom(src);
    let parsed = parse(src);
    if let Some(e) = syntax_error(src, &parsed) {
        return Err(e);
    }
    let mut r = SurfaceReader {
        src,
        module: Module::default(),
    };
    for stmt in &parsed.syntax().body {
        r.statement(stmt);
    }
    Ok(r.module)
}

// ------------------------------------------------ torch.library registrations

/// `torch.library` functions that take an op name, with the keyword name of
/// that argument.
pub const REGISTRATION_FUNCTIONS: &[(&str, &str)] = &[
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

fn registration_keyword(func: &str) -> Option<&'static str> {
    REGISTRATION_FUNCTIONS
        .iter()
        .find(|(f, _)| *f == func)
        .map(|(_, k)| *k)
}

/// A `torch.library` call whose op name is a literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub line: usize,
    pub column: usize,
    /// How the function was called: `torch.library.register_fake`,
    /// `tl.define`, `rf (torch.library.register_fake)`.
    pub function: String,
    /// The literal as written.
    pub literal: String,
}

#[derive(Default)]
struct Aliases {
    torch: Vec<String>,
    library: Vec<String>,
    /// bound name -> registration function
    functions: BTreeMap<String, String>,
}

impl<'a> Visitor<'a> for Aliases {
    fn visit_stmt(&mut self, stmt: &'a Stmt) {
        match stmt {
            Stmt::Import(i) => {
                for a in &i.names {
                    if let Some(bound) = &a.asname {
                        match a.name.as_str() {
                            "torch" => self.torch.push(bound.as_str().to_string()),
                            "torch.library" => self.library.push(bound.as_str().to_string()),
                            _ => {}
                        }
                    }
                }
            }
            Stmt::ImportFrom(i) if i.level == 0 => {
                let module = i.module.as_ref().map_or("", |m| m.as_str());
                for a in &i.names {
                    let name = a.name.as_str();
                    let bound = a.asname.as_ref().map_or(name, |x| x.as_str()).to_string();
                    if module == "torch" && name == "library" {
                        self.library.push(bound);
                    } else if module == "torch.library" && registration_keyword(name).is_some() {
                        self.functions.insert(bound, name.to_string());
                    }
                }
            }
            _ => {}
        }
        visitor::walk_stmt(self, stmt);
    }
}

struct Calls<'s> {
    src: &'s str,
    aliases: Aliases,
    out: Vec<Registration>,
}

/// The leftmost operand of a `+` chain.
fn leftmost(e: &Expr) -> &Expr {
    match e {
        Expr::BinOp(ast::ExprBinOp {
            left,
            op: ast::Operator::Add,
            ..
        }) => leftmost(left),
        other => other,
    }
}

/// An f-string whose namespace part (before the first `::`) is computed.
fn computed_namespace(f: &ast::ExprFString) -> bool {
    for part in f.value.iter() {
        match part {
            ast::FStringPart::Literal(s) => {
                if s.value.contains("::") {
                    return false;
                }
            }
            ast::FStringPart::FString(fs) => {
                for el in fs.elements.iter() {
                    match el {
                        ast::InterpolatedStringElement::Literal(l) => {
                            if l.value.contains("::") {
                                return false;
                            }
                        }
                        ast::InterpolatedStringElement::Interpolation(_) => return true,
                    }
                }
            }
        }
    }
    false
}

impl Calls<'_> {
    /// The registration function a call expression refers to, as shown.
    fn function(&self, func: &Expr) -> Option<(String, &'static str)> {
        match func {
            Expr::Attribute(attr) => {
                let f = attr.attr.as_str();
                let keyword = registration_keyword(f)?;
                match attr.value.as_ref() {
                    // torch.library.f
                    Expr::Attribute(inner) if inner.attr.as_str() == "library" => {
                        let Expr::Name(n) = inner.value.as_ref() else {
                            return None;
                        };
                        let n = n.id.as_str();
                        (n == "torch" || self.aliases.torch.iter().any(|t| t == n))
                            .then(|| (format!("{n}.library.{f}"), keyword))
                    }
                    // <library alias>.f
                    Expr::Name(n) if self.aliases.library.iter().any(|l| l == n.id.as_str()) => {
                        Some((format!("{}.{f}", n.id.as_str()), keyword))
                    }
                    _ => None,
                }
            }
            Expr::Name(n) => {
                let n = n.id.as_str();
                let real = self.aliases.functions.get(n)?;
                let keyword = registration_keyword(real)?;
                let shown = if real == n {
                    format!("torch.library.{real}")
                } else {
                    format!("{n} (torch.library.{real})")
                };
                Some((shown, keyword))
            }
            _ => None,
        }
    }
}

impl<'a> Visitor<'a> for Calls<'_> {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Call(call) = expr {
            if let Some((function, keyword)) = self.function(&call.func) {
                let arg = call
                    .arguments
                    .keywords
                    .iter()
                    .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == keyword))
                    .map(|k| &k.value)
                    .or_else(|| {
                        call.arguments
                            .args
                            .first()
                            .filter(|a| !matches!(a, Expr::Starred(_)))
                    });
                if let Some(arg) = arg {
                    let lit = leftmost(arg);
                    let literal = match lit {
                        Expr::StringLiteral(_) => true,
                        Expr::FString(f) => !computed_namespace(f),
                        _ => false,
                    };
                    if literal {
                        let (line, column) = position(self.src, lit.start());
                        self.out.push(Registration {
                            line,
                            column,
                            function,
                            literal: text(self.src, lit.range()).to_string(),
                        });
                    }
                }
            }
        }
        visitor::walk_expr(self, expr);
    }
}

/// `torch.library` registrations whose op name is a literal. `torch.library`
/// may be reached through `import torch as th`, `import torch.library as
/// tl`, `from torch import library` or `from torch.library import
/// register_fake as rf`. Source that does not parse is read as far as the
/// parser recovers.
pub fn literal_registrations(src: &str) -> Vec<Registration> {
    let src = strip_bom(src);
    let parsed = parse(src);
    let body = &parsed.syntax().body;
    let mut aliases = Aliases::default();
    for s in body {
        aliases.visit_stmt(s);
    }
    let mut calls = Calls {
        src,
        aliases,
        out: Vec::new(),
    };
    for s in body {
        calls.visit_stmt(s);
    }
    calls.out.sort_by_key(|r| (r.line, r.column));
    calls.out
}

// ---------------------------------------------------------------- _ops.py

/// What an `_ops.py` exposes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpsModule {
    /// `X` of every `torch.ops.X` in the module.
    pub namespaces: BTreeSet<String>,
    /// The module defines `add_op_namespace_prefix` at top level.
    pub defines_prefix_function: bool,
    /// The literal text of the strings and f-strings in that function.
    pub prefix_literals: Vec<String>,
    /// The string literals in the arguments of `tvm_ffi.load_module(...)`
    /// calls (how a tvm-ffi build opens its shared library).
    pub tvm_ffi_loads: Vec<String>,
}

struct OpsReader {
    namespaces: BTreeSet<String>,
    tvm_ffi_loads: Vec<String>,
}

impl<'a> Visitor<'a> for OpsReader {
    fn visit_expr(&mut self, expr: &'a Expr) {
        if let Expr::Attribute(outer) = expr {
            if let Expr::Attribute(inner) = outer.value.as_ref() {
                if inner.attr.as_str() == "ops"
                    && matches!(inner.value.as_ref(), Expr::Name(n) if n.id.as_str() == "torch")
                {
                    self.namespaces.insert(outer.attr.as_str().to_string());
                }
            }
        }
        if let Expr::Call(call) = expr {
            if let Expr::Attribute(f) = call.func.as_ref() {
                if f.attr.as_str() == "load_module"
                    && matches!(f.value.as_ref(), Expr::Name(n) if n.id.as_str() == "tvm_ffi")
                {
                    let mut lits = Literals(Vec::new());
                    lits.visit_arguments(&call.arguments);
                    self.tvm_ffi_loads.extend(lits.0);
                }
            }
        }
        visitor::walk_expr(self, expr);
    }
}

struct Literals(Vec<String>);

impl<'a> Visitor<'a> for Literals {
    fn visit_expr(&mut self, expr: &'a Expr) {
        match expr {
            Expr::StringLiteral(s) => self.0.push(s.value.to_str().to_string()),
            Expr::FString(f) => {
                let mut s = String::new();
                for part in f.value.iter() {
                    match part {
                        ast::FStringPart::Literal(l) => s.push_str(&l.value),
                        ast::FStringPart::FString(fs) => {
                            for el in fs.elements.iter() {
                                match el {
                                    ast::InterpolatedStringElement::Literal(l) => {
                                        s.push_str(&l.value)
                                    }
                                    ast::InterpolatedStringElement::Interpolation(_) => {
                                        s.push_str("{}")
                                    }
                                }
                            }
                        }
                    }
                }
                self.0.push(s);
            }
            _ => {}
        }
        visitor::walk_expr(self, expr);
    }
}

/// The value of every string literal in a module (f-strings with `{}` for
/// each interpolation), in source order. Used to check that values reach
/// generated Python byte for byte.
pub fn string_literals(src: &str) -> Result<Vec<String>, SyntaxError> {
    let src = strip_bom(src);
    let parsed = parse(src);
    if let Some(e) = syntax_error(src, &parsed) {
        return Err(e);
    }
    let mut lits = Literals(Vec::new());
    for s in &parsed.syntax().body {
        lits.visit_stmt(s);
    }
    Ok(lits.0)
}

/// Read `_ops.py`.
pub fn ops_module(src: &str) -> Result<OpsModule, SyntaxError> {
    let src = strip_bom(src);
    let parsed = parse(src);
    if let Some(e) = syntax_error(src, &parsed) {
        return Err(e);
    }
    let body = &parsed.syntax().body;
    let mut reader = OpsReader {
        namespaces: BTreeSet::new(),
        tvm_ffi_loads: Vec::new(),
    };
    for s in body {
        reader.visit_stmt(s);
    }
    let mut out = OpsModule {
        namespaces: reader.namespaces,
        tvm_ffi_loads: reader.tvm_ffi_loads,
        ..OpsModule::default()
    };
    for s in body {
        if let Stmt::FunctionDef(f) = s {
            if f.name.as_str() == "add_op_namespace_prefix" {
                out.defines_prefix_function = true;
                let mut lits = Literals(Vec::new());
                for st in &f.body {
                    lits.visit_stmt(st);
                }
                out.prefix_literals.extend(lits.0);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(src: &str) -> Option<Vec<String>> {
        module_surface(src).unwrap().all
    }

    fn v(names: &[&str]) -> Option<Vec<String>> {
        Some(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn string_literal_values() {
        let src = "A = \"x\\\"y\"\nB = [r'\\n', f\"p{q}s\"]\ndef f():\n    return \"\\u00e9\"\n";
        assert_eq!(
            string_literals(src).unwrap(),
            ["x\"y", "\\n", "p{}s", "\u{e9}"]
        );
        assert!(string_literals("A = (\n").is_err());
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
        let m = module_surface("from .a import names\n__all__ = ['x', *names, f'y']\n").unwrap();
        assert_eq!(m.all, v(&["x"]));
        assert_eq!(m.all_unresolved.len(), 2, "{:?}", m.all_unresolved);
        assert!(
            m.all_unresolved[0].starts_with("2: *names"),
            "{:?}",
            m.all_unresolved
        );
        let m = module_surface("__all__ = other.__all__ + ['z']\n").unwrap();
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
        let m = module_surface(src).unwrap();
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
        let m = module_surface(src).unwrap();
        assert_eq!(m.classes, vec!["A", "B"]);
        assert!(m.functions.is_empty());
    }

    #[test]
    fn syntax_errors_have_positions() {
        // Messages are the parser's (ruff); positions are 1-based.
        let e = module_surface("x = 'abc\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 5));
        assert!(e.message.contains("missing closing quote"), "{e}");
        let e = module_surface("__all__ = [\n 'a',\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 11));
        assert!(e.message.contains("never closed"), "{e}");
        let e = module_surface("x = (1]\n").unwrap_err();
        assert_eq!((e.line, e.col), (1, 7));
        assert!(e.message.contains("Expected `)`, found `]`"), "{e}");
        let e = module_surface("x = '''abc\n").unwrap_err();
        assert!(e.message.contains("missing closing quote"), "{e}");
        assert!(module_surface("x = )\n").is_err());
    }

    #[test]
    fn ops_module_reads_tvm_ffi_loads() {
        let src = "import tvm_ffi\nfrom pathlib import Path\nops = tvm_ffi.load_module(str(Path(__file__).parent / \"_k_cpu_1.so\"))\nother.load_module(\"x.so\")\n";
        let m = ops_module(src).unwrap();
        assert_eq!(m.tvm_ffi_loads, vec!["_k_cpu_1.so"]);
        assert!(m.namespaces.is_empty());
        assert!(ops_module("ops = torch.ops._k\n")
            .unwrap()
            .tvm_ffi_loads
            .is_empty());
    }

    #[test]
    fn crlf_and_bom() {
        let src = "\u{feff}__all__ = [\r\n  'a',\r\n]\r\nclass K:\r\n  pass\r\n";
        let m = module_surface(src).unwrap();
        assert_eq!(m.all, v(&["a"]));
        assert_eq!(m.classes, vec!["K"]);
    }
}
