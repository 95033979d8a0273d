//! Maintainer tasks, kept out of the user-facing `kernel-builder` binary:
//! `cargo xtask pkgmeta rpm|wheels|torch-wheels` writes the package-set
//! metadata of the Nix layer (`pkgs/`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use xtask::pkgmeta;

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "kernel-builder maintainer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate package-set metadata for the Nix layer (`pkgs/`)
    Pkgmeta {
        #[command(subcommand)]
        command: pkgmeta::PkgmetaCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Pkgmeta { command } => pkgmeta::run(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
