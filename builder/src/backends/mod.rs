//! Build backends: the local (host toolchain) backend and the Nix backend.

pub mod local;
pub mod nix;
pub mod toolchain;
