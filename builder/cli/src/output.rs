//! Everything the CLI writes: the one printer for reports (text or `--json`)
//! and errors, the indicatif-based progress reporter, and the exit code
//! mapping (0 ok, 1 findings or failure, 2 input that cannot be used).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use kb_core::progress::{Progress, Task};
use kb_core::text::{escape_controls, Style};
use kb_core::{Report, Status};

/// Text for the terminal: control characters (ANSI escapes in file names,
/// carriage returns, bidi overrides) are escaped, never sent raw.
fn safe(s: &str) -> std::borrow::Cow<'_, str> {
    escape_controls(s, Style::Text)
}

/// How results are printed (`--json`, `-q`).
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub json: bool,
    pub quiet: bool,
}

impl Printer {
    /// Print a report and return its status.
    pub fn report<R: Report>(&self, report: &R) -> Status {
        let mut out = std::io::stdout().lock();
        if self.json {
            let v = report.json();
            let text = if report.json_compact() {
                serde_json::to_string(&v)
            } else {
                serde_json::to_string_pretty(&v)
            }
            .expect("JSON serializes");
            let _ = writeln!(out, "{}", escape_controls(&text, Style::Json));
        } else {
            let _ = out.write_all(safe(&report.text()).as_bytes());
            let _ = out.flush();
            if !self.quiet {
                for n in report.notes() {
                    eprintln!("{}", safe(&n));
                }
            }
        }
        report.status()
    }

    /// A warning (shown even with `-q`).
    pub fn warn(&self, message: &str) {
        eprintln!("{}", safe(message));
    }

    /// A progress line (hidden by `-q`).
    pub fn note(&self, message: &str) {
        if !self.quiet {
            eprintln!("{}", safe(message));
        }
    }
}

/// The exit code of a failed command: 2 when the input cannot be used at
/// all, otherwise 1. Prints the error.
pub fn fail(e: &anyhow::Error) -> ExitCode {
    let core = e.downcast_ref::<kb_core::Error>();
    // build.toml diagnostics carry their own `error:` prefix and help lines.
    let config = matches!(core, Some(kb_core::Error::Config(_)))
        || e.downcast_ref::<kb_core::config::ConfigErrors>().is_some();
    // A build.toml that cannot be used is bad input too.
    let input = config
        || core.is_some_and(|c| c.is_input())
        || e.downcast_ref::<kb_checks::InputError>().is_some();
    if config {
        eprintln!("{}", safe(&e.to_string()));
    } else {
        eprintln!("error: {}", safe(&format!("{e:#}")));
    }
    ExitCode::from(if input { 2 } else { 1 })
}

pub fn exit(status: Status) -> ExitCode {
    ExitCode::from(status.exit_code())
}

/// Progress on standard error: spinners for long steps (indicatif; hidden
/// when standard error is not a terminal), lines for notes, raw lines for
/// streamed build logs.
pub struct Reporter {
    bars: MultiProgress,
    quiet: bool,
    style: ProgressStyle,
}

impl Reporter {
    /// `spinners`: draw spinners for tasks (off with `-q` and when full
    /// build logs are streamed, which spinners would garble).
    pub fn new(quiet: bool, spinners: bool) -> Reporter {
        let bars = MultiProgress::new();
        if quiet || !spinners {
            bars.set_draw_target(ProgressDrawTarget::hidden());
        }
        Reporter {
            bars,
            quiet,
            style: ProgressStyle::with_template("{spinner} {prefix:.bold} {wide_msg} {elapsed:>4}")
                .expect("valid template"),
        }
    }

    fn line(&self, message: &str) {
        if self.bars.is_hidden() {
            eprintln!("{message}");
        } else {
            let _ = self.bars.println(message);
        }
    }
}

impl Progress for Reporter {
    fn note(&self, message: &str) {
        if !self.quiet {
            self.line(&safe(message));
        }
    }

    fn warn(&self, message: &str) {
        self.line(&safe(message));
    }

    fn task(&self, name: &str) -> Box<dyn Task + '_> {
        let pb = self.bars.add(ProgressBar::new_spinner());
        pb.set_style(self.style.clone());
        pb.set_prefix(safe(name).into_owned());
        pb.enable_steady_tick(Duration::from_millis(120));
        Box::new(Spinner(pb))
    }

    /// Streamed build-tool output is passed through as is (compilers may
    /// colour their diagnostics).
    fn log(&self, line: &str) {
        self.line(line);
    }
}

struct Spinner(ProgressBar);

impl Task for Spinner {
    fn set_message(&self, message: &str) {
        self.0.set_message(safe(message).into_owned());
    }

    fn finish(&self, message: &str) {
        self.0.finish_with_message(safe(message).into_owned());
    }
}
