//! `kernel-builder skills add`: targets, global directories, refusing to
//! overwrite, `--force`.

use std::path::Path;
use std::process::{Command, Output};

fn kb(cwd: &Path, home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kernel-builder"));
    c.current_dir(cwd)
        .env("HOME", home)
        .env_remove("CODEX_HOME")
        .env_remove("CLAUDE_CONFIG_DIR")
        .env_remove("XDG_CONFIG_HOME");
    c
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn err(o: &Output) -> String {
    assert!(!o.status.success(), "unexpected success");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn project_level_targets() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, home) = (tmp.path().join("proj"), tmp.path().join("home"));
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    ok(kb(&cwd, &home)
        .args(["skills", "add", "--claude", "--codex", "--opencode"])
        .output()
        .unwrap());
    for base in [".claude/skills", ".codex/skills", ".opencode/skills"] {
        let skill = cwd.join(base).join("cuda-kernels");
        let text = std::fs::read_to_string(skill.join("SKILL.md")).unwrap();
        assert!(text.starts_with("---\nname: cuda-kernels\n"), "{base}");
        assert!(
            skill.join("references/project-layout.md").is_file(),
            "{base}"
        );
    }
    assert!(
        std::fs::read_dir(&home).unwrap().next().is_none(),
        "nothing global"
    );
}

#[test]
fn global_targets_follow_home_and_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let (cwd, home) = (tmp.path().join("proj"), tmp.path().join("home"));
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    ok(kb(&cwd, &home)
        .args([
            "skills",
            "add",
            "--skill",
            "cpu-kernels",
            "--claude",
            "--codex",
            "--opencode",
            "-g",
        ])
        .output()
        .unwrap());
    for base in [".claude/skills", ".codex/skills", ".config/opencode/skills"] {
        let text = std::fs::read_to_string(home.join(base).join("cpu-kernels/SKILL.md")).unwrap();
        assert!(text.contains("name: cpu-kernels"), "{base}");
    }
    let codex_home = tmp.path().join("codex");
    ok(kb(&cwd, &home)
        .args([
            "skills",
            "add",
            "--skill",
            "rocm-kernels",
            "--codex",
            "--global",
        ])
        .env("CODEX_HOME", &codex_home)
        .output()
        .unwrap());
    assert!(codex_home.join("skills/rocm-kernels/SKILL.md").is_file());
    assert!(
        std::fs::read_dir(&cwd).unwrap().next().is_none(),
        "nothing in the project"
    );
}

#[test]
fn refuses_to_overwrite_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("my-skills");
    let cwd = tmp.path();
    let args = [
        "skills",
        "add",
        "--skill",
        "xpu-kernels",
        "--dest",
        dest.to_str().unwrap(),
    ];
    let o = ok(kb(cwd, cwd).args(args).output().unwrap());
    assert!(String::from_utf8_lossy(&o.stdout).contains("installed"));
    let skill_md = dest.join("xpu-kernels/SKILL.md");
    let original = std::fs::read_to_string(&skill_md).unwrap();

    // Unchanged: fine, nothing to do.
    let o = ok(kb(cwd, cwd).args(args).output().unwrap());
    assert!(String::from_utf8_lossy(&o.stdout).contains("already up to date"));

    // Edited: refused (for every target at once), then replaced with --force.
    std::fs::write(&skill_md, "edited\n").unwrap();
    let claude_dir = cwd.join(".claude/skills/xpu-kernels");
    let mut with_claude = args.to_vec();
    with_claude.push("--claude");
    let e = err(&kb(cwd, cwd).args(&with_claude).output().unwrap());
    assert!(
        e.contains("xpu-kernels/SKILL.md") && e.contains("--force"),
        "{e}"
    );
    assert!(
        !claude_dir.exists(),
        "nothing written when one target conflicts"
    );
    assert_eq!(std::fs::read_to_string(&skill_md).unwrap(), "edited\n");
    let mut forced = with_claude.clone();
    forced.push("--force");
    ok(kb(cwd, cwd).args(&forced).output().unwrap());
    assert_eq!(std::fs::read_to_string(&skill_md).unwrap(), original);
    assert!(claude_dir.join("SKILL.md").is_file());
}

#[test]
fn needs_a_target() {
    let tmp = tempfile::tempdir().unwrap();
    let e = err(&kb(tmp.path(), tmp.path())
        .args(["skills", "add"])
        .output()
        .unwrap());
    assert!(e.contains("--claude, --codex, --opencode"), "{e}");
    let e = err(&kb(tmp.path(), tmp.path())
        .args(["skills", "add", "-g", "--dest", "x"])
        .output()
        .unwrap());
    assert!(e.contains("--global"), "{e}");
    assert!(std::fs::read_dir(tmp.path()).unwrap().next().is_none());
}

#[test]
fn every_skill_installs() {
    let tmp = tempfile::tempdir().unwrap();
    for skill in ["cuda-kernels", "rocm-kernels", "xpu-kernels", "cpu-kernels"] {
        ok(kb(tmp.path(), tmp.path())
            .args(["skills", "add", "--skill", skill, "--dest", "out"])
            .output()
            .unwrap());
        let text =
            std::fs::read_to_string(tmp.path().join("out").join(skill).join("SKILL.md")).unwrap();
        assert!(text.contains(&format!("name: {skill}\n")));
        assert!(text.contains("kernel-builder init"), "{skill}");
    }
}
