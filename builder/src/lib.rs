//! kernel-builder: turn a kernel project (`build.toml` + sources) into
//! Hub-compliant builds, check them, and publish them.

pub mod backends;
pub mod card;
pub mod checks;
pub mod ci_matrix;
pub mod cli;
pub mod clidoc;
pub mod commands;
pub mod config;
pub mod depends;
pub mod doctor;
pub mod hub;
pub mod init;
pub mod matrix;
pub mod ops_id;
pub mod pkgmeta;
pub mod plan;
pub mod pyproject;
pub mod skills;
