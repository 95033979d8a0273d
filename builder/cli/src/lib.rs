//! The `kernel-builder` command line: clap definitions ([`cli`]), one module
//! per group of commands ([`commands`]) that turns arguments into typed
//! options, calls the library crates and hands their reports to the one
//! printer ([`output`]). This is the only crate that knows clap, prints, or
//! decides exit codes.

pub mod cli;
pub mod clidoc;
pub mod commands;
pub mod output;
