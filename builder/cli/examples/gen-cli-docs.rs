//! Regenerate `docs/cli.md` from the clap definitions:
//! `cargo run -p kernel-builder --example gen-cli-docs` (`--check` only
//! compares, exiting 1 when the file is stale).

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
    let want = kernel_builder::clidoc::markdown();
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if std::env::args().any(|a| a == "--check") {
        if have == want {
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "{} is stale; run `{}`",
            path.display(),
            kernel_builder::clidoc::REGENERATE
        );
        return ExitCode::FAILURE;
    }
    if have == want {
        eprintln!("{} is up to date", path.display());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::write(&path, want) {
        eprintln!("{}: cannot write: {e}", path.display());
        return ExitCode::FAILURE;
    }
    eprintln!("wrote {}", path.display());
    ExitCode::SUCCESS
}
