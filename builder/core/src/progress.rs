//! Progress of long-running work (builds, uploads), reported by the library
//! and rendered by the CLI (spinners, lines on standard error, `-q`).

/// Where library code reports what it is doing. Implementations must be
/// cheap and never fail; the CLI's renders with indicatif.
pub trait Progress: Sync {
    /// A line of progress (`Created branch v1`); hidden by `-q`.
    fn note(&self, message: &str);
    /// A warning the user should see even with `-q`.
    fn warn(&self, message: &str);
    /// A long step with a changing message (one spinner per variant build).
    fn task(&self, name: &str) -> Box<dyn Task + '_>;
    /// A line of a tool's output, streamed when the user asked for full
    /// logs (`build -L`).
    fn log(&self, line: &str);
}

/// One long step.
pub trait Task: Send + Sync {
    fn set_message(&self, message: &str);
    fn finish(&self, message: &str);
}

/// Reports nothing (library use, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Progress for Silent {
    fn note(&self, _: &str) {}
    fn warn(&self, _: &str) {}
    fn task(&self, _: &str) -> Box<dyn Task + '_> {
        Box::new(Silent)
    }
    fn log(&self, _: &str) {}
}

impl Task for Silent {
    fn set_message(&self, _: &str) {}
    fn finish(&self, _: &str) {}
}
