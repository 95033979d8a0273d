use std::process::ExitCode;

use clap::Parser;
use kernel_builder::cli::Cli;
use kernel_builder::commands::{self, Failure};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(Failure { code, message }) => {
            if !message.is_empty() {
                eprintln!("{message}");
            }
            ExitCode::from(code)
        }
    }
}
