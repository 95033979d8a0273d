//! kernel-builder: turn a kernel project (`build.toml` + sources) into
//! Hub-compliant builds, check them, and publish them.

pub mod backends;
pub mod cli;
pub mod commands;
pub mod config;
pub mod matrix;
pub mod ops_id;
pub mod pkgmeta;
pub mod plan;
pub mod pyproject;
