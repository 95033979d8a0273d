//! Making untrusted text safe to print: names of files, variants and keys
//! come from the user's tree and from servers, and a terminal would act on
//! the control characters in them (ANSI escapes recolour or rewrite the
//! screen, a carriage return overwrites a line, bidirectional overrides
//! reorder what is shown). The CLI's printer sends everything it prints
//! through [`escape_controls`].

use std::borrow::Cow;

/// How an escaped character is spelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `\u{1b}`, as Rust's `escape_debug` (text output).
    Text,
    /// `\u001b`, a valid escape inside a JSON string (JSON output).
    Json,
}

/// Characters a terminal acts on: C0 controls other than newline and tab,
/// DEL, C1 controls, and the bidirectional embedding, override and isolate
/// characters.
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every [`is_unsafe`] character escaped; borrowed when there is none.
pub fn escape_controls(s: &str, style: Style) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_unsafe(c) {
            match style {
                Style::Text => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                Style::Json => out.push_str(&format!("\\u{:04x}", c as u32)),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_acts_on() {
        let s = "ok\tline\nevil\u{1b}[31mRED\u{1b}[0m\r\u{7f}\u{9b}\u{202e}end";
        let t = escape_controls(s, Style::Text);
        assert_eq!(
            t,
            "ok\tline\nevil\\u{1b}[31mRED\\u{1b}[0m\\u{d}\\u{7f}\\u{9b}\\u{202e}end"
        );
        assert!(!t.chars().any(is_unsafe));
        assert!(matches!(
            escape_controls("plain é 名", Style::Text),
            Cow::Borrowed(_)
        ));
        // In JSON the escape keeps the document valid and the value the same.
        let json = serde_json::to_string(&"a\u{7f}b\u{202e}").unwrap();
        let safe = escape_controls(&json, Style::Json);
        assert_eq!(safe, "\"a\\u007fb\\u202e\"");
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "a\u{7f}b\u{202e}");
    }
}
