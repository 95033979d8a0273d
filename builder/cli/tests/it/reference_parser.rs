//! Differential test against the reference's own config parser: the
//! `kernels-data` crate (huggingface/kernels), newest release on crates.io
//! (0.16.2). Every example and fixture `build.toml` goes through both
//! parsers; where they disagree, the case must be listed below with the
//! documented rule (docs/build-toml-rules.md) that explains it.
//!
//! The published crate predates edition 5: it refuses the `edition` key
//! itself, `general.minver`, `kernel-depends`, the `tpu` backend, the
//! per-backend `[torch.stable-abi]` table, `cxx-flags` in `[torch]` and
//! `[tvm-ffi]`, and the `cutlass_4_4` dependency. An edition-5 file is
//! therefore also tried with its `edition = 5` line removed (the published
//! v4 schema is edition 5 without those keys); if that is accepted, the two
//! parsers agree.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kernels_data::config::{Build, BuildCompat};

use kb_core::config::Framework;
use kb_core::KernelProject;

use crate::support::repo;

/// The comparable core of a configuration.
#[derive(Debug, PartialEq, Eq)]
struct Summary {
    name: String,
    version: u64,
    framework: &'static str,
    backends: BTreeSet<String>,
    kernels: BTreeSet<(String, String)>,
}

/// Ours: what `check-config` does (load and plan every system).
fn ours(dir: &Path) -> Result<Summary, String> {
    let project = KernelProject::load(Some(dir)).map_err(|e| e.to_string())?;
    let c = &project.config;
    Ok(Summary {
        name: c.general.name.clone(),
        version: c.general.version,
        framework: match c.framework {
            Framework::Torch(_) => "torch",
            Framework::TorchNoarch(_) => "torch-noarch",
            Framework::TvmFfi(_) => "tvm-ffi",
        },
        backends: c.general.backends.iter().map(|b| b.to_string()).collect(),
        kernels: c
            .kernels
            .iter()
            .map(|(n, k)| (n.clone(), k.backend.to_string()))
            .collect(),
    })
}

/// The reference: parse (v3 or v4 schema) and convert to its current model.
fn reference_once(text: &str) -> Result<Summary, String> {
    let compat: BuildCompat = toml::from_str(text).map_err(|e| e.to_string())?;
    let b = Build::try_from(compat).map_err(|e| e.to_string())?;
    Ok(Summary {
        name: b.general.name.as_str().to_string(),
        version: b.general.version as u64,
        framework: match b.framework {
            kernels_data::config::Framework::Torch(_) => "torch",
            kernels_data::config::Framework::TorchNoarch(_) => "torch-noarch",
            kernels_data::config::Framework::TvmFfi(_) => "tvm-ffi",
        },
        backends: b.general.backends.iter().map(|b| b.to_string()).collect(),
        kernels: b
            .kernels
            .iter()
            .map(|(n, k)| (n.clone(), k.backend().to_string()))
            .collect(),
    })
}

/// The reference, retrying an edition-5 file without its `edition` line.
fn reference(text: &str) -> (Result<Summary, String>, bool) {
    let first = reference_once(text);
    if first.is_ok() || !text.lines().any(is_edition_line) {
        return (first, false);
    }
    let stripped: String = text
        .lines()
        .filter(|l| !is_edition_line(l))
        .map(|l| format!("{l}\n"))
        .collect();
    (reference_once(&stripped), true)
}

fn is_edition_line(l: &str) -> bool {
    let l = l.split('#').next().unwrap_or("").replace(' ', "");
    l == "edition=5"
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// kernel-builder accepts, the published reference parser refuses.
    OursOnly,
    /// kernel-builder refuses, the reference parser accepts.
    ReferenceOnly,
    /// Both accept, but the published parser reads something else (its
    /// older-format fallback drops a framework table it cannot read and
    /// treats the kernel as pure Python).
    Misread,
}

/// Every known disagreement: case (relative to the repository), which side
/// accepts, the rule id in docs/build-toml-rules.md, and why.
const DISAGREEMENTS: &[(&str, Side, &str, &str)] = &[
    (
        "builder/cli/tests/fixtures/noarch",
        Side::OursOnly,
        "noarch-key-spelling",
        "[torch-noarch] cuda-capabilities: the reference only reads the underscore spelling `cuda_capabilities`",
    ),
    (
        "builder/cli/tests/fixtures/stable-abi",
        Side::Misread,
        "published-crate-misreads-framework",
        "[torch] with stable-abi: read as pure Python by the crate's edition-3 fallback",
    ),
    (
        "examples/relu-stable-abi",
        Side::Misread,
        "published-crate-misreads-framework",
        "[torch] with stable-abi: read as pure Python by the crate's edition-3 fallback",
    ),
    (
        "builder/cli/tests/fixtures/stable-abi-per-backend",
        Side::Misread,
        "published-crate-misreads-framework",
        "per-backend [torch.stable-abi] (an edition-5 table): [torch] read as pure Python",
    ),
    (
        "builder/cli/tests/fixtures/compat/stable-abi-dead-entry",
        Side::Misread,
        "published-crate-misreads-framework",
        "per-backend [torch.stable-abi] (an edition-5 table): [torch] read as pure Python",
    ),
    (
        "builder/cli/tests/fixtures/compat/tvm-ffi-xpu",
        Side::Misread,
        "published-crate-misreads-framework",
        "[tvm-ffi] cxx-flags (newer than 0.16.2): [tvm-ffi] read as pure Python",
    ),
    (
        "builder/cli/tests/fixtures/compat/legacy-tvm-ffi-cxx-flags",
        Side::Misread,
        "published-crate-misreads-framework",
        "[tvm-ffi] cxx-flags (newer than 0.16.2): [tvm-ffi] read as pure Python",
    ),
    (
        "builder/cli/tests/fixtures/compat/legacy-torch-cxx-flags",
        Side::OursOnly,
        "published-crate-predates-edition-5",
        "[torch] cxx-flags: newer than kernels-data 0.16.2 (the reference's current v4 has it)",
    ),
    (
        "builder/cli/tests/fixtures/compat/torch-backend-without-kernel",
        Side::OursOnly,
        "published-crate-predates-edition-5",
        "backend `tpu`: newer than kernels-data 0.16.2 (the reference's current model has it)",
    ),
    (
        "builder/cli/tests/fixtures/compat/cutlass-4-4",
        Side::OursOnly,
        "depends-known",
        "cutlass_4_4: newer than kernels-data 0.16.2 (the reference's cpp-deps.nix provides it)",
    ),
    (
        "builder/cli/tests/fixtures/compat/no-capability-left",
        Side::ReferenceOnly,
        "no-capability-left",
        "the reference parses capability strings without checking them; its build then has nothing to compile for",
    ),
    (
        "builder/cli/tests/fixtures/compat/invalid-capability",
        Side::ReferenceOnly,
        "no-capability-left",
        "the reference's relu-invalid-capability pattern: parsed, then its build fails",
    ),
];

/// Directories holding a `build.toml` under `base`, recursively.
fn kernel_dirs(base: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(base) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.join("build.toml").is_file() {
                out.push(p.clone());
            }
            kernel_dirs(&p, out);
        }
    }
}

struct Row {
    case: String,
    ours: Result<Summary, String>,
    reference: Result<Summary, String>,
    stripped: bool,
}

fn compare(dirs: &[PathBuf], root: &Path) -> Vec<Row> {
    dirs.iter()
        .map(|d| {
            let text = std::fs::read_to_string(d.join("build.toml")).unwrap();
            let (reference, stripped) = reference(&text);
            Row {
                case: d
                    .strip_prefix(root)
                    .unwrap_or(d)
                    .to_string_lossy()
                    .into_owned(),
                ours: ours(d),
                reference,
                stripped,
            }
        })
        .collect()
}

fn first_line(e: &str) -> &str {
    e.lines().next().unwrap_or("")
}

#[test]
fn examples_and_fixtures_agree_with_the_reference_parser() {
    let root = repo();
    let mut dirs = Vec::new();
    kernel_dirs(&root.join("examples"), &mut dirs);
    kernel_dirs(&root.join("builder/cli/tests/fixtures"), &mut dirs);
    dirs.sort();
    assert!(dirs.len() >= 20, "found only {} cases", dirs.len());
    let rows = compare(&dirs, &root);

    let docs = std::fs::read_to_string(root.join("docs/build-toml-rules.md")).unwrap();
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    for r in &rows {
        let expected = DISAGREEMENTS.iter().find(|d| d.0 == r.case);
        let side = match (&r.ours, &r.reference) {
            (Ok(a), Ok(b)) if a != b => Some(Side::Misread),
            (Ok(_), Ok(_)) => None,
            (Err(_), Err(_)) => None,
            (Ok(_), Err(_)) => Some(Side::OursOnly),
            (Err(_), Ok(_)) => Some(Side::ReferenceOnly),
        };
        match (side, expected) {
            (None, None) => {}
            (Some(s), Some(d)) if d.1 == s => {
                seen.insert(d.0);
                let detail = match (&r.ours, &r.reference) {
                    (Ok(_), Err(e)) => first_line(e).to_string(),
                    (Err(e), _) => first_line(e).to_string(),
                    (Ok(a), Ok(b)) => format!("ours {a:?}, reference {b:?}"),
                };
                eprintln!("disagreement {} [{}]: {} ({detail})", r.case, d.2, d.3);
            }
            (Some(s), _) => problems.push(format!(
                "{}: unexplained disagreement ({s:?}); ours: {:?}; reference: {:?}",
                r.case,
                r.ours.as_ref().map_err(|e| first_line(e)),
                r.reference.as_ref().map_err(|e| first_line(e)),
            )),
            (None, Some(d)) => problems.push(format!(
                "{}: listed as a disagreement ({}) but both parsers agree",
                r.case, d.2
            )),
        }
        if r.stripped && r.reference.is_ok() {
            eprintln!(
                "note {}: the published crate refuses `edition`; accepted without it [published-crate-predates-edition-5]",
                r.case
            );
        }
    }
    for d in DISAGREEMENTS {
        if !seen.contains(d.0) && !problems.iter().any(|p| p.starts_with(d.0)) {
            problems.push(format!("{}: listed but not found among the cases", d.0));
        }
        if !docs.contains(&format!("`{}`", d.2)) {
            problems.push(format!(
                "rule `{}` is not documented in docs/build-toml-rules.md",
                d.2
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The comparison is not vacuous: most cases are accepted by both.
    let both = rows
        .iter()
        .filter(|r| r.ours.is_ok() && r.reference.is_ok())
        .count();
    assert!(
        both * 2 > rows.len(),
        "only {both} of {} agree on acceptance",
        rows.len()
    );
}

/// Measure acceptance on a directory of kernel checkouts (for example the
/// community kernels): `KB_COMMUNITY_DIR=/path cargo test -p kernel-builder
/// --test it -- --ignored reference_parser --nocapture`. Prints one line per kernel.
#[test]
#[ignore = "needs KB_COMMUNITY_DIR: a directory of kernel checkouts"]
fn community_acceptance() {
    let dir = std::env::var_os("KB_COMMUNITY_DIR").expect("set KB_COMMUNITY_DIR");
    let root = PathBuf::from(dir);
    let mut dirs = Vec::new();
    for e in std::fs::read_dir(&root).unwrap().flatten() {
        if e.path().join("build.toml").is_file() {
            dirs.push(e.path());
        }
    }
    dirs.sort();
    let rows = compare(&dirs, &root);
    let mut counts = [0usize; 4];
    for r in &rows {
        let i = (r.ours.is_ok() as usize) * 2 + r.reference.is_ok() as usize;
        counts[i] += 1;
        println!(
            "{:<34} ours: {:<8} reference: {:<8}{} {}",
            r.case,
            if r.ours.is_ok() { "accept" } else { "refuse" },
            if r.reference.is_ok() {
                "accept"
            } else {
                "refuse"
            },
            if r.stripped {
                " (edition stripped)"
            } else {
                ""
            },
            match (&r.ours, &r.reference) {
                (Err(e), _) => first_line(e).to_string(),
                (_, Err(e)) => first_line(e).to_string(),
                _ => String::new(),
            }
        );
    }
    println!(
        "both accept {}, only ours {}, only reference {}, both refuse {} (of {})",
        counts[3],
        counts[2],
        counts[1],
        counts[0],
        rows.len()
    );
}
