//! Host binaries made runnable inside the Nix sandbox, where nothing of the
//! host but `/bin/sh` (a static busybox) exists: the binary, its shared
//! libraries and the dynamic loader, behind a `bin/<name>` wrapper.

use std::path::Path;
use std::process::Command;

/// `bin/<name>`: a wrapper running the binary with the bundled loader and
/// libraries, so it works inside the sandbox where the host has no /lib.
pub fn bundle_tool(tools: &Path, name: &str, binary: &Path) {
    let libexec = tools.join("libexec");
    let lib = tools.join("lib");
    let bin = tools.join("bin");
    for d in [&libexec, &lib, &bin] {
        std::fs::create_dir_all(d).unwrap();
    }
    let dest = libexec.join(name);
    // A stripped copy keeps the store import small.
    let st = Command::new("strip")
        .arg("-o")
        .arg(&dest)
        .arg(binary)
        .status();
    if !st.map(|s| s.success()).unwrap_or(false) {
        std::fs::copy(binary, &dest).unwrap();
    }
    let ldd = Command::new("ldd").arg(binary).output().unwrap();
    let mut loader = None;
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        let Some(p) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let p = Path::new(p);
        let fname = p.file_name().unwrap().to_string_lossy().into_owned();
        if fname.starts_with("ld-linux") {
            loader = Some(fname.clone());
        }
        let target = lib.join(&fname);
        if !target.exists() {
            std::fs::copy(std::fs::canonicalize(p).unwrap(), &target).unwrap();
        }
    }
    let loader = loader.expect("dynamic loader in ldd output");
    let wrapper = format!(
        "#!/bin/sh\nd=$(dirname \"$0\")/..\nexec \"$d/lib/{loader}\" --library-path \"$d/lib\" \"$d/libexec/{name}\" \"$@\"\n"
    );
    let w = bin.join(name);
    std::fs::write(&w, wrapper).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
}
