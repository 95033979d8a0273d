use std::process::ExitCode;

use clap::Parser;
use kernel_builder::{cli, commands, output};

/// On SIGINT, SIGTERM or SIGHUP: end the tools a build started (each runs in
/// its own process group, so the terminal's Ctrl-C reaches only us), then
/// exit with 128 + the signal.
fn end_children_on_signals() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            kb_build::backends::children::terminate_all(std::time::Duration::from_secs(3));
            std::process::exit(128 + sig);
        }
    });
}

fn main() -> ExitCode {
    end_children_on_signals();
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
