//! Every command that reads a build refuses links that leave the variant and
//! special files, with an error that names the path, without hanging and
//! (for `upload`) before any request; names are printed with their control
//! characters escaped; `check-abi` does not pass a variant whose native
//! module is not there; `check-config` names what `build.toml` is when it is
//! not a file; no Python the tool starts imports from the current directory.

use std::path::Path;
use std::process::Command;

use crate::support::*;

/// What a command printed, and its exit code.
fn run_within(cmd: &mut Command) -> (Option<i32>, String) {
    let out = output_within(cmd, 30);
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The commands that read a variant, as run against kernel `dir`.
fn commands(dir: &Path, hub: &FakeHub) -> Vec<(&'static str, Command)> {
    let mut out = Vec::new();
    for (name, args) in [
        ("hash", &["hash"][..]),
        ("hash --check", &["hash", "--check"]),
        ("check-builds", &["check-builds"]),
        ("check-abi", &["check-abi"]),
        ("verify", &["verify"]),
    ] {
        let mut c = kb();
        c.args(args).arg(dir);
        out.push((name, c));
    }
    let home = dir.join(".home");
    let mut c = kb();
    c.arg("upload")
        .arg(dir)
        .args(["--repo-id", "org/relu"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("HF_HOME", home.join("hf"))
        .env("HF_ENDPOINT", &hub.url)
        .env("HF_TOKEN", TOKEN)
        .env("KERNEL_BUILDER_HUB_RETRIES", "0");
    out.push(("upload", c));
    out
}

/// Each case breaks a fresh kernel's CPU variant after its digest was
/// recorded; every command must fail, name the path and say why.
#[test]
fn links_out_and_special_files_are_refused_by_every_command() {
    type Break = fn(&Path, &Path);
    let cases: Vec<(&str, Break, &[&str])> = vec![
        (
            "link to /",
            |v, _| std::os::unix::fs::symlink("/", v.join("root")).unwrap(),
            &["root", "outside the directory"],
        ),
        (
            "link to a directory outside",
            |v, k| std::os::unix::fs::symlink(k.join("benchmarks"), v.join("bench")).unwrap(),
            &["bench", "outside the directory"],
        ),
        (
            "link to a file outside",
            |v, k| {
                std::fs::write(k.join("secret.txt"), "s").unwrap();
                std::os::unix::fs::symlink(k.join("secret.txt"), v.join("leak.txt")).unwrap()
            },
            &["leak.txt", "outside the directory"],
        ),
        (
            "link to /dev/zero",
            |v, _| std::os::unix::fs::symlink("/dev/zero", v.join("zero.bin")).unwrap(),
            &["zero.bin", "outside the directory"],
        ),
        (
            "FIFO",
            |v, _| mkfifo(&v.join("pipe.py")),
            &["pipe.py", "FIFO"],
        ),
        (
            "FIFO metadata.json",
            |v, _| {
                std::fs::remove_file(v.join("metadata.json")).unwrap();
                mkfifo(&v.join("metadata.json"));
            },
            &["metadata.json", "FIFO"],
        ),
        (
            "dangling link",
            |v, _| std::os::unix::fs::symlink("nowhere", v.join("gone.py")).unwrap(),
            &["gone.py", "dangling"],
        ),
    ];
    for (case, brk, says) in cases {
        let hub = FakeHub::start(TOKEN);
        let k = Kernel::new(&[CPU], 1);
        ok(kb().arg("hash").arg(k.path()).output().unwrap());
        let v = k.path().join("build").join(CPU);
        brk(&v, k.path());
        for (name, mut cmd) in commands(k.path(), &hub) {
            let (code, text) = run_within(&mut cmd);
            assert!(
                code.is_some_and(|c| c != 0),
                "{case}: `{name}` exited {code:?}:\n{text}"
            );
            for s in says {
                assert!(
                    text.contains(s),
                    "{case}: `{name}` does not say {s:?}:\n{text}"
                );
            }
        }
        assert!(hub.log().is_empty(), "{case}: the upload sent requests");
    }
}

/// A link loop inside the variant (`a -> .`) is never entered: every command
/// finishes, and it is neither hashed nor uploaded.
#[test]
fn a_link_loop_inside_the_variant_is_not_entered() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    let v = k.path().join("build").join(CPU);
    std::os::unix::fs::symlink(".", v.join("a")).unwrap();
    ok(kb().arg("hash").arg(k.path()).output().unwrap());
    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(v.join("metadata.json")).unwrap()).unwrap();
    let files: Vec<&String> = meta["digest"]["files"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert!(files.iter().all(|f| !f.starts_with("a/")), "{files:?}");
    for (name, mut cmd) in commands(k.path(), &hub) {
        let (code, text) = run_within(&mut cmd);
        if matches!(name, "hash" | "hash --check" | "upload") {
            assert_eq!(code, Some(0), "`{name}`:\n{text}");
        }
    }
    assert!(hub
        .files("kernels/org/relu", "v1")
        .keys()
        .all(|p| !p.contains("/a/")));
}

/// `check-abi` fails when the native module metadata.json names is a link to
/// a directory, a FIFO, a directory, a dangling link or missing, instead of
/// passing with "no native modules found".
#[test]
fn check_abi_fails_when_the_native_module_is_not_a_file() {
    let so = "_relu_cpu_0123abc.abi3.so";
    type Break = fn(&Path, &str);
    let cases: Vec<(&str, Break, &str)> = vec![
        (
            "missing",
            |v, so| std::fs::remove_file(v.join(so)).unwrap(),
            "is missing",
        ),
        (
            "directory",
            |v, so| {
                std::fs::remove_file(v.join(so)).unwrap();
                std::fs::create_dir(v.join(so)).unwrap();
            },
            "is a directory",
        ),
        (
            "link to a directory",
            |v, so| {
                std::fs::remove_file(v.join(so)).unwrap();
                std::fs::create_dir(v.join("d")).unwrap();
                std::os::unix::fs::symlink("d", v.join(so)).unwrap();
            },
            "is a directory",
        ),
        (
            "FIFO",
            |v, so| {
                std::fs::remove_file(v.join(so)).unwrap();
                mkfifo(&v.join(so));
            },
            "FIFO",
        ),
        (
            "dangling link",
            |v, so| {
                std::fs::remove_file(v.join(so)).unwrap();
                std::os::unix::fs::symlink("gone.so", v.join(so)).unwrap();
            },
            "dangling",
        ),
    ];
    for (case, brk, says) in cases {
        let k = Kernel::new(&[CPU], 1);
        let v = k.path().join("build").join(CPU);
        brk(&v, so);
        let (code, text) = run_within(kb().arg("check-abi").arg(&v));
        assert!(
            code.is_some_and(|c| c != 0),
            "{case}: exited {code:?}:\n{text}"
        );
        assert!(text.contains(says), "{case}:\n{text}");
        assert!(!text.contains("no native modules found"), "{case}:\n{text}");
    }
    // A noarch variant needs no native module.
    let k = Kernel::new(&[], 1);
    k.add_variant("torch-cpu", 1);
    let v = k.path().join("build/torch-cpu");
    std::fs::remove_file(v.join("_relu_cpu_0123abc.abi3.so")).unwrap();
    let (code, text) = run_within(kb().arg("check-abi").arg(&v));
    assert_eq!(code, Some(0), "{text}");
}

/// `check-config` says what `build.toml` is when it is not a file, and never
/// reads a FIFO or device.
#[test]
fn check_config_names_what_build_toml_is() {
    type Make = fn(&Path);
    let cases: Vec<(&str, Make, &str)> = vec![
        (
            "directory",
            |d| std::fs::create_dir(d.join("build.toml")).unwrap(),
            "is a directory",
        ),
        ("FIFO", |d| mkfifo(&d.join("build.toml")), "is a FIFO"),
        (
            "/dev/zero",
            |d| std::os::unix::fs::symlink("/dev/zero", d.join("build.toml")).unwrap(),
            "is a device",
        ),
        (
            "dangling link",
            |d| std::os::unix::fs::symlink("elsewhere.toml", d.join("build.toml")).unwrap(),
            "dangling symbolic link",
        ),
    ];
    for (case, make, says) in cases {
        let d = tempfile::tempdir().unwrap();
        make(d.path());
        let (code, text) = run_within(kb().arg("check-config").arg(d.path()));
        assert_eq!(code, Some(2), "{case}:\n{text}");
        assert!(text.contains(says), "{case}:\n{text}");
        assert!(text.contains("must be a regular file"), "{case}:\n{text}");
        assert!(!text.contains("permissions"), "{case}: wrong hint:\n{text}");
    }
}

/// A file name with ANSI escapes is printed escaped by every path that names
/// it: a report (`hash --check`), its JSON, an error (`upload`).
#[test]
fn control_characters_in_names_are_escaped() {
    let hub = FakeHub::start(TOKEN);
    let k = Kernel::new(&[CPU], 1);
    ok(kb().arg("hash").arg(k.path()).output().unwrap());
    let v = k.path().join("build").join(CPU);
    std::fs::write(v.join("evil\u{1b}[2J\u{1b}[31mRED\r.py"), "x").unwrap();
    let mut runs = vec![
        ("hash --check", {
            let mut c = kb();
            c.args(["hash", "--check"]).arg(k.path());
            c
        }),
        ("hash --check --json", {
            let mut c = kb();
            c.args(["--json", "hash", "--check"]).arg(k.path());
            c
        }),
        ("check-builds", {
            let mut c = kb();
            c.arg("check-builds").arg(k.path());
            c
        }),
    ];
    runs.extend(
        commands(k.path(), &hub)
            .into_iter()
            .filter(|(n, _)| *n == "upload"),
    );
    for (name, mut cmd) in runs {
        let (code, text) = run_within(&mut cmd);
        assert_ne!(code, Some(0), "{name}:\n{text}");
        assert!(
            text.contains("evil"),
            "{name} does not name the file:\n{text}"
        );
        assert!(
            !text.contains('\u{1b}') && !text.contains('\r'),
            "{name} printed a raw control character:\n{text:?}"
        );
    }
}

/// A `csv.py` or `concurrent.py` in the current directory (or on
/// PYTHONPATH) is not imported by the Pythons the tool starts.
#[test]
fn python_never_runs_modules_from_the_current_directory() {
    let d = tempfile::tempdir().unwrap();
    let marker = d.path().join("imported");
    for m in ["csv", "json", "email", "textwrap", "concurrent"] {
        std::fs::write(
            d.path().join(format!("{m}.py")),
            format!(
                "open({:?}, 'a').write('{m}\\n')\n",
                marker.to_str().unwrap()
            ),
        )
        .unwrap();
    }
    let k = Kernel::new(&[CPU], 1);
    for args in [&["doctor"][..], &["verify", k.path().to_str().unwrap()]] {
        let _ = run_within(
            kb_in(d.path())
                .args(args)
                .env("PYTHONPATH", d.path())
                .env_remove("PYTHONSAFEPATH"),
        );
        assert!(
            !marker.exists(),
            "{args:?} imported {}",
            std::fs::read_to_string(&marker).unwrap_or_default()
        );
    }
}
