//! What a command returns: a serialisable report with a text rendering and
//! a status. The CLI prints it (text or `--json`) and maps the status to the
//! exit code.

/// How a command's result should end the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Exit code 0.
    Ok,
    /// The input was checked and has problems: exit code 1.
    Findings,
    /// Part of the input could not be checked at all: exit code 2.
    Unusable,
}

impl Status {
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Findings => 1,
            Status::Unusable => 2,
        }
    }
}

pub trait Report: serde::Serialize {
    /// The human rendering, printed on standard output.
    fn text(&self) -> String;

    fn status(&self) -> Status {
        Status::Ok
    }

    /// Lines for standard error in text mode (what was written where,
    /// notes); part of the JSON anyway.
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// Print the JSON on one line (for `$GITHUB_OUTPUT` and the like).
    fn json_compact(&self) -> bool {
        false
    }

    /// The JSON rendering (default: the serialised report).
    fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("reports serialize")
    }
}
