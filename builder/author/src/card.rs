//! `fill-card`: render the kernel card.
//!
//! The kernel's `CARD.md` (written by `init`) is a minijinja template. It is
//! filled from `build.toml` (repo id, version, license, upstream/source,
//! backends) and from the kernel's Python package: the names in `__all__`
//! and, when the package exports a `layers` module, the layer classes. The
//! Python sources are read with a Python parser (`kb_core::python`), not
//! with pattern matching. The filled card is uploaded as the Hub
//! repository's README.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kb_core::config::{self, Framework};
use kb_core::python::{module_surface, Module};
use kb_core::{bail, Context, Report, Result};
use serde::Serialize;

/// The card template `init` writes, used when a kernel has no `CARD.md`.
pub const DEFAULT_TEMPLATE: &str = include_str!("../../../templates/init/CARD.md");

/// Everything a card template can use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CardContext {
    /// Kernel name from `build.toml`.
    pub name: String,
    /// `general.hub.repo-id`, or `<owner>/<name>` when it is not set.
    pub repo_id: String,
    pub version: u64,
    /// The license as written in `build.toml` (SPDX).
    pub license: String,
    /// The license as a Hub metadata id (lowercase SPDX id, or `other` for
    /// license expressions).
    pub license_hub: String,
    pub upstream: Option<String>,
    pub source: Option<String>,
    pub backends: Vec<String>,
    /// Public names of the package (its `__all__` without `layers`).
    pub functions: Vec<String>,
    /// Layer classes of the exported `layers` module.
    pub layers: Vec<String>,
    pub has_benchmark: bool,
    /// Benchmark scripts (`benchmarks/benchmark*.py`), relative to the kernel.
    pub benchmarks: Vec<String>,
}

/// A rendered card and the problems found while reading the kernel.
#[derive(Debug, Clone)]
pub struct RenderedCard {
    pub text: String,
    pub warnings: Vec<String>,
}

/// What a Python package exports, as far as the card is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageSurface {
    pub functions: Vec<String>,
    pub layers: Vec<String>,
    pub warnings: Vec<String>,
}

fn display(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read_module(path: &Path, root: &Path) -> Result<Module> {
    let src = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    module_surface(&src).map_err(|e| {
        kb_core::err!(
            "{}:{e}\n  help: fix the Python syntax (`python -m py_compile {}` shows the problem too)",
            display(path, root),
            path.display()
        )
    })
}

/// The file of module `name` inside package directory `dir`, if any.
fn module_file(dir: &Path, name: &str) -> Option<PathBuf> {
    let file = dir.join(format!("{name}.py"));
    if file.is_file() {
        return Some(file);
    }
    let init = dir.join(name).join("__init__.py");
    init.is_file().then_some(init)
}

/// Resolve a relative module path (`.`, `.norm`, `..ops`) from the module in
/// `file`.
fn resolve_relative(file: &Path, module: &str) -> Option<PathBuf> {
    let dots = module.chars().take_while(|c| *c == '.').count();
    if dots == 0 {
        return None;
    }
    // The package directory that `.` refers to.
    let mut dir = file.parent()?.to_path_buf();
    for _ in 1..dots {
        dir = dir.parent()?.to_path_buf();
    }
    let rest = &module[dots..];
    if rest.is_empty() {
        let init = dir.join("__init__.py");
        return init.is_file().then_some(init);
    }
    let mut parts: Vec<&str> = rest.split('.').collect();
    let last = parts.pop()?;
    for p in parts {
        dir = dir.join(p);
    }
    module_file(&dir, last)
}

fn push_unique(list: &mut Vec<String>, name: &str) {
    if !list.iter().any(|n| n == name) {
        list.push(name.to_string());
    }
}

/// The layer classes of a `layers` module: its `__all__` when it has one,
/// else its public classes and the classes it imports from its own package.
fn layer_classes(file: &Path, root: &Path, warnings: &mut Vec<String>) -> Result<Vec<String>> {
    let m = read_module(file, root)?;
    for u in &m.all_unresolved {
        warnings.push(format!(
            "{}:{u}: this `__all__` element is not a string literal; it is left out of the card",
            display(file, root)
        ));
    }
    if let Some(all) = m.all {
        return Ok(all);
    }
    let mut out = Vec::new();
    for c in m.classes.iter().filter(|c| !c.starts_with('_')) {
        push_unique(&mut out, c);
    }
    for import in m.imports.iter().filter(|i| i.module.starts_with('.')) {
        let Some(target) = resolve_relative(file, &import.module) else {
            continue;
        };
        let target_module = read_module(&target, root)?;
        for (name, alias) in &import.names {
            if name == "*" {
                let names = match &target_module.all {
                    Some(all) => all.clone(),
                    None => target_module
                        .classes
                        .iter()
                        .filter(|c| !c.starts_with('_'))
                        .cloned()
                        .collect(),
                };
                for n in names {
                    push_unique(&mut out, &n);
                }
            } else if target_module.classes.contains(name) && !alias.starts_with('_') {
                push_unique(&mut out, alias);
            }
        }
    }
    Ok(out)
}

/// Read the public surface of the Python package in `pkg_dir`. Paths in
/// messages are relative to `root`.
pub fn package_surface(pkg_dir: &Path, root: &Path) -> Result<PackageSurface> {
    let mut s = PackageSurface::default();
    let init = pkg_dir.join("__init__.py");
    if !init.is_file() {
        s.warnings.push(format!(
            "{}: missing; the card lists no functions (every kernel package needs an `__init__.py`)",
            display(&init, root)
        ));
        return Ok(s);
    }
    let m = read_module(&init, root)?;
    let rel = display(&init, root);
    for u in &m.all_unresolved {
        s.warnings.push(format!(
            "{rel}:{u}: this `__all__` element is not a string literal; it is left out of the card"
        ));
    }
    let imports_layers = m.imports.iter().any(|i| {
        (i.module == "." && i.names.iter().any(|(n, _)| n == "layers")) || i.module == ".layers"
    });
    let exported: Vec<String> = match &m.all {
        Some(all) => all.clone(),
        None => {
            let mut names = Vec::new();
            for f in m.functions.iter().filter(|f| !f.starts_with('_')) {
                push_unique(&mut names, f);
            }
            for i in m.imports.iter().filter(|i| i.module.starts_with('.')) {
                for (_, alias) in &i.names {
                    if alias != "*" && !alias.starts_with('_') {
                        push_unique(&mut names, alias);
                    }
                }
            }
            s.warnings.push(format!(
                "{rel}: no `__all__`; the card lists the package's public functions and relative imports (define `__all__` to choose)"
            ));
            names
        }
    };
    let layers_exported = exported.iter().any(|n| n == "layers");
    if !layers_exported && imports_layers && m.all.is_some() {
        s.warnings.push(format!(
            "{rel}: the package imports `layers` but `__all__` does not list it; add \"layers\" to `__all__` to export the layers"
        ));
    }
    // Submodules (like `layers`) are not functions.
    s.functions = exported
        .into_iter()
        .filter(|n| n != "layers" && module_file(pkg_dir, n).is_none())
        .collect();
    if layers_exported || (m.all.is_none() && imports_layers) {
        match module_file(pkg_dir, "layers") {
            Some(file) => s.layers = layer_classes(&file, root, &mut s.warnings)?,
            None => s.warnings.push(format!(
                "{rel}: `layers` is exported but there is no `layers.py` or `layers/__init__.py` next to it"
            )),
        }
    }
    Ok(s)
}

/// The Hub's metadata license id for an SPDX license.
fn hub_license(license: &str) -> String {
    if license.contains(|c: char| c.is_whitespace() || c == '(' || c == ')') {
        "other".to_string()
    } else {
        license.to_ascii_lowercase()
    }
}

/// Collect the card's template context for the kernel in `kernel_dir`.
pub fn card_context(kernel_dir: &Path) -> Result<(CardContext, Vec<String>)> {
    let loaded = config::load(Some(kernel_dir))?;
    let c = &loaded.config;
    let g = &c.general;
    let mut warnings = Vec::new();
    let repo_id = match &g.hub.repo_id {
        Some(r) => r.clone(),
        None => {
            warnings.push(format!(
                "{}: no `[general.hub] repo-id`; the card says `<owner>/{}` (add `repo-id = \"<owner>/{}\"` under `[general.hub]`)",
                loaded.path.display(),
                g.name,
                g.name
            ));
            format!("<owner>/{}", g.name)
        }
    };
    let python_name = g.python_name();
    let pkg_rel = match &c.framework {
        Framework::TvmFfi(_) => format!("tvm-ffi-ext/{python_name}"),
        _ => format!("torch-ext/{python_name}"),
    };
    let surface = package_surface(&kernel_dir.join(&pkg_rel), kernel_dir)?;
    warnings.extend(surface.warnings);

    let mut benchmarks = BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(kernel_dir.join("benchmarks")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with("benchmark") && name.ends_with(".py") && e.path().is_file() {
                benchmarks.insert(format!("benchmarks/{name}"));
            }
        }
    }
    let ctx = CardContext {
        name: g.name.clone(),
        repo_id,
        version: g.version,
        license: g.license.clone(),
        license_hub: hub_license(&g.license),
        upstream: g.upstream.clone(),
        source: g.source.clone(),
        backends: g.backends.iter().map(|b| b.as_str().to_string()).collect(),
        functions: surface.functions,
        layers: surface.layers,
        has_benchmark: !benchmarks.is_empty(),
        benchmarks: benchmarks.into_iter().collect(),
    };
    Ok((ctx, warnings))
}

/// A minijinja environment for text files: block tags on their own lines
/// leave no blank lines, trailing newlines are kept, nothing is escaped and
/// an undefined variable is an error.
pub fn text_environment<'a>() -> minijinja::Environment<'a> {
    let mut env = minijinja::Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .expect("valid syntax configuration");
    env.set_syntax(syntax);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env
}

/// Render a card template with a context.
pub fn render_template(template: &str, template_name: &str, ctx: &CardContext) -> Result<String> {
    let mut env = text_environment();
    let mut render = || -> std::result::Result<String, minijinja::Error> {
        env.add_template(template_name, template)?;
        env.get_template(template_name)?
            .render(minijinja::value::Serde(ctx))
    };
    let mut text = render().map_err(|e| {
        kb_core::err!(
            "{template_name}: {e:#}\n  help: the card template can use {}",
            "name, repo_id, version, license, license_hub, upstream, source, backends, functions, layers, has_benchmark, benchmarks"
        )
    })?;
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}

/// Render the card of the kernel in `kernel_dir` from its `CARD.md` (or the
/// built-in template when it has none).
pub fn render_card(kernel_dir: &Path) -> Result<RenderedCard> {
    let (ctx, mut warnings) = card_context(kernel_dir)?;
    let template_path = kernel_dir.join("CARD.md");
    let template = match std::fs::read_to_string(&template_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            warnings.push(format!(
                "{}: missing; using the built-in card template (add a CARD.md to customize the card)",
                template_path.display()
            ));
            DEFAULT_TEMPLATE.to_string()
        }
        Err(e) => bail!("{}: cannot read: {e}", template_path.display()),
    };
    let text = render_template(&template, &template_path.display().to_string(), &ctx)?;
    Ok(RenderedCard { text, warnings })
}

/// What `fill-card` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct CardReport {
    pub path: PathBuf,
    /// Problems found while reading the kernel (the card is still written).
    pub warnings: Vec<String>,
}

impl Report for CardReport {
    fn text(&self) -> String {
        String::new()
    }

    fn notes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .warnings
            .iter()
            .map(|w| format!("warning: {w}"))
            .collect();
        out.push(format!("wrote {}", self.path.display()));
        out
    }
}

/// Fill the kernel card of `kernel_dir` and write it to `output` (default:
/// `<kernel_dir>/build/CARD.md`).
pub fn fill_card(kernel_dir: &Path, output: Option<&Path>) -> Result<CardReport> {
    let card = render_card(kernel_dir)?;
    let out = match output {
        Some(p) => p.to_path_buf(),
        None => kernel_dir.join("build").join("CARD.md"),
    };
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("{}: cannot create directory", parent.display()))?;
    }
    kb_core::fsutil::write_atomic(&out, card.text.as_bytes())
        .with_context(|| format!("{}: cannot write", out.display()))?;
    Ok(CardReport {
        path: out,
        warnings: card.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn surface_without_layers() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "pkg/__init__.py",
            "from ._ops import ops\n__all__ = ['relu', 'gelu']\n",
        );
        let s = package_surface(&d.path().join("pkg"), d.path()).unwrap();
        assert_eq!(s.functions, vec!["relu", "gelu"]);
        assert!(s.layers.is_empty());
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    }

    #[test]
    fn surface_with_layers_package_and_reexports() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "pkg/__init__.py",
            "from . import layers\nfrom .ops import relu\n__all__ = ['relu', 'layers']\n",
        );
        write(
            d.path(),
            "pkg/layers/__init__.py",
            "from .norm import RMSNorm as FastRMSNorm, helper\nfrom .act import *\n\nclass SiluAndMul(nn.Module):\n    pass\n",
        );
        write(
            d.path(),
            "pkg/layers/norm.py",
            "class RMSNorm:\n    pass\ndef helper(): pass\n",
        );
        write(
            d.path(),
            "pkg/layers/act.py",
            "class Gelu: pass\nclass _Hidden: pass\n",
        );
        let s = package_surface(&d.path().join("pkg"), d.path()).unwrap();
        assert_eq!(s.functions, vec!["relu"]);
        assert_eq!(s.layers, vec!["SiluAndMul", "FastRMSNorm", "Gelu"]);
    }

    #[test]
    fn layers_not_exported_warns() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "pkg/__init__.py",
            "from . import layers\n__all__ = ['f']\n",
        );
        write(d.path(), "pkg/layers.py", "class L: pass\n");
        let s = package_surface(&d.path().join("pkg"), d.path()).unwrap();
        assert!(s.layers.is_empty());
        assert!(
            s.warnings[0].contains("does not list it"),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn no_all_falls_back_to_public_functions() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "pkg/__init__.py",
            "from .ops import fused_add, _internal\ndef relu(x): ...\ndef _helper(): ...\n",
        );
        let s = package_surface(&d.path().join("pkg"), d.path()).unwrap();
        assert_eq!(s.functions, vec!["relu", "fused_add"]);
        assert!(s.warnings[0].contains("no `__all__`"));
    }

    #[test]
    fn syntax_error_names_file_and_position() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "pkg/__init__.py", "__all__ = ['a',\n");
        let e = package_surface(&d.path().join("pkg"), d.path()).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("pkg/__init__.py:1:11"), "{msg}");
    }

    #[test]
    fn hub_licenses() {
        assert_eq!(hub_license("Apache-2.0"), "apache-2.0");
        assert_eq!(hub_license("MIT OR Apache-2.0"), "other");
    }
}
