//! File-system helpers shared by every crate.

use std::io::Write;
use std::path::Path;

/// Write a file via a temporary file in the same directory and a rename, so
/// readers never see a partial file. Keeps the permissions of a file it
/// replaces.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    match std::fs::metadata(path) {
        Ok(meta) => {
            let _ = std::fs::set_permissions(tmp.path(), meta.permissions());
        }
        // A temporary file is created 0600; a new file gets what the
        // process's umask allows, like any file a program creates.
        Err(_) => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(
                    tmp.path(),
                    std::fs::Permissions::from_mode(new_file_mode(false)),
                );
            }
        }
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The process's umask (Linux: read from `/proc/self/status`, which does not
/// change it; elsewhere the common 022).
pub fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Umask:"))
                .and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

/// The mode of a new file (`0666`, or `0777` when `executable`) less the umask.
pub fn new_file_mode(executable: bool) -> u32 {
    let base = if executable { 0o777 } else { 0o666 };
    base & !umask()
}

#[cfg(all(test, target_os = "linux"))]
mod mode_tests {
    use std::os::unix::fs::PermissionsExt;

    /// New files follow the umask: neither 0600 (a temporary file's mode)
    /// nor world-writable. The test process's umask is what cargo gives it.
    #[test]
    fn new_files_follow_the_umask() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        super::write_atomic(&p, b"x").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666 & !super::umask());
    }
}

/// What kind of non-regular file `meta` describes, if it is a special file
/// (FIFO, socket, device) that must never be opened.
pub fn special_kind(meta: &std::fs::Metadata) -> Option<&'static str> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return Some("a FIFO");
        }
        if t.is_socket() {
            return Some("a socket");
        }
        if t.is_block_device() || t.is_char_device() {
            return Some("a device");
        }
    }
    let _ = meta;
    None
}

/// Check, without opening it, that `path` is a regular file or a link to one.
/// The error says what it is instead: a dangling link, a directory, a FIFO, a
/// socket or a device.
pub fn check_regular(path: &Path) -> std::io::Result<std::fs::Metadata> {
    use std::io::{Error, ErrorKind};
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound && std::fs::symlink_metadata(path).is_ok() => {
            return Err(Error::new(
                ErrorKind::NotFound,
                "is a dangling symbolic link (its target does not exist)",
            ));
        }
        Err(e) => return Err(e),
    };
    if let Some(kind) = special_kind(&meta) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("is {kind}, not a regular file"),
        ));
    }
    if meta.is_dir() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "is a directory, not a file",
        ));
    }
    Ok(meta)
}

/// Open a regular file for reading, never blocking on a special file: the
/// type is checked before opening (opening a device can have effects), and
/// again on the open descriptor, which is opened non-blocking so a file
/// swapped for a FIFO in between cannot hang.
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    check_regular(path)?;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let f = options.open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is not a regular file (it changed while being opened)",
        ));
    }
    Ok(f)
}

/// Read a regular file; refuse special files without opening them (reading
/// a FIFO would block forever).
pub fn read_regular(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = open_regular(path)?;
    let mut out = Vec::new();
    f.read_to_end(&mut out)?;
    Ok(out)
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_to_string(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_regular(path)?)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "is not valid UTF-8"))
}

/// Display `path` relative to `base` when it is inside it.
pub fn display_path(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(path)
        .display()
        .to_string()
}
