//! `docs/cli.md` is generated from the clap definitions and must be current;
//! completions cover the authoring commands.

use std::path::Path;
use std::process::Command;

#[test]
fn cli_reference_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/cli.md");
    let want = kernel_builder::clidoc::markdown();
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let first = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .map(|i| i + 1)
            .unwrap_or(have.lines().count().min(want.lines().count()) + 1);
        panic!(
            "docs/cli.md is stale (first difference at line {first}); regenerate it with `{}`",
            kernel_builder::clidoc::REGENERATE
        );
    }
}

#[test]
fn reference_covers_every_command_and_option() {
    let md = kernel_builder::clidoc::markdown();
    let mut cmd = <kernel_builder::cli::Cli as clap::CommandFactory>::command();
    cmd.build();
    fn check(cmd: &clap::Command, path: &str, md: &str) {
        assert!(md.contains(&format!("## `{path}`")), "{path}");
        for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(l) = a.get_long().filter(|l| *l != "help" && *l != "version") {
                assert!(md.contains(&format!("`--{l}")), "{path} --{l}");
            }
        }
        for s in cmd
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            check(s, &format!("{path} {}", s.get_name()), md);
        }
    }
    check(&cmd, "kernel-builder", &md);
    assert!(md.contains(
        "Possible values: `cuda-kernels`, `rocm-kernels`, `xpu-kernels`, `cpu-kernels`."
    ));
    assert!(md.contains("Default: `Apache-2.0`."));
}

#[test]
fn completions_know_the_authoring_commands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Command::new(env!("CARGO_BIN_EXE_kernel-builder"))
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        for word in ["init", "fill-card", "skills"] {
            assert!(text.contains(word), "{shell}: {word}");
        }
        // Value completion (the new `cpu-kernels` skill) where the shell has it.
        if matches!(shell, "bash" | "zsh" | "fish") {
            assert!(text.contains("cpu-kernels"), "{shell}: cpu-kernels");
        }
    }
}
