//! The model of a kernel project and of its build artifacts: `build.toml`
//! (parse, validate, migrate), the variant matrix, the build plan, variant
//! names, `metadata.json`, the files of a variant (one walk, the loader's
//! rule) and their digest, and what a kernel's Python sources declare.
//!
//! Nothing here prints or knows about the command line; functions take typed
//! options and return data or [`Error`]. Long-running work reports through
//! [`progress::Progress`].

pub mod config;
pub mod digest;
pub mod error;
pub mod fsutil;
pub mod matrix;
pub mod metadata;
pub mod ops_id;
pub mod plan;
pub mod progress;
pub mod project;
pub mod pyenv;
pub mod python;
pub mod report;
pub mod text;
pub mod variant;
pub mod walk;

pub use error::{Context, Error, Result};
pub use project::KernelProject;
pub use report::{Report, Status};
pub use variant::{Framework, VariantName};
