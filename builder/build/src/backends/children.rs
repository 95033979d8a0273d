//! The processes a build starts (CMake, ninja, compilers, Python) and how
//! they end with it.
//!
//! Each tool runs in its own process group, registered here while it runs;
//! [`terminate_all`] (called by the CLI on SIGINT/SIGTERM/SIGHUP) ends every
//! group. kill -9 cannot be caught, so each tool also carries
//! `KERNEL_BUILDER_WORK=<work dir>` in its environment and [`reap_stale`]
//! (run by the next build of the kernel, holding its lock) ends processes
//! left with that marker (Linux: read from `/proc`).

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The environment variable that marks a build's processes.
pub const MARKER_ENV: &str = "KERNEL_BUILDER_WORK";

static GROUPS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// A running process group; unregistered when dropped.
#[derive(Debug)]
pub struct Registered(i32);

/// Register the process group led by `pid` (a child started with
/// `process_group(0)`).
pub fn register(pid: u32) -> Registered {
    let g = pid as i32;
    GROUPS.lock().unwrap_or_else(|e| e.into_inner()).insert(g);
    Registered(g)
}

impl Drop for Registered {
    fn drop(&mut self) {
        GROUPS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.0);
    }
}

/// End every registered process group: SIGTERM, then SIGKILL for groups
/// still alive after `grace`. Safe to call from a signal-handling thread.
pub fn terminate_all(grace: Duration) {
    let groups: Vec<i32> = GROUPS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .copied()
        .collect();
    end_groups(&groups, grace);
}

fn end_groups(groups: &[i32], grace: Duration) {
    for &g in groups {
        // SAFETY: kill(2) with a negative pid signals the group `g`.
        unsafe { libc::kill(-g, libc::SIGTERM) };
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        // SAFETY: signal 0 only checks whether the group still exists.
        if groups.iter().all(|&g| unsafe { libc::kill(-g, 0) } != 0) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for &g in groups {
        // SAFETY: as above.
        unsafe { libc::kill(-g, libc::SIGKILL) };
    }
}

/// End the processes a killed earlier build of `work_dir` left running
/// (those whose environment has `KERNEL_BUILDER_WORK=<work_dir>`). Returns
/// how many were signalled. Only the caller's own processes are readable;
/// elsewhere than Linux this does nothing.
pub fn reap_stale(work_dir: &Path) -> usize {
    let mut marker = format!("{MARKER_ENV}=").into_bytes();
    marker.extend_from_slice(work_dir.as_os_str().as_encoded_bytes());
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut pids = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        let Ok(env) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        if env.split(|&b| b == 0).any(|kv| kv == marker.as_slice()) {
            pids.push(pid as i32);
        }
    }
    for &p in &pids {
        // SAFETY: kill(2) on a process that carries this work dir's marker.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    pids.len()
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    use std::time::Duration;

    use super::{reap_stale, register, terminate_all, MARKER_ENV};

    fn alive(pid: u32) -> bool {
        // A zombie still answers kill(0); read its state instead.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| {
                !s.rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z')
            })
            .unwrap_or(false)
    }

    #[test]
    fn terminate_all_ends_the_group_with_its_grandchildren() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("grandchild");
        // sh starts a grandchild (sleep) in the same group, then waits.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("sleep 30 & echo $! > {}; wait", pidfile.display()))
            .process_group(0)
            .spawn()
            .unwrap();
        let reg = register(child.id());
        let t = std::time::Instant::now();
        while !pidfile.exists() || std::fs::read_to_string(&pidfile).unwrap().trim().is_empty() {
            assert!(t.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(20));
        }
        let grandchild: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(alive(grandchild));
        terminate_all(Duration::from_secs(2));
        child.wait().unwrap();
        drop(reg);
        let t = std::time::Instant::now();
        while alive(grandchild) {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "grandchild {grandchild} survived"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn reap_stale_ends_only_marked_processes() {
        let d = tempfile::tempdir().unwrap();
        let work = d.path().join(".kernel-builder");
        let mut marked = Command::new("sleep")
            .arg("30")
            .env(MARKER_ENV, &work)
            .spawn()
            .unwrap();
        let mut other = Command::new("sleep")
            .arg("30")
            .env(MARKER_ENV, d.path().join("elsewhere"))
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(reap_stale(&work), 1);
        assert!(!marked.wait().unwrap().success());
        assert!(
            other.try_wait().unwrap().is_none(),
            "an unmarked process was ended"
        );
        other.kill().unwrap();
        other.wait().unwrap();
    }
}
