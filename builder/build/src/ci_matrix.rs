//! `kernel-builder ci-matrix`: one CI job per variant, with runner hints.
//!
//! The jobs come from the plan (the single source of truth): every variant
//! of every system, noarch variants once (on `x86_64-linux`). Each job builds
//! `packages.<system>.redistributable.<variant>` of the kernel flake and runs
//! `ciTests.<variant>` (the kernel's `kernels_ci` tests) on a runner with the
//! variant's hardware. `templates/ci/kernel-builds.yml` consumes `--json`.

use kb_core::config::Backend;
use kb_core::plan::{Plan, Systems, Variant};
use kb_core::{KernelProject, Report};
use serde::Serialize;

/// One CI job.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct Job {
    pub variant: String,
    pub system: String,
    pub backend: String,
    pub framework: String,
    pub torch: Option<String>,
    pub toolkit: Option<String>,
    pub required: bool,
    /// Flake attribute that builds the variant.
    pub attr: String,
    /// Flake attribute of the variant's test runner (`nix run .#<test-attr>`).
    pub test_attr: String,
    /// Runner labels suited to building (no accelerator needed).
    pub build_runner: Vec<String>,
    /// Runner labels suited to testing (the variant's accelerator).
    pub test_runner: Vec<String>,
    /// Whether tests need an accelerator that hosted runners lack.
    pub needs_accelerator: bool,
}

/// Hosted-runner labels for building on a system.
pub fn build_runner(system: &str) -> Vec<String> {
    match system {
        "x86_64-linux" => vec!["ubuntu-24.04".into()],
        "aarch64-linux" => vec!["ubuntu-24.04-arm".into()],
        "aarch64-darwin" => vec!["macos-15".into()],
        other => vec!["self-hosted".into(), other.into()],
    }
}

/// Labels for testing a backend on a system: hosted runners for CPU and
/// Metal (Apple silicon runners have a GPU); self-hosted labels naming the
/// accelerator otherwise, to be mapped to the organisation's runners.
pub fn test_runner(system: &str, backend: Backend) -> (Vec<String>, bool) {
    let arch = match system.split('-').next().unwrap_or_default() {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        a => a,
    };
    let gpu = match backend {
        Backend::Cuda => "gpu-nvidia",
        Backend::Rocm => "gpu-amd",
        Backend::Xpu => "gpu-intel",
        Backend::Neuron => "neuron",
        Backend::Tpu => "tpu",
        Backend::Cann => "npu-ascend",
        Backend::Cpu | Backend::Metal => return (build_runner(system), false),
    };
    (
        vec![
            "self-hosted".into(),
            "linux".into(),
            arch.into(),
            gpu.into(),
        ],
        true,
    )
}

fn job(v: &Variant, system: &str) -> Job {
    let (test_runner, needs_accelerator) = test_runner(system, v.backend);
    Job {
        variant: v.name.clone(),
        system: system.to_string(),
        backend: v.backend.as_str().to_string(),
        framework: v.framework.to_string(),
        torch: v.torch.as_ref().map(|t| t.version.to_string()),
        toolkit: v.toolkit.as_ref().map(|t| t.to_string()),
        required: v.required,
        attr: format!("packages.{system}.redistributable.{}", v.name),
        test_attr: format!("packages.{system}.ciTests.{}", v.name),
        build_runner: build_runner(system),
        test_runner,
        needs_accelerator,
    }
}

/// The jobs of a plan, in plan order, noarch variants on `x86_64-linux`.
pub fn jobs(plan: &Plan, system: Option<&str>, required_only: bool) -> Vec<Job> {
    plan.variants
        .iter()
        .filter(|v| !required_only || v.required)
        .filter_map(|v| {
            let s = v.system.as_deref().unwrap_or("x86_64-linux");
            if system.is_some_and(|want| want != s) {
                return None;
            }
            Some(job(v, s))
        })
        .collect()
}

/// The CI job matrix; its JSON is a bare array on one line (a GitHub
/// Actions `matrix.include`).
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct CiMatrix {
    pub jobs: Vec<Job>,
}

/// `kernel-builder ci-matrix`.
pub fn run(
    project: &KernelProject,
    system: Option<&str>,
    required_only: bool,
) -> Result<CiMatrix, kb_core::config::ConfigErrors> {
    let systems = match system {
        Some(s) => Systems::One(s.to_string()),
        None => Systems::All,
    };
    let plan = project.plan_for(&systems)?;
    Ok(CiMatrix {
        jobs: jobs(&plan, system, required_only),
    })
}

impl Report for CiMatrix {
    fn json_compact(&self) -> bool {
        true
    }

    fn text(&self) -> String {
        use std::fmt::Write;
        let jobs = &self.jobs;
        let mut out = String::new();
        let w = jobs
            .iter()
            .map(|j| j.variant.len())
            .max()
            .unwrap_or(7)
            .max(7);
        let _ = writeln!(
            out,
            "{:<w$}  {:<14}  {:<18}  test runner",
            "variant", "system", "build runner"
        );
        for j in jobs {
            let _ = writeln!(
                out,
                "{:<w$}  {:<14}  {:<18}  {}",
                j.variant,
                j.system,
                j.build_runner.join(","),
                j.test_runner.join(",")
            );
        }
        let _ = writeln!(out, "{} job(s)", jobs.len());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runner_hints() {
        assert_eq!(build_runner("aarch64-linux"), vec!["ubuntu-24.04-arm"]);
        let (labels, acc) = test_runner("x86_64-linux", Backend::Cuda);
        assert!(acc);
        assert_eq!(labels, vec!["self-hosted", "linux", "x64", "gpu-nvidia"]);
        let (labels, acc) = test_runner("aarch64-darwin", Backend::Metal);
        assert!(!acc);
        assert_eq!(labels, vec!["macos-15"]);
    }
}
