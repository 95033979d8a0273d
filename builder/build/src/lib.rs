//! Building kernels: the generated CMake/Python project (`pyproject`), the
//! local (host toolchain) and Nix backends (`backends`), the toolchain the
//! local backend provisions, the CI job matrix and `doctor`.
//!
//! Functions take typed options and return reports or [`kb_core::Error`];
//! progress goes through [`kb_core::progress::Progress`].

pub mod backends;
pub mod ci_matrix;
pub mod doctor;
pub mod pyproject;
mod scripts;
