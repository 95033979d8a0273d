//! build.toml -> plan -> generated files, checked against what was written.
//!
//! Shared by the cargo-fuzz target (`fuzz/fuzz_targets/plan_generate.rs`
//! includes this file) and by the regression tests in `it/fuzz_generated.rs`.
//! [`toml_from_bytes`] turns fuzzer bytes into a `build.toml` (structured:
//! valid-looking documents whose strings come from a pool of troublesome
//! values or from the bytes); [`check`] runs parse -> plan -> generate twice
//! and reports every property that does not hold:
//! - nothing panics (the caller catches panics);
//! - the plan, its JSON, every generated file and metadata.json are the same
//!   on a second run;
//! - a refused `build.toml` is refused with diagnostics that name a key or a
//!   line:column;
//! - every value of the plan that reaches a generated file arrives byte for
//!   byte: CMake is lexed as CMake reads it (quoted, unquoted and bracket
//!   arguments, escapes, `;` splitting), Python is parsed with the real
//!   parser, TOML and JSON with their parsers; only the template's own
//!   commands appear in the CMake file.
//!
//! Findings have a class (`flag-*`: a flag that is not one argument, byte for
//! byte); the fuzz target and the tests fail on every one.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arbitrary::{Result as ArbResult, Unstructured};
use kb_core::config::parse_str;
use kb_core::matrix::Matrix;
use kb_core::plan::{plan, Plan, Systems, Variant};

/// One property that does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub class: &'static str,
    pub detail: String,
}

fn finding(out: &mut Vec<Finding>, class: &'static str, detail: String) {
    out.push(Finding { class, detail });
}

// ------------------------------------------------------------ generator

/// Strings that have broken generators before: list separators, generator
/// expressions, variable references, quotes of every language, escapes,
/// comment starters, control and bidi characters, shell metacharacters.
pub const TRICKY: &[&str] = &[
    "-O2",
    "-DX=1;-DY=2",
    "$<1:-DGENEX>",
    "$<TARGET_FILE_NAME:x>",
    "-DA=\"b c\"",
    "-DA='b c'",
    "-Xcompiler=a,b",
    "${HOME}",
    "$ENV{HOME}",
    "$(echo x)",
    "`id`",
    "a\\b",
    "a\\;b",
    "\\",
    "\"",
    "\"\"\"",
    "'''",
    "#x",
    ")",
    "(",
    "]]",
    "[[x]]",
    "[=[",
    "{{ x }}",
    "{% x %}",
    "${",
    "@x@",
    "-include /etc/passwd",
    "--",
    "a b",
    " ",
    "",
    "é",
    "名前",
    "\u{202e}evil",
    "\u{7f}",
    "\t",
    "x\ny",
    "\r",
    "\u{0}",
    "\u{1b}[31m",
    "${KB_ROOT}",
    ">",
    ",",
    "torch",
    "einops>=0.7",
    "numpy; python_version < \"3.12\"",
];

const NAMES: &[&str] = &[
    "relu",
    "my-kernel",
    "k_2",
    "class",
    "a",
    "Relu",
    "x-y-z",
    "_a",
    "9x",
    "",
    "import",
    "ab",
];
const VALID_PATHS: &[&str] = &[
    "torch-ext/torch_binding.cpp",
    "torch-ext/torch_binding.h",
    "a/b.cu",
    "x.cpp",
    "k/k.hip",
    "m/m.mm",
    "x+y@z.cpp",
    "inc",
];
const VALID_FLAGS: &[&str] = &["-O3", "-DX=1", "-DFOO=\"bar\"", "--use_fast_math", "-Wall"];
const VALID_DEPS: &[&str] = &["einops"];
const PATHS: &[&str] = &[
    "torch-ext/torch_binding.cpp",
    "torch-ext/torch_binding.h",
    "a/b.cu",
    "a b.cpp",
    "x.cpp",
    "k/k.hip",
    "m/m.mm",
    "m/m.metal",
    "inc",
    "./x.cpp",
    "a/./b.cpp",
    "x+y@z.cpp",
    "../x.cpp",
    "/abs.cpp",
];
const BACKENDS: &[&str] = &["cpu", "cuda", "rocm", "xpu", "metal"];
const CAPS: &[&str] = &["7.5", "8.0", "9.0a", "12.1+PTX", "x", "10.0"];
const ARCHS: &[&str] = &["gfx90a", "gfx942", "gfx1100", "gfxZ", ""];
const VERSIONS: &[&str] = &["2.11", "2.15", "2.99", "1.0", "x", "2.15.1"];

fn pick(u: &mut Unstructured, pool: &[&str]) -> ArbResult<String> {
    // Mostly the pool, sometimes the fuzzer's own bytes.
    if u.ratio(1, 6)? {
        let s: String = u.arbitrary()?;
        Ok(s.chars().take(40).collect())
    } else {
        Ok(u.choose(pool)?.to_string())
    }
}

/// Usually `valid` (so most documents get past validation and reach the
/// generators), otherwise something from `pool`.
fn valid_or(u: &mut Unstructured, valid: &str, pool: &[&str]) -> ArbResult<String> {
    if u.ratio(7, 8)? {
        Ok(valid.to_string())
    } else {
        pick(u, pool)
    }
}

/// A list of mostly `valid` entries, sometimes from `pool`.
fn list_of(
    u: &mut Unstructured,
    valid: &[&str],
    pool: &[&str],
    max: usize,
) -> ArbResult<toml_edit::Array> {
    let n = u.int_in_range(0..=max)?;
    let mut a = toml_edit::Array::new();
    for _ in 0..n {
        let v = u.choose(valid)?.to_string();
        a.push(valid_or(u, &v, pool)?);
    }
    Ok(a)
}

/// A `build.toml` from fuzzer bytes: mostly well-formed (edition 5, one
/// framework, kernels of the listed backends), with values from the pools.
pub fn toml_from_bytes(data: &[u8]) -> String {
    let mut u = Unstructured::new(data);
    // A few inputs are taken as raw text, to reach the TOML parser too.
    if data.first().is_some_and(|b| *b == b'#') {
        return String::from_utf8_lossy(&data[1..]).into_owned();
    }
    build_doc(&mut u).unwrap_or_default()
}

fn build_doc(u: &mut Unstructured) -> ArbResult<String> {
    use toml_edit::{value, DocumentMut, Item, Table};
    let mut doc = DocumentMut::new();
    let mut general = Table::new();
    general["name"] = value(valid_or(u, "relu", NAMES)?);
    general["version"] = value(if u.ratio(1, 32)? {
        0
    } else {
        u.int_in_range(1..=3)? as i64
    });
    if u.ratio(9, 10)? {
        general["edition"] = value(5);
    }
    general["license"] = value(valid_or(u, "Apache-2.0", &["MIT", "x y", ""])?);
    let mut backends: Vec<&str> = Vec::new();
    for b in BACKENDS {
        if u.ratio(1, 2)? {
            backends.push(b);
        }
    }
    if backends.is_empty() {
        backends.push("cpu");
    }
    general["backends"] = value(backends.iter().copied().collect::<toml_edit::Array>());
    if u.ratio(1, 3)? {
        general["python-depends"] = value(list_of(u, VALID_DEPS, TRICKY, 3)?);
    }
    if u.ratio(1, 4)? {
        let mut hub = Table::new();
        hub["repo-id"] = value(valid_or(u, "org/k", &["a", "o/../x"])?);
        general["hub"] = Item::Table(hub);
    }
    doc["general"] = Item::Table(general);

    if u.ratio(1, 8)? {
        let mut noarch = Table::new();
        if u.ratio(1, 2)? {
            noarch["cuda-capabilities"] = value(list_of(u, &["8.0"], CAPS, 2)?);
        }
        doc["torch-noarch"] = Item::Table(noarch);
        return Ok(doc.to_string());
    }
    let mut torch = Table::new();
    torch["src"] = value(list_of(u, VALID_PATHS, PATHS, 3)?);
    if u.ratio(1, 3)? {
        torch["include"] = value(list_of(u, VALID_PATHS, PATHS, 2)?);
    }
    if u.ratio(1, 2)? {
        torch["cxx-flags"] = value(list_of(u, VALID_FLAGS, TRICKY, 3)?);
    }
    if u.ratio(1, 4)? {
        torch["minver"] = value(valid_or(u, "2.11", VERSIONS)?);
    }
    if u.ratio(1, 4)? {
        torch["maxver"] = value(valid_or(u, "2.15", VERSIONS)?);
    }
    if u.ratio(1, 6)? {
        torch["stable-abi"] = value(valid_or(u, "2.11", VERSIONS)?);
    }
    doc["torch"] = Item::Table(torch);

    let mut kernels = Table::new();
    kernels.set_implicit(true);
    for i in 0..u.int_in_range(0..=3)? {
        let mut k = Table::new();
        let backend = *u.choose(&backends)?;
        k["backend"] = value(backend);
        k["depends"] = value(["torch"].into_iter().collect::<toml_edit::Array>());
        k["src"] = value(list_of(u, VALID_PATHS, PATHS, 3)?);
        if u.ratio(1, 3)? {
            k["include"] = value(list_of(u, VALID_PATHS, PATHS, 2)?);
        }
        if u.ratio(1, 2)? {
            k["cxx-flags"] = value(list_of(u, VALID_FLAGS, TRICKY, 3)?);
        }
        match backend {
            "cuda" => {
                if u.ratio(1, 2)? {
                    k["cuda-flags"] = value(list_of(u, VALID_FLAGS, TRICKY, 3)?);
                }
                if u.ratio(1, 2)? {
                    k["cuda-capabilities"] = value(list_of(u, &["8.0", "9.0"], CAPS, 3)?);
                }
            }
            "rocm" => {
                if u.ratio(1, 2)? {
                    k["hip-flags"] = value(list_of(u, VALID_FLAGS, TRICKY, 3)?);
                }
                if u.ratio(1, 2)? {
                    k["rocm-archs"] = value(list_of(u, &["gfx90a", "gfx942"], ARCHS, 2)?);
                }
            }
            "xpu" if u.ratio(1, 2)? => {
                k["sycl-flags"] = value(list_of(u, VALID_FLAGS, TRICKY, 3)?);
            }
            _ => {}
        }
        let name = if u.ratio(1, 16)? {
            pick(u, NAMES)?
        } else {
            format!("k{i}_{backend}")
        };
        kernels[name.as_str()] = Item::Table(k);
    }
    doc["kernel"] = Item::Table(kernels);
    Ok(doc.to_string())
}

// ---------------------------------------------------------------- CMake

/// One argument as CMake sees it after reading the file: escapes decoded,
/// unquoted arguments split on `;`, variable references left as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub text: String,
    pub quoted: bool,
}

/// Commands of a CMake file: (name in lowercase, arguments). Follows the
/// grammar of cmake-language(7); an error means CMake would not read it.
pub fn cmake_commands(src: &str) -> Result<Vec<(String, Vec<Arg>)>, String> {
    let b: Vec<char> = src.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let skip_bracket = |b: &[char], i: usize| -> Option<usize> {
        // `[` `=`* `[` ... `]` `=`* `]`; returns the index after it.
        if b.get(i) != Some(&'[') {
            return None;
        }
        let mut j = i + 1;
        let mut eq = 0;
        while b.get(j) == Some(&'=') {
            eq += 1;
            j += 1;
        }
        if b.get(j) != Some(&'[') {
            return None;
        }
        let close: Vec<char> = std::iter::once(']')
            .chain(std::iter::repeat_n('=', eq))
            .chain(std::iter::once(']'))
            .collect();
        let mut k = j + 1;
        while k + close.len() <= b.len() {
            if b[k..k + close.len()] == close[..] {
                return Some(k + close.len());
            }
            k += 1;
        }
        Some(usize::MAX)
    };
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            if let Some(end) = skip_bracket(&b, i + 1) {
                if end == usize::MAX {
                    return Err("unterminated bracket comment".into());
                }
                i = end;
            } else {
                while i < b.len() && b[i] != '\n' {
                    i += 1;
                }
            }
            continue;
        }
        if !(c.is_ascii_alphabetic() || c == '_') {
            return Err(format!("unexpected {c:?} where a command should start"));
        }
        let start = i;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == '_') {
            i += 1;
        }
        let name: String = b[start..i].iter().collect::<String>().to_lowercase();
        while i < b.len() && (b[i] == ' ' || b[i] == '\t') {
            i += 1;
        }
        if b.get(i) != Some(&'(') {
            return Err(format!("command `{name}` without `(`"));
        }
        i += 1;
        let mut depth = 0usize;
        let mut args = Vec::new();
        loop {
            let Some(&c) = b.get(i) else {
                return Err(format!("command `{name}` is not closed"));
            };
            match c {
                c if c.is_whitespace() => i += 1,
                '(' => {
                    depth += 1;
                    args.push(Arg {
                        text: "(".into(),
                        quoted: false,
                    });
                    i += 1;
                }
                ')' if depth == 0 => {
                    i += 1;
                    break;
                }
                ')' => {
                    depth -= 1;
                    args.push(Arg {
                        text: ")".into(),
                        quoted: false,
                    });
                    i += 1;
                }
                '#' => {
                    if let Some(end) = skip_bracket(&b, i + 1) {
                        if end == usize::MAX {
                            return Err("unterminated bracket comment".into());
                        }
                        i = end;
                    } else {
                        while i < b.len() && b[i] != '\n' {
                            i += 1;
                        }
                    }
                }
                '"' => {
                    i += 1;
                    let mut text = String::new();
                    loop {
                        match b.get(i) {
                            None => return Err(format!("unclosed quote in `{name}`")),
                            Some('"') => {
                                i += 1;
                                break;
                            }
                            Some('\\') => {
                                let e = *b.get(i + 1).ok_or("dangling backslash")?;
                                match e {
                                    '\n' => {}
                                    ';' => text.push_str("\\;"),
                                    't' => text.push('\t'),
                                    'n' => text.push('\n'),
                                    'r' => text.push('\r'),
                                    c if c.is_ascii_alphanumeric() => {
                                        return Err(format!("invalid escape \\{c} in `{name}`"))
                                    }
                                    c => text.push(c),
                                }
                                i += 2;
                            }
                            Some(&c) => {
                                text.push(c);
                                i += 1;
                            }
                        }
                    }
                    args.push(Arg { text, quoted: true });
                }
                '[' if skip_bracket(&b, i).is_some() => {
                    let end = skip_bracket(&b, i).unwrap();
                    if end == usize::MAX {
                        return Err("unterminated bracket argument".into());
                    }
                    let open = b[i + 1..].iter().position(|c| *c == '[').unwrap() + i + 2;
                    let eq = open - i - 2;
                    let text: String = b[open..end - eq - 2].iter().collect();
                    let text = text.strip_prefix('\n').unwrap_or(&text).to_string();
                    args.push(Arg { text, quoted: true });
                    i = end;
                }
                _ => {
                    // Unquoted (with legacy embedded quotes), split on `;`.
                    let mut text = String::new();
                    let mut parts = Vec::new();
                    while let Some(&c) = b.get(i) {
                        match c {
                            c if c.is_whitespace() || c == '(' || c == ')' || c == '#' => break,
                            '"' => {
                                // A legacy quoted segment: kept with its quotes,
                                // escapes decoded, no `(`, `)`, `#` or newline.
                                text.push('"');
                                i += 1;
                                loop {
                                    match b.get(i) {
                                        None | Some('(' | ')' | '#' | '\n') => {
                                            return Err(format!(
                                                "unterminated quote inside an unquoted argument of `{name}`"
                                            ))
                                        }
                                        Some('"') => {
                                            text.push('"');
                                            i += 1;
                                            break;
                                        }
                                        Some('\\') => {
                                            let e = *b.get(i + 1).ok_or("dangling backslash")?;
                                            match e {
                                                ';' => text.push_str("\\;"),
                                                't' => text.push('\t'),
                                                'n' => text.push('\n'),
                                                'r' => text.push('\r'),
                                                c => text.push(c),
                                            }
                                            i += 2;
                                        }
                                        Some(&q) => {
                                            text.push(q);
                                            i += 1;
                                        }
                                    }
                                }
                            }
                            '\\' => {
                                let e = *b.get(i + 1).ok_or("dangling backslash")?;
                                match e {
                                    ';' => text.push_str("\\;"),
                                    't' => text.push('\t'),
                                    'n' => text.push('\n'),
                                    'r' => text.push('\r'),
                                    c if c.is_ascii_alphanumeric() => {
                                        return Err(format!("invalid escape \\{c} in `{name}`"))
                                    }
                                    c => text.push(c),
                                }
                                i += 2;
                            }
                            ';' => {
                                parts.push(std::mem::take(&mut text));
                                i += 1;
                            }
                            c => {
                                text.push(c);
                                i += 1;
                            }
                        }
                    }
                    parts.push(text);
                    for p in parts.into_iter().filter(|p| !p.is_empty()) {
                        args.push(Arg {
                            text: p,
                            quoted: false,
                        });
                    }
                }
            }
        }
        out.push((name, args));
    }
    Ok(out)
}

/// Commands the generated CMakeLists.txt may contain; anything else was
/// injected by a value.
const CMAKE_COMMANDS: &[&str] = &[
    "cmake_minimum_required",
    "project",
    "set",
    "if",
    "endif",
    "foreach",
    "endforeach",
    "get_target_property",
    "get_source_file_property",
    "set_property",
    "include",
    "find_package",
    "kb_find_python",
    "kb_find_torch",
    "kb_find_tvm_ffi",
    "kb_configure_tvm_ffi_extension",
    "add_library",
    "set_target_properties",
    "kb_configure_extension",
    "target_include_directories",
    "target_compile_definitions",
    "target_compile_options",
    "kb_add_binding_source",
    "kb_add_kernel_source",
    "kb_dependency",
    "kb_finalize_extension",
    "install",
];

// ------------------------------------------------------------- checking

/// What one run produced, for the determinism check.
#[derive(Debug, PartialEq, Eq)]
struct Output {
    plan: Plan,
    plan_json: String,
    files: Vec<(String, Vec<(PathBuf, String)>)>,
    metadata: Vec<String>,
}

const OPS_NAME_UNIQUE: &str = "0123abc";

fn produce(src: &str) -> Result<Output, kb_core::config::ConfigErrors> {
    let dir = Path::new("/nonexistent-kernel-dir");
    let (config, _warnings) = parse_str(src, &dir.join("build.toml"), dir, false)?;
    let p = plan(
        &config,
        Matrix::get(),
        &Systems::All,
        Path::new("build.toml"),
        src.as_bytes(),
    )?;
    let plan_json = kb_build::backends::nix::plan_file_json(&p);
    let mut files = Vec::new();
    let mut metadata = Vec::new();
    // One variant per (framework, backend) is enough for the generated files.
    let mut seen = BTreeSet::new();
    for v in &p.variants {
        if !seen.insert((v.framework.as_str(), v.backend.as_str())) {
            continue;
        }
        let ops =
            kb_core::ops_id::ops_name(&p.kernel.python_name, v.backend.as_str(), OPS_NAME_UNIQUE);
        match kb_build::pyproject::generate(&p, v, None, &ops) {
            Ok(g) => files.push((v.name.clone(), g.files.into_iter().collect())),
            Err(e) => files.push((v.name.clone(), vec![("<error>".into(), e.to_string())])),
        }
        let m = kb_build::backends::variant_metadata(
            &p,
            v,
            &ops,
            None,
            kb_core::metadata::BuildInfo::default(),
        );
        metadata.push(m.to_json());
    }
    Ok(Output {
        plan: p,
        plan_json,
        files,
        metadata,
    })
}

/// Run build.toml -> plan -> generated files twice and check every property.
pub fn check(src: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    let first = produce(src);
    let second = produce(src);
    match (&first, &second) {
        (Ok(a), Ok(b)) if a != b => finding(&mut out, "nondeterministic", "two runs differ".into()),
        (Err(a), Err(b)) if a.to_string() != b.to_string() => finding(
            &mut out,
            "nondeterministic",
            "two runs report differently".into(),
        ),
        (Ok(_), Err(_)) | (Err(_), Ok(_)) => finding(
            &mut out,
            "nondeterministic",
            "accepted once, refused once".into(),
        ),
        _ => {}
    }
    match first {
        Err(errors) => {
            for d in &errors.0 {
                if d.severity == kb_core::config::Severity::Error
                    && d.key.is_empty()
                    && d.position.is_none()
                {
                    finding(
                        &mut out,
                        "error-without-key",
                        format!("refused without naming a key or a line: {}", d.message),
                    );
                }
            }
        }
        Ok(o) => check_output(&o, &mut out),
    }
    out
}

fn check_output(o: &Output, out: &mut Vec<Finding>) {
    let p = &o.plan;
    // Plan JSON: valid, and its strings are the plan's.
    match serde_json::from_str::<serde_json::Value>(&o.plan_json) {
        Err(e) => finding(
            out,
            "plan-json",
            format!("kernel-plan.json does not parse: {e}"),
        ),
        Ok(v) => {
            if v["kernel"]["name"].as_str() != Some(p.kernel.name.as_str()) {
                finding(
                    out,
                    "plan-json",
                    "kernel name changed in kernel-plan.json".into(),
                );
            }
        }
    }
    for m in &o.metadata {
        if let Err(e) = serde_json::from_str::<serde_json::Value>(m) {
            finding(
                out,
                "metadata-json",
                format!("metadata.json does not parse: {e}"),
            );
        }
    }
    for (vname, files) in &o.files {
        let v = p
            .variants
            .iter()
            .find(|v| &v.name == vname)
            .expect("generated for a planned variant");
        for (path, text) in files {
            let name = path.to_string_lossy();
            if name == "<error>" {
                if v.framework.as_str() != "tvm-ffi" {
                    finding(out, "generate-error", format!("{vname}: {text}"));
                }
                continue;
            }
            if name.ends_with("CMakeLists.txt") {
                if let Err(e) = cmake_commands(text) {
                    // Blame the flags when the file reads without them.
                    let class = if flagless_cmake_reads(p, v) {
                        "flag-breaks-cmake-syntax"
                    } else {
                        "cmake-syntax"
                    };
                    finding(out, class, format!("{}: {e}", v.name));
                    continue;
                }
                check_cmake(p, v, text, out);
            } else if name.ends_with("cmake/ops_name.h") {
                let ops = kb_core::ops_id::ops_name(
                    &p.kernel.python_name,
                    v.backend.as_str(),
                    OPS_NAME_UNIQUE,
                );
                let defined = text.lines().any(|l| {
                    let w: Vec<&str> = l.split_whitespace().collect();
                    w.len() == 3 && w[0] == "#define" && w[2] == ops
                });
                if !defined {
                    finding(
                        out,
                        "ops-name",
                        format!("{}: cmake/ops_name.h does not define `{ops}`", v.name),
                    );
                }
            } else if name.ends_with(".py") {
                check_python(p, v, &name, text, out);
            } else if name.ends_with("pyproject.toml") {
                check_pyproject(p, v, text, out);
            }
        }
    }
}

/// Does the variant's CMakeLists.txt read once every flag is removed?
fn flagless_cmake_reads(p: &Plan, v: &Variant) -> bool {
    let mut v = v.clone();
    v.cxx_flags.clear();
    for k in &mut v.kernels {
        k.cxx_flags.clear();
        k.cuda_flags.clear();
        k.hip_flags.clear();
        k.sycl_flags.clear();
    }
    let ops = kb_core::ops_id::ops_name(&p.kernel.python_name, v.backend.as_str(), OPS_NAME_UNIQUE);
    kb_build::pyproject::generate(p, &v, None, &ops).is_ok_and(|g| {
        g.files
            .iter()
            .filter(|(path, _)| path.ends_with("CMakeLists.txt"))
            .all(|(_, text)| cmake_commands(text).is_ok())
    })
}

fn check_cmake(p: &Plan, v: &Variant, text: &str, out: &mut Vec<Finding>) {
    let cmds = match cmake_commands(text) {
        Ok(c) => c,
        Err(e) => {
            finding(out, "cmake-syntax", format!("{}: {e}", v.name));
            return;
        }
    };
    for (name, _) in &cmds {
        if !CMAKE_COMMANDS.contains(&name.as_str()) {
            finding(
                out,
                "cmake-injection",
                format!("{}: command `{name}`", v.name),
            );
        }
    }
    let args: Vec<&Arg> = cmds.iter().flat_map(|(_, a)| a.iter()).collect();
    let has = |s: &str| args.iter().any(|a| a.text == s);
    let ops = kb_core::ops_id::ops_name(&p.kernel.python_name, v.backend.as_str(), OPS_NAME_UNIQUE);
    if !has(&v.name) {
        finding(
            out,
            "cmake-value",
            format!("{}: variant name `{}` not one argument", v.name, v.name),
        );
    }
    // The ops name stays out of CMake (cmake/ops_name.h carries it), so a new
    // commit recompiles the binding alone without reconfiguring.
    if text.contains(&ops) {
        finding(
            out,
            "cmake-value",
            format!("{}: ops name `{ops}` in CMakeLists.txt", v.name),
        );
    }
    let root = |s: &str| format!("${{KB_ROOT}}/{s}");
    for s in v
        .src
        .iter()
        .chain(v.kernels.iter().flat_map(|k| k.src.iter()))
    {
        if !has(&root(s)) {
            finding(
                out,
                "cmake-path",
                format!("{}: source `{}`", v.name, s.escape_debug()),
            );
        }
    }
    for s in v
        .include
        .iter()
        .chain(v.kernels.iter().flat_map(|k| k.include.iter()))
    {
        if !has(&root(s)) {
            finding(
                out,
                "cmake-path",
                format!("{}: include `{}`", v.name, s.escape_debug()),
            );
        }
    }
    // Flags: each must be one argument, byte for byte, and nothing CMake
    // would evaluate or split later (generator expressions, variable
    // references, list separators).
    let mut flags: Vec<(&str, &String)> =
        v.cxx_flags.iter().map(|f| ("torch.cxx-flags", f)).collect();
    for k in &v.kernels {
        let device: &[String] = match k.backend.as_str() {
            "cuda" => &k.cuda_flags,
            "rocm" => &k.hip_flags,
            "xpu" => &k.sycl_flags,
            _ => &[],
        };
        flags.extend(k.cxx_flags.iter().map(|f| ("kernel.cxx-flags", f)));
        flags.extend(device.iter().map(|f| ("kernel device flags", f)));
    }
    // What CMake hands the compiler for an argument in a place that evaluates
    // generator expressions: the two self-yielding spellings the generator
    // uses for `$` and `>` are decoded; any other expression or a variable
    // reference would be evaluated, so the argument is not opaque (None).
    fn evaluated(text: &str) -> Option<String> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            rest = &rest[i..];
            if let Some(r) = rest.strip_prefix("$<1:$>") {
                out.push('$');
                rest = r;
            } else if let Some(r) = rest.strip_prefix("$<ANGLE-R>") {
                out.push('>');
                rest = r;
            } else if rest.starts_with("$<") || rest.starts_with("${") || rest.starts_with("$ENV{")
            {
                return None;
            } else {
                out.push('$');
                rest = &rest[1..];
            }
        }
        out.push_str(rest);
        Some(out)
    }
    for (key, f) in flags {
        let class = if f.contains(';') {
            "flag-list-separator"
        } else if args
            .iter()
            .any(|a| evaluated(&a.text).as_deref() == Some(f.as_str()))
        {
            continue;
        } else if f.contains("$<") || f.contains("${") || f.contains("$ENV{") {
            "flag-cmake-expression"
        } else {
            "flag-not-one-argument"
        };
        finding(
            out,
            class,
            format!("{}: {key} `{}`", v.name, f.escape_debug()),
        );
    }
}

fn check_python(p: &Plan, v: &Variant, name: &str, text: &str, out: &mut Vec<Finding>) {
    let lits = match kb_core::python::string_literals(text) {
        Ok(l) => l,
        Err(e) => {
            finding(out, "python-syntax", format!("{}: {name}: {e}", v.name));
            return;
        }
    };
    if name.ends_with("setup.py") {
        for val in [&p.kernel.python_name, &p.kernel.python_package] {
            if !lits.iter().any(|l| l == val) {
                finding(
                    out,
                    "python-value",
                    format!(
                        "{}: setup.py lacks the literal `{}`",
                        v.name,
                        val.escape_debug()
                    ),
                );
            }
        }
    }
    if name.ends_with("_ops.py") {
        let ops =
            kb_core::ops_id::ops_name(&p.kernel.python_name, v.backend.as_str(), OPS_NAME_UNIQUE);
        match kb_core::python::ops_module(text) {
            Ok(m) if m.namespaces.iter().eq([&ops]) => {}
            // tvm-ffi: `ops` is the module tvm_ffi.load_module opens.
            Ok(m)
                if v.tvm_ffi.is_some()
                    && m.namespaces.is_empty()
                    && m.tvm_ffi_loads.iter().any(|l| l.contains(&ops)) => {}
            Ok(m) => finding(
                out,
                "python-value",
                format!("{}: _ops.py namespaces {:?}", v.name, m.namespaces),
            ),
            Err(e) => finding(out, "python-syntax", format!("{}: _ops.py: {e}", v.name)),
        }
    }
}

fn check_pyproject(p: &Plan, v: &Variant, text: &str, out: &mut Vec<Finding>) {
    let doc: toml::Value = match toml::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            finding(
                out,
                "toml-syntax",
                format!("{}: pyproject.toml: {e}", v.name),
            );
            return;
        }
    };
    if doc["project"]["name"].as_str() != Some(p.kernel.python_name.as_str()) {
        finding(out, "toml-value", format!("{}: project.name", v.name));
    }
    let deps: Vec<&str> = doc["project"]["dependencies"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str()).collect())
        .unwrap_or_default();
    let framework = match &v.tvm_ffi {
        Some(t) => format!("apache-tvm-ffi=={}.*", t.version.major_minor()),
        None => "torch".to_string(),
    };
    let want: Vec<&str> = std::iter::once(framework.as_str())
        .chain(v.python_depends.iter().map(String::as_str))
        .collect();
    if deps != want {
        finding(
            out,
            "toml-value",
            format!("{}: dependencies {deps:?} != {want:?}", v.name),
        );
    }
}
