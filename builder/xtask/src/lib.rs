//! Maintainer tasks, kept out of the user-facing `kernel-builder` binary (see
//! `main.rs`). A library too, so that the tests can reach the generators'
//! parsers and HTTP client (`tests/pkgdata.rs` re-checks committed data with
//! them).

pub mod pkgmeta;
