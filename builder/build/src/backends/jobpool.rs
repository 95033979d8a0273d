//! One job budget for the ninja runs of one `build`: a GNU make jobserver
//! (a named FIFO holding tokens) that every variant's ninja joins, so a core
//! a finished variant leaves is taken by the ones still compiling. ninja 1.13
//! (the toolchain's) is a jobserver client when `MAKEFLAGS` names the pool
//! and no `-j` is given.
//!
//! Written by hand over `libc::mkfifo`: the `jobserver` crate creates
//! anonymous pipes, which ninja accepts only with a warning in every log.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// A token pool; removed when dropped. The FIFO stays open here for its
/// whole life, so tokens are kept while no ninja holds it open.
pub struct JobPool {
    path: PathBuf,
    _fifo: File,
    makeflags: String,
}

impl JobPool {
    /// A pool in `dir` such that `clients` ninja runs together use `cores`
    /// jobs: each client has one implicit job, the FIFO holds the rest (at
    /// least one, so a core is never left idle while one client runs).
    pub fn create(dir: &Path, cores: usize, clients: usize) -> std::io::Result<JobPool> {
        let path = dir.join("jobserver.fifo");
        let _ = std::fs::remove_file(&path);
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `c` is a valid NUL-terminated path.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // Read-write: opening never blocks, and the pipe buffer (the tokens)
        // lives as long as this descriptor.
        let mut fifo = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(&path)?;
        let tokens = cores.saturating_sub(clients).max(1);
        fifo.write_all(&vec![b'+'; tokens])?;
        let makeflags = format!("-j{cores} --jobserver-auth=fifo:{}", path.display());
        Ok(JobPool {
            path,
            _fifo: fifo,
            makeflags,
        })
    }

    /// The `MAKEFLAGS` value that makes a ninja run join the pool.
    pub fn makeflags(&self) -> &str {
        &self.makeflags
    }
}

impl Drop for JobPool {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn pool_holds_the_tokens_beyond_the_implicit_jobs() {
        let d = tempfile::tempdir().unwrap();
        let pool = JobPool::create(d.path(), 8, 3).unwrap();
        assert!(pool.makeflags().starts_with("-j8 --jobserver-auth=fifo:"));
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(d.path().join("jobserver.fifo"))
            .unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(f.read(&mut buf).unwrap(), 5);
        assert!(buf[..5].iter().all(|&b| b == b'+'));
        drop(f);
        drop(pool);
        assert!(!d.path().join("jobserver.fifo").exists());
        // Fewer cores than clients: still one token.
        let pool = JobPool::create(d.path(), 2, 2).unwrap();
        let mut f = std::fs::File::open(d.path().join("jobserver.fifo")).unwrap();
        assert_eq!(f.read(&mut buf[..1]).unwrap(), 1);
        drop(pool);
    }
}
