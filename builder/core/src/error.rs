//! The error type of the library crates. The CLI maps it to an exit code in
//! one place: [`Error::Input`] (the input cannot be checked at all) is 2,
//! everything else 1.

use std::path::{Path, PathBuf};

use crate::config::ConfigErrors;
use crate::metadata::MetadataError;
use crate::walk::WalkError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `build.toml` diagnostics (each names file, key, position and a fix).
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// An input that cannot be used at all: missing, unreadable, not a
    /// kernel project or variant.
    #[error("{}: {message}", path.display())]
    Input { path: PathBuf, message: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Walk(#[from] WalkError),
    #[error(transparent)]
    Metadata(#[from] MetadataError),
    /// Anything else, as a message that already says what went wrong and
    /// what to do (with the context of every layer it passed).
    #[error("{0}")]
    Message(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn msg(message: impl Into<String>) -> Error {
        Error::Message(message.into())
    }

    pub fn input(path: impl AsRef<Path>, message: impl Into<String>) -> Error {
        Error::Input {
            path: path.as_ref().to_path_buf(),
            message: message.into(),
        }
    }

    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// True for errors that mean "bad input" (exit code 2).
    pub fn is_input(&self) -> bool {
        matches!(self, Error::Input { .. })
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Message(e.to_string())
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error::Message(s)
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Message(e.to_string())
    }
}

/// Add what was being done to an error: `context: cause`.
pub trait Context<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T>;
    fn with_context<D: std::fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl std::fmt::Display) -> Result<T> {
        self.map_err(|e| Error::Message(format!("{what}: {e}")))
    }

    fn with_context<D: std::fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| Error::Message(format!("{}: {e}", what())))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: impl std::fmt::Display) -> Result<T> {
        self.ok_or_else(|| Error::Message(what.to_string()))
    }

    fn with_context<D: std::fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.ok_or_else(|| Error::Message(what().to_string()))
    }
}

/// Return early with an [`Error::Message`] built like `format!`.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return ::std::result::Result::Err($crate::err!($($arg)*))
    };
}

/// An [`Error::Message`] built like `format!`.
#[macro_export]
macro_rules! err {
    ($fmt:literal $($arg:tt)*) => {
        $crate::Error::Message(format!($fmt $($arg)*))
    };
    ($message:expr) => {
        $crate::Error::Message(::std::string::ToString::to_string(&$message))
    };
}
