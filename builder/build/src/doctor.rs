//! `kernel-builder doctor`: is this machine ready to build kernels? Each
//! check says what it found and, when something is wrong, how to fix it.
//!
//! Nix backend: Nix present and recent, flakes, sandbox, substituters with
//! their trusted keys, remote builders, disk space. Local backend: Python,
//! torch, kernels, C++ compiler, CMake, Ninja, CUDA/ROCm compilers, git.

use std::path::Path;
use std::process::Command;

use kb_core::report::{Report, Status as ExitStatus};
use serde::Serialize;

use crate::backends::nix::{nix_info, NixProblem, MIN_NIX};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Info,
    Warn,
    Fail,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `nix`, `disk` or `local`.
    pub area: &'static str,
    pub name: String,
    pub status: Status,
    pub detail: String,
    pub fix: Option<String>,
}

fn check(
    area: &'static str,
    name: &str,
    status: Status,
    detail: impl Into<String>,
    fix: Option<String>,
) -> Check {
    Check {
        area,
        name: name.to_string(),
        status,
        detail: detail.into(),
        fix,
    }
}

/// Free bytes on the file system holding `p`.
pub fn free_bytes(p: &Path) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let c = CString::new(p.as_os_str().as_bytes()).ok()?;
        let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
        // SAFETY: `c` is a valid path and `st` a writable statvfs.
        if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
            return None;
        }
        #[allow(clippy::unnecessary_cast)]
        Some(st.f_bavail as u64 * st.f_frsize as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = p;
        None
    }
}

fn gib(b: u64) -> f64 {
    b as f64 / (1u64 << 30) as f64
}

fn nix_checks(out: &mut Vec<Check>) {
    let info = match nix_info() {
        Ok(i) => i,
        Err(NixProblem::NotInstalled) => {
            out.push(check("nix", "nix", Status::Fail, "not installed (no `nix` on PATH); only local builds with the host toolchain (`--local`) are possible",
                Some("install Nix: https://nixos.org/download (Linux) or the Determinate Nix installer (macOS); then run `kernel-builder doctor` again".into())));
            return;
        }
        Err(e) => {
            out.push(check(
                "nix",
                "nix",
                Status::Fail,
                e.to_string(),
                Some("repair the Nix installation so that `nix --version` works".into()),
            ));
            return;
        }
    };
    if info.version_tuple() < MIN_NIX {
        out.push(check(
            "nix",
            "version",
            Status::Fail,
            format!("Nix {} at {}", info.version, info.path.display()),
            Some(format!(
                "upgrade to Nix >= {}.{} (`sudo nix upgrade-nix`, or reinstall)",
                MIN_NIX.0, MIN_NIX.1
            )),
        ));
    } else {
        out.push(check(
            "nix",
            "version",
            Status::Ok,
            format!(
                "Nix {}{} at {}",
                info.version,
                if info.determinate {
                    " (Determinate)"
                } else {
                    ""
                },
                info.path.display()
            ),
            None,
        ));
    }
    if info.config.is_empty() {
        out.push(check(
            "nix",
            "configuration",
            Status::Warn,
            "`nix config show` gave no settings",
            Some("check that the Nix daemon runs (`sudo systemctl status nix-daemon`)".into()),
        ));
        return;
    }
    if info.flakes_enabled() {
        out.push(check("nix", "flakes", Status::Ok, "enabled", None));
    } else {
        out.push(check("nix", "flakes", Status::Warn,
            format!("not enabled in nix.conf; kernel-builder passes `--extra-experimental-features '{}'` itself, but plain `nix run .#build-and-copy` and `use flake` fail", crate::backends::nix::NIX_FEATURES),
            Some("add `experimental-features = nix-command flakes` to ~/.config/nix/nix.conf (or /etc/nix/nix.conf)".into())));
    }
    let sandbox = info.sandbox().to_string();
    let darwin = cfg!(target_os = "macos");
    match (sandbox.as_str(), darwin) {
        ("true", _) => out.push(check("nix", "sandbox", Status::Ok, "on", None)),
        (_, true) => out.push(check("nix", "sandbox", Status::Info, format!("sandbox = {sandbox} (macOS builds are not sandboxed by default)"), None)),
        ("relaxed", false) => out.push(check("nix", "sandbox", Status::Warn, "relaxed: derivations may opt out of the sandbox",
            Some("set `sandbox = true` in /etc/nix/nix.conf and restart the daemon (`sudo systemctl restart nix-daemon`)".into()))),
        (v, false) => out.push(check("nix", "sandbox", Status::Fail, format!("sandbox = {v}: builds could pick up host files and would not be reproducible; kernel-builder refuses to build"),
            Some("set `sandbox = true` in /etc/nix/nix.conf and restart the daemon (`sudo systemctl restart nix-daemon`)".into()))),
    }
    let subs = info.list("substituters");
    let keys = info.list("trusted-public-keys");
    if subs.is_empty() {
        out.push(check(
            "nix",
            "substituters",
            Status::Warn,
            "no binary caches: everything is built from source",
            Some("add `substituters = https://cache.nixos.org/` with its key to nix.conf".into()),
        ));
    }
    for s in &subs {
        let host = s
            .split("://")
            .nth(1)
            .unwrap_or(s)
            .split('/')
            .next()
            .unwrap_or_default()
            .to_string();
        let trusted = s.starts_with("file://")
            || keys.iter().any(|k| {
                k.split(':').next().is_some_and(|name| {
                    name.trim_end_matches(|c: char| c == '-' || c.is_ascii_digit()) == host
                })
            });
        if trusted {
            out.push(check(
                "nix",
                "substituter",
                Status::Ok,
                format!("{s} (key trusted)"),
                None,
            ));
        } else {
            out.push(check("nix", "substituter", Status::Warn, format!("{s} has no matching trusted-public-keys entry: its paths are ignored"),
                Some(format!("add the cache's public key (`{host}-1:...`, published by the cache) to `trusted-public-keys` in /etc/nix/nix.conf, or `cachix use <name>`"))));
        }
    }
    let builders = info.setting("builders").unwrap_or("").trim().to_string();
    if !builders.is_empty() && builders != "@/etc/nix/machines" {
        out.push(check(
            "nix",
            "remote builders",
            Status::Info,
            builders,
            None,
        ));
    } else if Path::new("/etc/nix/machines").is_file() {
        out.push(check(
            "nix",
            "remote builders",
            Status::Info,
            "from /etc/nix/machines",
            None,
        ));
    } else {
        out.push(check(
            "nix",
            "remote builders",
            Status::Info,
            "none (variants of other systems need a remote builder: set `builders` in nix.conf)",
            None,
        ));
    }
    for key in ["max-jobs", "cores"] {
        if let Some(v) = info.setting(key) {
            out.push(check("nix", key, Status::Info, v.to_string(), None));
        }
    }
}

fn disk_checks(out: &mut Vec<Check>, kernel_dir: &Path) {
    let store = if Path::new("/nix").exists() {
        Path::new("/nix")
    } else {
        Path::new("/")
    };
    for (name, p, warn_gib, fail_gib) in [
        ("Nix store", store, 50.0, 10.0),
        ("kernel directory", kernel_dir, 5.0, 1.0),
    ] {
        match free_bytes(p) {
            Some(b) => {
                let g = gib(b);
                let status = if g < fail_gib {
                    Status::Fail
                } else if g < warn_gib {
                    Status::Warn
                } else {
                    Status::Ok
                };
                out.push(check("disk", name, status, format!("{g:.1} GiB free on {}", p.display()),
                    (status != Status::Ok).then(|| format!("free space on {} (`nix-collect-garbage -d` frees unused store paths); CUDA and ROCm toolchains need tens of GiB", p.display()))));
            }
            None => out.push(check(
                "disk",
                name,
                Status::Info,
                format!("cannot read free space of {}", p.display()),
                None,
            )),
        }
    }
}

fn first_line(cmd: &mut Command) -> Option<String> {
    let o = cmd.output().ok()?;
    if !o.status.success() {
        return None;
    }
    let s = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_string)
}

fn tool(out: &mut Vec<Check>, names: &[&str], label: &str, required: bool, fix: &str) {
    for n in names {
        if let Ok(p) = which::which(n) {
            let v = first_line(Command::new(&p).arg("--version"))
                .unwrap_or_else(|| "version unknown".into());
            out.push(check(
                "local",
                label,
                Status::Ok,
                format!("{v} ({})", p.display()),
                None,
            ));
            return;
        }
    }
    out.push(check(
        "local",
        label,
        if required { Status::Warn } else { Status::Info },
        format!("not found ({})", names.join(", ")),
        Some(fix.to_string()),
    ));
}

fn local_checks(out: &mut Vec<Check>) {
    let python = ["python3", "python"]
        .iter()
        .find_map(|n| which::which(n).ok());
    match python {
        None => out.push(check(
            "local",
            "python",
            Status::Warn,
            "no python3 on PATH",
            Some(
                "install Python >= 3.9 (the local backend creates its environments with it)".into(),
            ),
        )),
        Some(py) => {
            let script = crate::scripts::DOCTOR_PYTHON;
            let o = kb_core::pyenv::python_command(&py)
                .args(["-c", script])
                .output()
                .ok();
            let lines: Vec<String> = o
                .filter(|o| o.status.success())
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default();
            let ver = lines.first().cloned().unwrap_or_default();
            let minor: u32 = ver
                .split('.')
                .nth(1)
                .and_then(|m| m.parse().ok())
                .unwrap_or(0);
            if ver.starts_with("3.") && minor >= 9 {
                out.push(check(
                    "local",
                    "python",
                    Status::Ok,
                    format!("Python {ver} ({})", py.display()),
                    None,
                ));
            } else {
                out.push(check(
                    "local",
                    "python",
                    Status::Warn,
                    format!("Python `{ver}` at {} (need >= 3.9)", py.display()),
                    Some("install Python >= 3.9".into()),
                ));
            }
            for (i, (pkg, fix)) in [("torch", "`pip install torch` (the local backend provisions torch per variant itself; this is for running tests)"), ("kernels", "`pip install kernels` (needed by the get_kernel check and tests)")].iter().enumerate() {
                match lines.get(i + 1).map(|s| s.as_str()) {
                    Some(v) if v != "-" => out.push(check("local", pkg, Status::Ok, format!("{pkg} {v}"), None)),
                    _ => out.push(check("local", pkg, Status::Info, format!("{pkg} is not installed in {}", py.display()), Some(fix.to_string()))),
                }
            }
        }
    }
    tool(out, &["c++", "g++", "clang++"], "C++ compiler", true, "install a C++17 compiler (Debian/Ubuntu: `apt install g++`; macOS: Xcode command line tools)");
    tool(
        out,
        &["cmake"],
        "cmake",
        false,
        "`pip install cmake` (the local backend installs it into its environment when missing)",
    );
    tool(
        out,
        &["ninja"],
        "ninja",
        false,
        "`pip install ninja` (the local backend installs it into its environment when missing)",
    );
    tool(out, &["nvcc"], "nvcc", false, "CUDA variants: the local backend uses the nvidia-cuda-nvcc wheels; the Nix backend brings CUDA itself");
    tool(
        out,
        &["hipcc"],
        "hipcc",
        false,
        "ROCm variants: install ROCm (or use the Nix backend, which brings it)",
    );
    tool(
        out,
        &["git"],
        "git",
        true,
        "install git: kernel provenance (commit, dirty flag) and flakes need it",
    );
}

/// Run every check.
pub fn checks(kernel_dir: &Path) -> Vec<Check> {
    let mut out = Vec::new();
    nix_checks(&mut out);
    disk_checks(&mut out, kernel_dir);
    local_checks(&mut out);
    out
}

/// The `doctor` report: every check, grouped by area. Its JSON is the bare
/// list of checks.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct DoctorReport {
    pub checks: Vec<Check>,
}

/// `kernel-builder doctor [DIR]`.
pub fn run(kernel_dir: &Path) -> DoctorReport {
    DoctorReport {
        checks: checks(kernel_dir),
    }
}

impl Report for DoctorReport {
    fn text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let mut area = "";
        for c in &self.checks {
            if c.area != area {
                area = c.area;
                let title = match area {
                    "nix" => "Nix backend (Hub-compliant builds)",
                    "disk" => "Disk",
                    _ => "Local backend (host toolchain)",
                };
                let _ = writeln!(out, "{title}");
            }
            let mark = match c.status {
                Status::Ok => "ok  ",
                Status::Info => "info",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            let _ = writeln!(out, "  [{mark}] {}: {}", c.name, c.detail);
            if let Some(f) = &c.fix {
                let _ = writeln!(out, "         fix: {f}");
            }
        }
        out
    }

    fn status(&self) -> ExitStatus {
        if self.checks.iter().any(|c| c.status == Status::Fail) {
            ExitStatus::Findings
        } else {
            ExitStatus::Ok
        }
    }
}
