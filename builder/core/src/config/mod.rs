//! `build.toml`: model, parsing (editions 3-5), validation and migration,
//! and the dependencies `kernel.<name>.depends` may name (`depends`).

pub mod depends;
pub mod diag;
pub mod migrate;
pub mod model;
pub mod parse;

pub use diag::{ConfigErrors, Diagnostic, Severity};
pub use model::*;
pub use parse::{build_toml_path, load, load_with, parse_str, Loaded};
