//! Hub compliance as a measured fact.
//!
//! A build is compliant when the ABI check finds nothing for the Hub's target
//! (manylinux_2_28, the Python 3.9 limited API, and the Torch stable ABI of
//! stable-ABI variants), the layout and loader checks pass, and the toolchain
//! that built it is the one the plan asks for (torch and toolkit versions).
//! The local backend records the verdict and its evidence in `metadata.json`
//! `build-info`; `upload` runs [`check_variant_dir`] (through the CLI) on
//! variants whose `build-info` it cannot trust.

use std::path::Path;

use kb_core::config::Backend;
use kb_core::metadata::{AbiCheck, ComplianceChecks};
use kb_core::plan::Variant;

use crate::abi::{self, AbiOptions, Violation};
use crate::verify::{self, Status as VerifyStatus};
use crate::{Framework, VariantName};

/// The Hub's target (see the kernel requirements).
pub const MANYLINUX: &str = "manylinux_2_28";
pub const PYTHON_ABI: &str = "3.9";

/// One ABI finding: the module it is in and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub violation: Violation,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file, self.violation)
    }
}

/// The ABI options of the Hub target for a variant directory name.
pub fn abi_options(variant: &str) -> AbiOptions {
    let torch_stable_abi = match VariantName::parse(variant) {
        Ok(VariantName {
            framework: Framework::TorchStableAbi,
            version: Some((major, minor)),
            ..
        }) => Some(format!("{major}.{minor}")),
        _ => None,
    };
    AbiOptions {
        manylinux: MANYLINUX.into(),
        python: PYTHON_ABI.into(),
        torch_stable_abi,
        ..Default::default()
    }
}

/// ABI findings of every native module in `dir` against the Hub target.
/// `Err` when a module could not be read (that is never compliant either).
pub fn abi_findings(dir: &Path) -> Result<Vec<Finding>, String> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let report = abi::check_variant(dir, &abi_options(&name))?;
    if let Some(e) = report.errors.first() {
        return Err(format!("{}: {}", e.file, e.error));
    }
    Ok(report
        .files
        .iter()
        .flat_map(|f| {
            let file = f
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            f.violations.iter().map(move |v| Finding {
                file: file.clone(),
                violation: v.clone(),
            })
        })
        .collect())
}

/// Outcome of the loader (`get_kernel`) check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loader {
    Passed,
    Failed(String),
    /// Not run (this host's torch cannot load the variant, no Python, ...).
    NotRun(String),
}

/// Everything the verdict rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Findings as displayed (with any explanation appended), or why the ABI
    /// check could not run.
    pub abi: Result<Vec<String>, String>,
    pub layout: Vec<String>,
    pub loader: Loader,
    /// Toolchain mismatches with the plan. `None`: not recorded (a build
    /// checked at upload), which cannot be held against it; the local
    /// backend always knows its toolchain.
    pub toolchain: Option<Vec<String>>,
}

impl Evidence {
    /// Why the build is not compliant; empty: it is.
    pub fn reasons(&self) -> Vec<String> {
        let mut r = Vec::new();
        match &self.abi {
            Ok(f) if f.is_empty() => {}
            Ok(f) => r.push(format!(
                "{} ABI finding(s) for {MANYLINUX} + abi3 (Python {PYTHON_ABI})",
                f.len()
            )),
            Err(e) => r.push(format!("the ABI check could not read a module: {e}")),
        }
        if !self.layout.is_empty() {
            r.push(format!("layout check: {}", self.layout.join("; ")));
        }
        match &self.loader {
            Loader::Passed => {}
            Loader::Failed(e) => r.push(format!("loader check failed: {e}")),
            Loader::NotRun(e) => r.push(format!("loader check not run: {e}")),
        }
        if let Some(m) = &self.toolchain {
            r.extend(m.iter().map(|m| format!("toolchain: {m}")));
        }
        r
    }

    pub fn compliant(&self) -> bool {
        self.reasons().is_empty()
    }

    /// `build-info.checks`: what each check concluded.
    pub fn checks(&self, torch_stable_abi: Option<&str>) -> ComplianceChecks {
        let mut target = format!("{MANYLINUX}, Python {PYTHON_ABI} limited API (abi3)");
        if let Some(t) = torch_stable_abi {
            target.push_str(&format!(", Torch stable ABI {t}"));
        }
        ComplianceChecks {
            abi: AbiCheck {
                target,
                result: match &self.abi {
                    Ok(f) if f.is_empty() => "passed".to_string(),
                    Ok(f) => format!("{} finding(s)", f.len()),
                    Err(e) => format!("error: {e}"),
                },
            },
            layout: if self.layout.is_empty() {
                "passed".to_string()
            } else {
                format!("failed: {}", self.layout.join("; "))
            },
            loader: match &self.loader {
                Loader::Passed => "passed".to_string(),
                Loader::Failed(e) => format!("failed: {e}"),
                Loader::NotRun(e) => format!("not run: {e}"),
            },
            toolchain: match &self.toolchain {
                Some(m) if m.is_empty() => "matches the plan".to_string(),
                Some(m) => format!("mismatch: {}", m.join("; ")),
                None => "unknown".to_string(),
            },
        }
    }
}

/// `1.2.3+cu132` -> (1, 2).
fn major_minor(v: &str) -> Option<(u32, u32)> {
    let base = v.split('+').next()?;
    let mut it = base.split('.').map(|p| p.parse::<u32>().ok());
    Some((it.next()??, it.next()??))
}

/// `Cuda compilation tools, release 13.2, V13.2.78` -> `13.2`.
pub fn nvcc_release(version_line: &str) -> Option<String> {
    let rest = version_line.split("release ").nth(1)?;
    let v: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!v.is_empty()).then_some(v)
}

/// Differences between the toolchain that built `v` and the plan: the torch
/// release (major.minor), the CUDA compiler's release, and the CUDA version
/// torch itself was built for (its `+cuXYZ` tag).
pub fn toolchain_mismatches(v: &Variant, torch: &str, nvcc: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = &v.torch {
        let want = t.version.major_minor();
        let want = (
            want.0.first().copied().unwrap_or(0) as u32,
            want.0.get(1).copied().unwrap_or(0) as u32,
        );
        if major_minor(torch) != Some(want) {
            out.push(format!(
                "built against torch {torch}, the plan asks for torch {}",
                t.version
            ));
        }
    }
    if let (Backend::Cuda, Some(tk)) = (v.backend, &v.toolkit) {
        if v.framework != Framework::TorchNoarch {
            let want = tk.major_minor().to_string();
            match nvcc.and_then(nvcc_release) {
                Some(r) if major_minor(&r) == major_minor(&want) => {}
                Some(r) => out.push(format!(
                    "compiled with nvcc {r}, the plan asks for CUDA {want}"
                )),
                None => out.push(format!(
                    "the nvcc release is unknown, the plan asks for CUDA {want}"
                )),
            }
            let digits: String = want.chars().filter(|c| c.is_ascii_digit()).collect();
            if let Some(tag) = torch.split('+').nth(1).and_then(|t| t.strip_prefix("cu")) {
                if tag != digits {
                    out.push(format!(
                        "torch {torch} is built for CUDA {tag}, the variant for CUDA {want}"
                    ));
                }
            }
        }
    }
    out
}

/// The checks `upload` runs itself on a variant without a trustworthy
/// `build-info`: ABI, layout, then (only when those pass, since it starts
/// Python) the loader. The toolchain stays unknown.
pub fn check_variant_dir(dir: &Path) -> Evidence {
    let abi = abi_findings(dir).map(|f| f.iter().map(|f| f.to_string()).collect::<Vec<_>>());
    let layout: Vec<String> = crate::layout::check_variant_layout(dir, None)
        .issues
        .iter()
        .filter(|i| i.severity == crate::layout::Severity::Error)
        .map(|i| i.to_string())
        .collect();
    let clean = matches!(&abi, Ok(f) if f.is_empty()) && layout.is_empty();
    let loader = if clean {
        run_loader(dir)
    } else {
        Loader::NotRun("the ABI or layout check failed first".into())
    };
    Evidence {
        abi,
        layout,
        loader,
        toolchain: None,
    }
}

/// Why the variant in `dir` is not Hub-compliant by [`check_variant_dir`]
/// (the reasons, then each ABI finding); empty when it is. What `upload`
/// runs on variants without a trustworthy `build-info`.
pub fn problems(dir: &Path) -> Vec<String> {
    let evidence = check_variant_dir(dir);
    let mut out = evidence.reasons();
    if let Ok(findings) = &evidence.abi {
        out.extend(findings.iter().cloned());
    }
    out
}

fn run_loader(dir: &Path) -> Loader {
    let home = match tempfile::tempdir() {
        Ok(h) => h,
        Err(e) => return Loader::NotRun(format!("cannot create a temporary directory: {e}")),
    };
    let (python, probe) = match verify::find_python(None, home.path()) {
        Ok(p) => p,
        Err(e) => return Loader::NotRun(e),
    };
    let r = verify::verify_variant(dir, &python, &probe, None, false);
    match r.status {
        VerifyStatus::Ok => Loader::Passed,
        VerifyStatus::Skipped => Loader::NotRun(r.reason.unwrap_or_default()),
        VerifyStatus::Failed => {
            let mut msg = r.reason.unwrap_or_default();
            for p in r.problems {
                msg.push_str(&format!("; {p}"));
            }
            Loader::Failed(msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean() -> Evidence {
        Evidence {
            abi: Ok(Vec::new()),
            layout: Vec::new(),
            loader: Loader::Passed,
            toolchain: Some(Vec::new()),
        }
    }

    #[test]
    fn compliant_only_when_every_check_passes() {
        assert!(clean().compliant());
        let mut e = clean();
        e.abi = Ok(vec!["x.so: symbol `closefrom` needs GLIBC_2.34".into()]);
        assert_eq!(e.reasons().len(), 1);
        assert!(e.reasons()[0].contains("1 ABI finding"));
        let mut e = clean();
        e.loader = Loader::NotRun("cannot load cuda".into());
        assert!(!e.compliant());
        let mut e = clean();
        e.toolchain = Some(vec!["built against torch 2.14.1".into()]);
        assert_eq!(e.reasons(), ["toolchain: built against torch 2.14.1"]);
        e.toolchain = None;
        assert!(
            e.compliant(),
            "upload cannot know a foreign build's toolchain"
        );
        assert_eq!(e.checks(None).toolchain, "unknown");
        let mut e = clean();
        e.abi = Err("malformed ELF".into());
        assert!(e.reasons()[0].contains("could not read"));
        let c = clean().checks(Some("2.11"));
        assert_eq!(c.abi.result, "passed");
        assert!(
            c.abi.target.ends_with("Torch stable ABI 2.11"),
            "{}",
            c.abi.target
        );
    }

    #[test]
    fn stable_abi_variants_are_checked_against_their_torch_abi() {
        let o = abi_options("torch-stable-abi211-cpu-x86_64-linux");
        assert_eq!(o.torch_stable_abi.as_deref(), Some("2.11"));
        assert_eq!(o.manylinux, MANYLINUX);
        assert_eq!(
            abi_options("torch215-cxx11-cpu-x86_64-linux").torch_stable_abi,
            None
        );
    }

    #[test]
    fn toolchain_is_matched_with_the_plan() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/relu");
        let plan = kb_core::KernelProject::load(Some(&dir)).unwrap().plan;
        let cpu = plan.variant("torch215-cxx11-cpu-x86_64-linux").unwrap();
        let cu = plan.variant("torch215-cxx11-cu132-x86_64-linux").unwrap();
        assert!(toolchain_mismatches(cpu, "2.15.0+cu132", None).is_empty());
        assert_eq!(toolchain_mismatches(cpu, "2.14.1", None).len(), 1);
        let nvcc = "Cuda compilation tools, release 13.2, V13.2.78";
        assert!(toolchain_mismatches(cu, "2.15.0+cu132", Some(nvcc)).is_empty());
        let m = toolchain_mismatches(cu, "2.15.0+cu130", Some("release 13.0, V13.0.1"));
        assert_eq!(m.len(), 2, "{m:?}");
        assert_eq!(toolchain_mismatches(cu, "2.15.0", None).len(), 1);
        assert_eq!(nvcc_release(nvcc).as_deref(), Some("13.2"));
    }
}
