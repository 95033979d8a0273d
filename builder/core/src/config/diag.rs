//! Diagnostics for `build.toml`: every message names the file, the key, a
//! line:column when known, and what to do about it.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    /// Accepted configuration whose effect may surprise (no fix needed).
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// Dotted key path, e.g. `kernel.relu.cuda-capabilities[2]`.
    pub key: String,
    /// 1-based line and column.
    pub position: Option<(usize, usize)>,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        };
        write!(f, "{level}: {}", self.file.display())?;
        if let Some((line, col)) = self.position {
            write!(f, ":{line}:{col}")?;
        }
        if !self.key.is_empty() {
            write!(f, ": `{}`", self.key)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

/// All errors found in one file (we report every problem, not just the first).
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<Diagnostic>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        let n = self.0.len();
        if n > 1 {
            write!(f, "\n{n} errors")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects diagnostics for one source file and maps byte spans to positions.
pub struct Reporter<'a> {
    file: &'a Path,
    src: &'a str,
    pub diagnostics: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub fn new(file: &'a Path, src: &'a str) -> Self {
        Reporter {
            file,
            src,
            diagnostics: Vec::new(),
        }
    }

    pub fn file(&self) -> &Path {
        self.file
    }

    pub fn position(&self, span: Option<Range<usize>>) -> Option<(usize, usize)> {
        let start = span?.start.min(self.src.len());
        let before = &self.src[..start];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
        let col = self.src[line_start..start].chars().count() + 1;
        Some((line, col))
    }

    pub fn push(
        &mut self,
        severity: Severity,
        key: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        help: Option<String>,
    ) {
        let position = self.position(span);
        self.diagnostics.push(Diagnostic {
            severity,
            file: self.file.to_path_buf(),
            key: key.to_string(),
            position,
            message: message.into(),
            help,
        });
    }

    pub fn error(
        &mut self,
        key: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let help = help.into();
        let help = if help.is_empty() { None } else { Some(help) };
        self.push(Severity::Error, key, span, message, help);
    }

    pub fn warning(
        &mut self,
        key: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let help = help.into();
        let help = if help.is_empty() { None } else { Some(help) };
        self.push(Severity::Warning, key, span, message, help);
    }

    pub fn note(
        &mut self,
        key: &str,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        help: impl Into<String>,
    ) {
        let help = help.into();
        let help = if help.is_empty() { None } else { Some(help) };
        self.push(Severity::Note, key, span, message, help);
    }

    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// The closest candidate, if it is close enough to be a plausible typo.
pub fn did_you_mean<'c>(input: &str, candidates: &[&'c str]) -> Option<&'c str> {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(input, c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_chars() {
        let src = "a = 1\nbé = 2\n";
        let r = Reporter::new(Path::new("build.toml"), src);
        assert_eq!(r.position(Some(0..1)), Some((1, 1)));
        let off = src.find("= 2").unwrap();
        assert_eq!(r.position(Some(off..off + 1)), Some((2, 4)));
        assert_eq!(r.position(None), None);
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("backend", &["backends", "name"]),
            Some("backends")
        );
        assert_eq!(
            did_you_mean("cuda-capabilites", &["cuda-capabilities", "src"]),
            Some("cuda-capabilities")
        );
        assert_eq!(did_you_mean("zzz", &["backends", "name"]), None);
    }
}
