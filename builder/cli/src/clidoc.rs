//! Markdown reference of the command line, generated from the clap
//! definitions (`docs/cli.md`). Regenerate with
//! `cargo run -p kernel-builder --example gen-cli-docs`; a test fails when the
//! committed file is stale.

use std::fmt::Write;

use clap::{Arg, Command};

/// The command that regenerates `docs/cli.md`.
pub const REGENERATE: &str = "cargo run -p kernel-builder --example gen-cli-docs";

/// Render the reference for `kernel-builder`.
pub fn markdown() -> String {
    let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
    cmd.build();
    render(&mut cmd)
}

fn visible_subcommands(cmd: &Command) -> impl Iterator<Item = &Command> {
    cmd.get_subcommands()
        .filter(|c| !c.is_hide_set() && c.get_name() != "help")
}

fn collect<'a>(cmd: &'a Command, path: &str, out: &mut Vec<(String, &'a Command)>) {
    out.push((path.to_string(), cmd));
    for sub in visible_subcommands(cmd) {
        collect(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

fn anchor(title: &str) -> String {
    title
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
            'A'..='Z' => Some(c.to_ascii_lowercase()),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

/// Collapse help text: keep paragraphs, drop trailing whitespace.
fn text(s: &str) -> String {
    s.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

fn is_builtin(a: &Arg) -> bool {
    matches!(a.get_id().as_str(), "help" | "version")
}

fn value_names(a: &Arg) -> Vec<String> {
    match a.get_value_names() {
        Some(names) => names.iter().map(|n| n.to_string()).collect(),
        None => vec![a.get_id().as_str().to_ascii_uppercase()],
    }
}

fn takes_values(a: &Arg) -> bool {
    a.get_num_args().is_some_and(|n| n.takes_values())
}

fn multiple(a: &Arg) -> bool {
    a.get_num_args().is_some_and(|n| n.max_values() > 1)
}

fn signature(a: &Arg) -> String {
    if a.is_positional() {
        let names = value_names(a);
        let dots = if multiple(a) { "..." } else { "" };
        return format!("`<{}>{dots}`", names.join("> <"));
    }
    let mut forms = Vec::new();
    if let Some(s) = a.get_short() {
        forms.push(format!("-{s}"));
    }
    if let Some(l) = a.get_long() {
        forms.push(format!("--{l}"));
    }
    let value = if takes_values(a) {
        let dots = if multiple(a) { "..." } else { "" };
        format!(" <{}>{dots}", value_names(a).join("> <"))
    } else {
        String::new()
    };
    forms
        .iter()
        .map(|f| format!("`{f}{value}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The help text of an argument and its extra facts (possible values,
/// default, environment variable).
fn describe(a: &Arg) -> (String, Vec<String>) {
    let help = a
        .get_long_help()
        .or(a.get_help())
        .map(|h| text(&h.to_string()))
        .unwrap_or_default();
    let mut facts = Vec::new();
    let possible: Vec<String> = a
        .get_possible_values()
        .iter()
        .filter(|p| !p.is_hide_set())
        .map(|p| format!("`{}`", p.get_name()))
        .collect();
    // Flags have the implicit possible values `true`/`false`: not useful.
    if !possible.is_empty() && takes_values(a) {
        facts.push(format!("Possible values: {}.", possible.join(", ")));
    }
    let defaults: Vec<String> = a
        .get_default_values()
        .iter()
        .map(|d| format!("`{}`", d.to_string_lossy()))
        .collect();
    if !defaults.is_empty() && takes_values(a) {
        facts.push(format!("Default: {}.", defaults.join(", ")));
    }
    if let Some(env) = a.get_env() {
        facts.push(format!(
            "Environment variable: `{}`.",
            env.to_string_lossy()
        ));
    }
    (help, facts)
}

fn arg_item(out: &mut String, a: &Arg) {
    let (help, facts) = describe(a);
    if help.is_empty() {
        let _ = writeln!(out, "- {}", signature(a));
    } else {
        // Indent continuation lines so paragraphs stay in the list item.
        let _ = writeln!(out, "- {}: {}", signature(a), help.replace('\n', "\n  "));
    }
    if !facts.is_empty() {
        let _ = writeln!(out, "\n  {}\n", facts.join(" "));
    }
}

fn render(root: &mut Command) -> String {
    let bin = root.get_name().to_string();
    let mut commands = Vec::new();
    collect(root, &bin, &mut commands);

    let mut out = String::new();
    let _ = writeln!(out, "# Command-line reference\n");
    let _ = writeln!(
        out,
        "<!-- Generated from the clap definitions by `{REGENERATE}`. Do not edit by hand. -->\n"
    );
    let _ = writeln!(
        out,
        "This page lists every `{bin}` command with its arguments and options.\n"
    );
    let _ = writeln!(out, "**Commands:**\n");
    for (path, _) in &commands {
        let _ = writeln!(out, "- [`{path}`](#{})", anchor(path));
    }
    for (path, cmd) in &commands {
        let _ = writeln!(out, "\n## `{path}`\n");
        if let Some(about) = cmd.get_long_about().or(cmd.get_about()) {
            let _ = writeln!(out, "{}\n", text(&about.to_string()));
        }
        let usage = Command::clone(cmd).render_usage().to_string();
        let usage = usage.trim().trim_start_matches("Usage:").trim();
        let _ = writeln!(out, "**Usage:** `{usage}`");

        let subs: Vec<&Command> = visible_subcommands(cmd).collect();
        if !subs.is_empty() {
            let _ = writeln!(out, "\n**Subcommands:**\n");
            for s in subs {
                let about = s
                    .get_about()
                    .map(|a| text(&a.to_string()))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "- [`{}`](#{}): {about}",
                    s.get_name(),
                    anchor(&format!("{path} {}", s.get_name()))
                );
            }
        }
        let args: Vec<&Arg> = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set() && !is_builtin(a))
            .collect();
        let positionals: Vec<&&Arg> = args.iter().filter(|a| a.is_positional()).collect();
        if !positionals.is_empty() {
            let _ = writeln!(out, "\n**Arguments:**\n");
            for a in positionals {
                arg_item(&mut out, a);
            }
        }
        let options: Vec<&&Arg> = args.iter().filter(|a| !a.is_positional()).collect();
        if !options.is_empty() {
            let _ = writeln!(out, "\n**Options:**\n");
            for a in options {
                arg_item(&mut out, a);
            }
        }
    }
    // Items with a facts paragraph end in a blank line: never leave two.
    while out.contains("\n\n\n") {
        out = out.replace("\n\n\n", "\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_every_visible_command_and_option() {
        let md = markdown();
        assert!(md.contains("## `kernel-builder init`"));
        assert!(md.contains("## `kernel-builder skills add`"));
        assert!(md.contains(
            "- `--license <LICENSE>`: The kernel's license\n\n  Default: `Apache-2.0`.\n"
        ));
        assert!(md.contains("`cpu-kernels`"));
        assert!(md.contains("- `-L`, `--print-build-logs`: "));
        assert!(!md.contains("`--help`"));
        assert!(!md.contains("## `kernel-builder help`"));
        assert!(!md.contains("\n\n\n"));
        // Deterministic.
        assert_eq!(md, markdown());
    }

    #[test]
    fn anchors() {
        assert_eq!(
            anchor("kernel-builder skills add"),
            "kernel-builder-skills-add"
        );
    }
}
