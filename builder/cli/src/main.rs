use std::process::ExitCode;

use clap::Parser;
use kernel_builder::{cli, commands, output};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let printer = output::Printer {
        json: cli.json,
        quiet: cli.quiet,
    };
    match commands::run(cli.command, printer) {
        Ok(status) => output::exit(status),
        Err(e) => output::fail(&e),
    }
}
