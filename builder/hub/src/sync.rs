//! Comparing local files with a remote tree, and cutting the changes into commits.

use std::collections::{BTreeMap, BTreeSet};

use super::local::LocalFile;

/// A file in a remote tree listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub path: String,
    /// Git blob id (of the content for regular files, of the pointer for LFS files).
    pub git_oid: String,
    pub size: u64,
    /// SHA-256 of the content, for LFS (and Xet) files.
    pub lfs_sha256: Option<String>,
}

/// True when the remote file already holds exactly the local content.
pub fn same_content(local: &LocalFile, remote: &RemoteFile) -> bool {
    match &remote.lfs_sha256 {
        Some(sha) => sha.eq_ignore_ascii_case(&local.sha256),
        None => remote.git_oid.eq_ignore_ascii_case(&local.git_oid),
    }
}

/// Result of comparing local files with a remote tree.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diff {
    /// Indices of local files that are new or changed.
    pub changed: Vec<usize>,
    /// Indices of local files the remote already has.
    pub unchanged: Vec<usize>,
    /// Remote files under one of the owned prefixes that the upload no longer contains.
    pub stale: Vec<String>,
    /// Remote paths that are not plain repository paths (`..`, `.`, empty components,
    /// backslashes, control characters), with the reason. An upload refuses to touch a
    /// tree that lists any.
    pub unsafe_remote: Vec<(String, String)>,
}

/// Split a repository path into its components, refusing anything but plain names:
/// no empty, `.` or `..` component, no leading or trailing `/`, no backslash, no
/// control character. Paths are compared by these components, never by text prefix.
pub fn components(path: &str) -> Result<Vec<&str>, String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    let mut out = Vec::new();
    for seg in path.split('/') {
        let why = match seg {
            "" => Some("an empty component (`//`, or a leading or trailing `/`)"),
            "." => Some("a `.` component"),
            ".." => Some("a `..` component"),
            s if s.contains('\\') => Some("a backslash"),
            s if s.chars().any(char::is_control) => Some("a control character"),
            _ => None,
        };
        if let Some(why) = why {
            return Err(format!("has {why}"));
        }
        out.push(seg);
    }
    Ok(out)
}

/// Compare `local` with `remote`. Only remote files inside one of `owned_prefixes`
/// (directories such as `build/<variant>/`, compared component by component) may be
/// reported stale.
pub fn diff(
    local: &[LocalFile],
    remote: &BTreeMap<String, RemoteFile>,
    owned_prefixes: &[String],
) -> Diff {
    let mut d = Diff::default();
    let local_paths: BTreeSet<&str> = local.iter().map(|f| f.repo_path.as_str()).collect();
    for (i, f) in local.iter().enumerate() {
        match remote.get(&f.repo_path) {
            Some(r) if same_content(f, r) => d.unchanged.push(i),
            _ => d.changed.push(i),
        }
    }
    let owned: Vec<Vec<&str>> = owned_prefixes
        .iter()
        .filter_map(|p| components(p.trim_end_matches('/')).ok())
        .collect();
    for path in remote.keys() {
        let parts = match components(path) {
            Ok(p) => p,
            Err(why) => {
                d.unsafe_remote.push((path.clone(), why));
                continue;
            }
        };
        let is_owned = owned
            .iter()
            .any(|o| parts.len() > o.len() && parts[..o.len()] == o[..]);
        if is_owned && !local_paths.contains(path.as_str()) {
            d.stale.push(path.clone());
        }
    }
    d
}

/// How an added file travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Inline, base64 in the commit request.
    Regular,
    /// Large-file storage: uploaded first, referenced by SHA-256 in the commit.
    Lfs,
}

/// One operation of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Add or replace the local file with this index.
    Add {
        index: usize,
        mode: Mode,
    },
    Delete {
        path: String,
    },
}

/// Limits for one commit.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_files: usize,
    /// Upper bound on inline (regular) file bytes per commit request.
    pub max_inline_bytes: u64,
}

/// The unit a path belongs to: `build/<variant>`, `benchmarks`, or the path itself.
pub fn unit_of(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("build/") {
        if let Some(i) = rest.find('/') {
            return &path[..6 + i];
        }
    }
    if path.starts_with("benchmarks/") {
        return "benchmarks";
    }
    path
}

/// Cut operations into commits. Operations are grouped by unit (a variant, `benchmarks/`),
/// and a unit is never split: whole units are packed into a commit up to the limits, and a
/// unit larger than the limits gets a commit of its own. So whatever happens between
/// commits, every variant on the branch is either entirely old or entirely new.
pub fn batches(ops: &[Op], local: &[LocalFile], limits: BatchLimits) -> Vec<Vec<Op>> {
    let max_files = limits.max_files.max(1);
    let path_of = |op: &Op| -> String {
        match op {
            Op::Add { index, .. } => local[*index].repo_path.clone(),
            Op::Delete { path } => path.clone(),
        }
    };
    let inline_bytes = |op: &Op| -> u64 {
        match op {
            Op::Add {
                index,
                mode: Mode::Regular,
            } => local[*index].size,
            _ => 0,
        }
    };
    // Group by unit, keeping units and operations in path order.
    let mut units: BTreeMap<String, Vec<(String, Op)>> = BTreeMap::new();
    for op in ops {
        let p = path_of(op);
        units
            .entry(unit_of(&p).to_string())
            .or_default()
            .push((p, op.clone()));
    }
    let mut out: Vec<Vec<Op>> = Vec::new();
    let mut cur: Vec<Op> = Vec::new();
    let mut cur_bytes = 0u64;
    for (_, mut items) in units {
        items.sort_by(|a, b| a.0.cmp(&b.0));
        let unit_n = items.len();
        let unit_b: u64 = items.iter().map(|(_, o)| inline_bytes(o)).sum();
        let fits = cur.len() + unit_n <= max_files && cur_bytes + unit_b <= limits.max_inline_bytes;
        if !fits && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
            cur_bytes = 0;
        }
        cur_bytes += unit_b;
        cur.extend(items.into_iter().map(|(_, op)| op));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn lf(path: &str, size: u64, sha: &str, git: &str) -> LocalFile {
        LocalFile {
            repo_path: path.into(),
            local: PathBuf::from(path),
            size,
            sha256: sha.into(),
            git_oid: git.into(),
            sample: Vec::new(),
        }
    }

    fn rf(path: &str, git: &str, lfs: Option<&str>) -> (String, RemoteFile) {
        (
            path.to_string(),
            RemoteFile {
                path: path.into(),
                git_oid: git.into(),
                size: 1,
                lfs_sha256: lfs.map(str::to_string),
            },
        )
    }

    #[test]
    fn diff_compares_the_right_hash_and_limits_deletions() {
        let local = vec![
            lf("build/a/x.so", 10, "s1", "g1"),
            lf("build/a/y.py", 10, "s2", "g2"),
            lf("build/a/z.py", 10, "s3", "g3"),
            lf("benchmarks/b.py", 1, "s4", "g4"),
        ];
        let remote: BTreeMap<_, _> = [
            rf("build/a/x.so", "pointer", Some("S1")), // LFS: sha256 compared, case-insensitive
            rf("build/a/y.py", "g2", None),            // regular: git oid compared
            rf("build/a/z.py", "other", None),         // changed
            rf("build/a/old.py", "g", None),           // stale, owned
            rf("build/ab/keep.py", "g", None), // prefix `build/a/` must not match `build/ab/`
            rf("build/other/k.py", "g", None), // not owned
            rf("benchmarks/old.py", "g", None), // stale, owned
            rf("docs/readme.md", "g", None),   // not owned
        ]
        .into_iter()
        .collect();
        let d = diff(
            &local,
            &remote,
            &["build/a/".to_string(), "benchmarks/".to_string()],
        );
        assert_eq!(d.unchanged, [0, 1]);
        assert_eq!(d.changed, [2, 3]);
        assert_eq!(d.stale, ["benchmarks/old.py", "build/a/old.py"]);
        assert!(d.unsafe_remote.is_empty());
    }

    /// A remote path that textually starts with an owned prefix but leaves it through `..`
    /// (or any other non-plain component) is never stale: it is reported as unsafe.
    #[test]
    fn paths_are_compared_by_component() {
        let local = vec![lf("build/a/x.py", 1, "s", "g")];
        let remote: BTreeMap<_, _> = [
            rf("build/a/../../README.md", "g", None),
            rf("build/a/./y.py", "g", None),
            rf("build/a//y.py", "g", None),
            rf("build/a/y\\..\\z", "g", None),
            rf("build/a/sub/old.py", "g", None),
            rf("build/a", "g", None),
        ]
        .into_iter()
        .collect();
        let d = diff(&local, &remote, &["build/a/".to_string()]);
        assert_eq!(d.stale, ["build/a/sub/old.py"]);
        let bad: Vec<&str> = d.unsafe_remote.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            bad,
            [
                "build/a/../../README.md",
                "build/a/./y.py",
                "build/a//y.py",
                "build/a/y\\..\\z"
            ]
        );
        assert!(
            d.unsafe_remote[0].1.contains("`..`"),
            "{:?}",
            d.unsafe_remote
        );
        for ok in ["a", "build/v/x.py", "build/v/.hidden", "build/v/...x"] {
            components(ok).unwrap();
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "./a",
            "a/..",
            "a\\b",
            "a/\u{1b}[31m",
        ] {
            assert!(components(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn batches_keep_units_together() {
        let local: Vec<LocalFile> = [
            "build/a/1",
            "build/a/2",
            "build/b/1",
            "build/b/2",
            "build/b/3",
        ]
        .iter()
        .map(|p| lf(p, 5, "s", "g"))
        .collect();
        let ops: Vec<Op> = (0..local.len())
            .map(|index| Op::Add {
                index,
                mode: Mode::Regular,
            })
            .chain([Op::Delete {
                path: "build/a/0".into(),
            }])
            .collect();
        let b = batches(
            &ops,
            &local,
            BatchLimits {
                max_files: 3,
                max_inline_bytes: 1 << 20,
            },
        );
        // Unit a (3 ops) fills one commit; unit b (3 ops) the next.
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].len(), 3);
        assert!(b[0].contains(&Op::Delete {
            path: "build/a/0".into()
        }));
        assert_eq!(b[1].len(), 3);
        // A unit larger than the limits is never split: it gets a commit of its own.
        let b = batches(
            &ops,
            &local,
            BatchLimits {
                max_files: 2,
                max_inline_bytes: 1 << 20,
            },
        );
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3]);
        // Byte limit (each file is 5 bytes): units are not packed together beyond it,
        // and are not cut either.
        let b = batches(
            &ops,
            &local,
            BatchLimits {
                max_files: 100,
                max_inline_bytes: 10,
            },
        );
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3]);
        for batch in &b {
            let units: BTreeSet<&str> = batch
                .iter()
                .map(|o| match o {
                    Op::Add { index, .. } => unit_of(&local[*index].repo_path),
                    Op::Delete { path } => unit_of(path),
                })
                .collect();
            assert_eq!(units.len(), 1, "one variant per commit here");
        }
        // Small units share a commit.
        let b = batches(
            &ops,
            &local,
            BatchLimits {
                max_files: 100,
                max_inline_bytes: 1 << 20,
            },
        );
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn units() {
        assert_eq!(unit_of("build/v/x/y.py"), "build/v");
        assert_eq!(unit_of("benchmarks/x/y.py"), "benchmarks");
        assert_eq!(unit_of("README.md"), "README.md");
        assert_eq!(unit_of("build/loose"), "build/loose");
    }
}
