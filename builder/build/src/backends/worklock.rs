//! One build at a time per kernel work directory (`.kernel-builder/`).
//!
//! Two builds of one kernel share the work directory and the staging of
//! `build/`; the second waits for an advisory lock on
//! `.kernel-builder/lock` (`flock`, through libc: `File::try_lock` needs Rust
//! 1.89, above the workspace's rust-version), reporting who holds it and how long it has waited. The kernel
//! releases the lock when its holder exits, however it exits (kill -9
//! included), so a stale lock cannot block the next build.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kb_core::progress::Progress;
use kb_core::{bail, Context, Result};

/// The name of the lock file in the work directory.
pub const LOCK_FILE: &str = "lock";

/// Held for the lifetime of a build; dropping it releases the lock.
#[derive(Debug)]
pub struct WorkLock {
    _file: File,
    pub path: PathBuf,
}

/// How long to wait at most, and how often to say so.
#[derive(Debug, Clone, Copy)]
pub struct Wait {
    pub limit: Option<Duration>,
    pub report_every: Duration,
    pub poll: Duration,
}

impl Default for Wait {
    fn default() -> Self {
        Wait {
            limit: None,
            report_every: Duration::from_secs(60),
            poll: Duration::from_millis(250),
        }
    }
}

/// Take the lock of `work_dir` (created if missing), waiting while another
/// build holds it. `progress` hears once who holds it, then how long the
/// wait has lasted every `wait.report_every`; past `wait.limit` this fails.
pub fn lock(work_dir: &Path, wait: Wait, progress: &dyn Progress) -> Result<WorkLock> {
    std::fs::create_dir_all(work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let path = work_dir.join(LOCK_FILE);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let start = Instant::now();
    let mut last_report: Option<Instant> = None;
    loop {
        match try_lock(&file) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => return Err(e).with_context(|| format!("locking {}", path.display())),
        }
        let waited = start.elapsed();
        if wait.limit.is_some_and(|l| waited >= l) {
            bail!(
                "another build of this kernel still holds {} after {}s ({}); wait for it to finish or stop it",
                path.display(),
                waited.as_secs(),
                holder(&path)
            );
        }
        match last_report {
            None => progress.note(&format!(
                "waiting for another build of this kernel to finish ({} is held by {})",
                path.display(),
                holder(&path)
            )),
            Some(t) if t.elapsed() >= wait.report_every => progress.note(&format!(
                "still waiting for the other build of this kernel ({}s so far)",
                waited.as_secs()
            )),
            Some(_) => {
                std::thread::sleep(wait.poll);
                continue;
            }
        }
        last_report = Some(Instant::now());
        std::thread::sleep(wait.poll);
    }
    // Record the holder for whoever waits next (informational only).
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = write!(file, "pid {}", std::process::id());
    let _ = file.flush();
    Ok(WorkLock { _file: file, path })
}

/// `flock(LOCK_EX | LOCK_NB)`: Ok(false) while another open file holds it.
fn try_lock(file: &File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a file descriptor owned by `file` for the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        Some(libc::EINTR) => Ok(false),
        _ => Err(e),
    }
}

/// The file in the work directory naming the kernel directory it belongs to.
pub const OWNER_FILE: &str = "owner";

/// Make `work_dir` (locked by the caller) belong to `root`: a work directory
/// copied along with a kernel (or left by a version that did not record its
/// owner) has CMake caches pointing at the other kernel, so its contents are
/// removed (all but the lock) and the owner recorded. Returns whether it
/// belonged to another directory.
pub fn claim(work_dir: &Path, root: &Path) -> Result<bool> {
    let owner = work_dir.join(OWNER_FILE);
    let want = root.as_os_str().as_encoded_bytes();
    let recorded = std::fs::read(&owner).ok();
    if recorded.as_deref() == Some(want) {
        return Ok(false);
    }
    let foreign = recorded.is_some();
    for e in
        std::fs::read_dir(work_dir).with_context(|| format!("reading {}", work_dir.display()))?
    {
        let e = e.with_context(|| format!("reading {}", work_dir.display()))?;
        if e.file_name() == LOCK_FILE {
            continue;
        }
        let p = e.path();
        let r = if e.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        r.with_context(|| format!("removing {}", p.display()))?;
    }
    kb_core::fsutil::write_atomic(&owner, want)
        .with_context(|| format!("writing {}", owner.display()))?;
    Ok(foreign)
}

fn holder(path: &Path) -> String {
    let mut s = String::new();
    let _ = File::open(path).and_then(|f| f.take(64).read_to_string(&mut s));
    let s = s.trim();
    if s.starts_with("pid ") && s[4..].bytes().all(|b| b.is_ascii_digit()) && s.len() > 4 {
        s.to_string()
    } else {
        "another process".to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use kb_core::progress::{Progress, Task};

    use super::{lock, Wait};

    #[derive(Default)]
    struct Notes(Mutex<Vec<String>>);
    impl Progress for Notes {
        fn note(&self, m: &str) {
            self.0.lock().unwrap().push(m.to_string());
        }
        fn warn(&self, m: &str) {
            self.note(m)
        }
        fn task(&self, _: &str) -> Box<dyn Task + '_> {
            Box::new(kb_core::progress::Silent)
        }
        fn log(&self, _: &str) {}
    }

    fn fast(limit: Option<u64>) -> Wait {
        Wait {
            limit: limit.map(Duration::from_millis),
            report_every: Duration::from_millis(100),
            poll: Duration::from_millis(10),
        }
    }

    #[test]
    fn a_work_dir_copied_from_another_kernel_is_reset() {
        let d = tempfile::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        let work_a = a.join(".kernel-builder");
        let _l = lock(&work_a, fast(None), &kb_core::progress::Silent).unwrap();
        assert!(!super::claim(&work_a, &a).unwrap());
        std::fs::create_dir_all(work_a.join("v/cmake")).unwrap();
        std::fs::write(work_a.join("v/cmake/CMakeCache.txt"), "a").unwrap();
        // Its own kernel keeps the work files.
        assert!(!super::claim(&work_a, &a).unwrap());
        assert!(work_a.join("v/cmake/CMakeCache.txt").exists());
        // A copy of the kernel directory carries them along: reset.
        let work_b = b.join(".kernel-builder");
        std::fs::create_dir_all(work_b.join("v/cmake")).unwrap();
        std::fs::copy(work_a.join("owner"), work_b.join("owner")).unwrap();
        std::fs::write(work_b.join("v/cmake/CMakeCache.txt"), "a").unwrap();
        assert!(super::claim(&work_b, &b).unwrap());
        assert!(!work_b.join("v").exists());
        assert_eq!(
            std::fs::read(work_b.join("owner")).unwrap(),
            b.as_os_str().as_encoded_bytes()
        );
        assert!(!super::claim(&work_b, &b).unwrap());
    }

    #[test]
    fn a_second_build_waits_and_says_for_whom() {
        let d = tempfile::tempdir().unwrap();
        let work = d.path().join(".kernel-builder");
        let first = lock(&work, fast(None), &kb_core::progress::Silent).unwrap();
        // Bounded: the second gives up with the holder named.
        let notes = Notes::default();
        let e = lock(&work, fast(Some(300)), &notes)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("another build of this kernel")
                && e.contains(&format!("pid {}", std::process::id())),
            "{e}"
        );
        let n = notes.0.lock().unwrap().clone();
        assert!(
            n[0].starts_with("waiting for another build of this kernel"),
            "{n:?}"
        );
        assert!(
            n.iter().skip(1).any(|m| m.contains("still waiting")),
            "{n:?}"
        );
        // Unbounded: it gets the lock once the first is dropped.
        std::thread::scope(|s| {
            let h = s.spawn(|| lock(&work, fast(None), &kb_core::progress::Silent));
            std::thread::sleep(Duration::from_millis(100));
            assert!(!h.is_finished());
            drop(first);
            h.join().unwrap().unwrap();
        });
    }
}
