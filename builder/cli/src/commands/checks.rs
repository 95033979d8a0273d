//! Checks of built variants: `check-abi`, `check-builds`, `hash`, `verify`.

use anyhow::Result;
use kb_checks::{abi, hash, layout, resolve_target, verify};
use kb_core::Status;

use super::{dir_or_cwd, load};
use crate::cli::*;
use crate::output::Printer;

pub fn check_abi(a: CheckAbiArgs, p: Printer) -> Result<Status> {
    let options = abi::AbiOptions {
        manylinux: a.manylinux,
        macos: a.macos,
        python: a.python_abi,
        torch_stable_abi: a.torch_stable_abi,
    };
    let report = abi::run(&dir_or_cwd(a.kernel_dir.as_deref()), &options)?;
    Ok(p.report(&report))
}

pub fn check_builds(a: CheckBuildsArgs, p: Printer) -> Result<Status> {
    let dir = dir_or_cwd(a.kernel_dir.as_deref());
    // The project the builds belong to, for the compliance report.
    let project = match resolve_target(&dir, false)?.project_root() {
        Some(root) => Some(load(Some(&root), p)?),
        None => None,
    };
    let report = layout::run(&dir, project.as_ref())?;
    Ok(p.report(&report))
}

pub fn hash(a: HashArgs, p: Printer) -> Result<Status> {
    let report = hash::run(&dir_or_cwd(a.kernel_dir.as_deref()), a.check)?;
    Ok(p.report(&report))
}

pub fn verify(a: VerifyArgs, p: Printer) -> Result<Status> {
    let options = verify::VerifyOptions {
        python: a.python,
        other: a.other,
        unique: !a.no_unique,
    };
    let report = verify::run(&dir_or_cwd(a.kernel_dir.as_deref()), &options)?;
    Ok(p.report(&report))
}
