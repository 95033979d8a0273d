//! Publishing builds to the Hugging Face Hub (`upload`, and the upload half of `build-and-upload`).
//!
//! The upload compares every local file with the remote tree (git blob ids for regular files,
//! SHA-256 for LFS files) and only sends what changed, so running it twice sends nothing the
//! second time. Stale files are deleted only under `build/<variant>/` of the variants being
//! uploaded and under `benchmarks/`. Changes are committed in atomic batches that keep each variant
//! in one commit where possible; each commit names its parent, so a concurrent change on the
//! branch makes it fail instead of silently mixing trees.
//!
//! HTTP is done with `ureq` (rustls, no OpenSSL): the `hf-hub` crate pulls a second HTTP stack
//! (reqwest + tokio + hf-xet, ~280 crates, ~2 min extra compile on two cores) and has no
//! plain-LFS upload path, no hash comparison and no parent-commit retry check, which this needs.

pub mod api;
pub mod http;
pub mod local;
pub mod sync;
pub mod tls;
pub mod token;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kb_core::{bail, err, KernelProject, Report, Result};
use serde::Serialize;
use serde_json::Value;

use api::{CommitResult, Hub, LfsAction};
use http::{Http, Tuning};
use local::{LocalBuild, LocalFile};
use sync::{BatchLimits, Mode, Op};
use token::{Secret, TokenSource};

pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Where progress lines go (the CLI's reporter; nowhere in tests). Every line goes through
/// [`token::redact`] first.
#[derive(Clone, Copy)]
pub struct Progress<'p> {
    sink: Option<&'p dyn kb_core::progress::Progress>,
    token: Option<&'p Secret>,
}

impl std::fmt::Debug for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl<'p> Progress<'p> {
    pub fn new(sink: &'p dyn kb_core::progress::Progress, token: Option<&'p Secret>) -> Self {
        Progress {
            sink: Some(sink),
            token,
        }
    }

    pub fn silent() -> Self {
        Progress {
            sink: None,
            token: None,
        }
    }

    pub fn line(&self, s: &str) {
        if let Some(p) = self.sink {
            let s = token::redact(s, self.token);
            if let Some(w) = s.strip_prefix("warning: ") {
                p.warn(&format!("warning: {w}"));
            } else {
                p.note(&s);
            }
        }
    }
}

/// Repository type on the Hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RepoType {
    Model,
    #[default]
    Kernel,
}

/// Where and how to publish (the `upload` flags).
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// Repository ID (`user/my-kernel`); default: `[general.hub] repo-id`.
    pub repo_id: Option<String>,
    /// Branch; default: `[general.hub] branch`, else `v{version}`.
    pub branch: Option<String>,
    pub private: bool,
    pub repo_type: RepoType,
    pub create_pr: bool,
    pub allow_dirty: bool,
    pub allow_noncompliant: bool,
    /// Runs the compliance checks on a variant whose `build-info` cannot be
    /// trusted (see [`ComplianceCheck`]); `None`: such variants are refused.
    pub compliance_check: Option<ComplianceCheck>,
}

/// The compliance checks of a variant directory (ABI for manylinux_2_28 +
/// abi3, layout, loader): why it is not Hub-compliant, empty when it is. The
/// CLI passes `kb_checks::compliance::problems`; this crate only decides.
pub type ComplianceCheck = fn(&Path) -> Vec<String>;

/// Where to publish and with which credentials (from the environment in production).
#[derive(Debug, Clone)]
pub struct HubEnv {
    /// `HF_ENDPOINT` without a trailing slash.
    pub endpoint: String,
    pub token: Option<(Secret, TokenSource)>,
    pub tuning: Tuning,
}

impl HubEnv {
    pub fn from_env() -> Result<HubEnv> {
        Self::from_vars(&|k| std::env::var(k).ok())
    }

    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<HubEnv> {
        let endpoint = var("HF_ENDPOINT")
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string())
            .trim_end_matches('/')
            .to_string();
        Ok(HubEnv {
            endpoint,
            token: token::discover(var),
            tuning: Tuning::from_env(var)?,
        })
    }
}

/// One commit made by an upload.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub struct CommitSummary {
    pub branch: String,
    /// 1-based batch number and the number of batches on this branch.
    pub batch: usize,
    pub batches: usize,
    pub oid: Option<String>,
    pub url: Option<String>,
    pub files_added: usize,
    pub files_deleted: usize,
    /// True when the commit was found on the branch after its answer was lost.
    pub recovered: bool,
}

/// What an upload did (`--json` prints it).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct UploadSummary {
    pub repo_id: String,
    pub repo_type: String,
    pub url: String,
    pub branch: String,
    pub version: Option<u64>,
    pub created_repository: bool,
    pub created_branch: bool,
    pub variants: Vec<String>,
    pub files_uploaded: usize,
    pub files_unchanged: usize,
    pub files_deleted: usize,
    /// File content bytes sent (inline files and large-file uploads).
    pub bytes_sent: u64,
    pub lfs_objects_uploaded: usize,
    pub lfs_objects_already_stored: usize,
    pub commits: Vec<CommitSummary>,
    pub pull_requests: Vec<String>,
    /// `build/<variant>` directories on the branch that this upload left alone.
    pub untouched_remote_variants: Vec<String>,
    pub warnings: Vec<String>,
}

/// Upload the builds found in `kernel_dir` (its `result/`, `build/`, or itself) as configured by
/// `args`, reading `HF_ENDPOINT`, the token and the `KERNEL_BUILDER_HUB_*` tunables from the
/// environment. Progress goes to `progress`; the token never appears in an error.
pub fn upload(
    args: &UploadOptions,
    kernel_dir: &Path,
    progress: &dyn kb_core::progress::Progress,
) -> Result<UploadSummary> {
    let env = HubEnv::from_env()?;
    upload_with(args, kernel_dir, &env, progress)
}

/// [`upload`] with an explicit environment.
pub fn upload_with(
    args: &UploadOptions,
    kernel_dir: &Path,
    env: &HubEnv,
    progress: &dyn kb_core::progress::Progress,
) -> Result<UploadSummary> {
    let tok = env.token.as_ref().map(|t| &t.0);
    let redact = |s: &mut String| *s = token::redact(s, tok);
    match run(args, kernel_dir, env, Progress::new(progress, tok)) {
        Ok(mut summary) => {
            // URLs and messages the server sent back are printed too.
            redact(&mut summary.url);
            for c in &mut summary.commits {
                c.url.iter_mut().for_each(redact);
                c.oid.iter_mut().for_each(redact);
            }
            summary.pull_requests.iter_mut().for_each(redact);
            summary.warnings.iter_mut().for_each(redact);
            Ok(summary)
        }
        Err(e) => Err(kb_core::Error::Message(token::redact(&e.to_string(), tok))),
    }
}

/// The text: one line with the URL (or the pull requests).
impl Report for UploadSummary {
    fn text(&self) -> String {
        let tree = format!("{}/tree/{}", self.url, self.branch);
        if !self.pull_requests.is_empty() {
            self.pull_requests
                .iter()
                .map(|pr| format!("Pull request: {pr}\n"))
                .collect()
        } else if self.commits.is_empty() {
            format!("Already up to date: {tree}\n")
        } else {
            format!("Kernel uploaded: {tree}\n")
        }
    }
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64;
    let mut unit = "B";
    for u in UNITS {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// Git ref names the Hub accepts as branch names (one rule, in kb-core, so
/// that check-config refuses what upload would).
pub use kb_core::config::check_branch;

/// `[general.hub]` values from `build.toml`, when there is one.
struct HubConfig {
    repo_id: Option<String>,
    branch: Option<String>,
    version: Option<u64>,
}

fn read_config(kernel_dir: &Path, needed: bool, progress: Progress) -> Result<Option<HubConfig>> {
    let path = kernel_dir.join("build.toml");
    if !path.is_file() {
        return Ok(None);
    }
    match KernelProject::load(Some(kernel_dir)) {
        Ok(p) => {
            for w in &p.warnings {
                progress.line(&w.to_string());
            }
            Ok(Some(HubConfig {
                repo_id: p.config.general.hub.repo_id.clone(),
                branch: p.config.general.hub.branch.clone(),
                version: Some(p.config.general.version),
            }))
        }
        Err(f) if needed => bail!(
            "{}: cannot read `[general.hub]`:\n{}\n(fix build.toml, or pass --repo-id and --branch)",
            path.display(),
            f.to_string().trim_start_matches("error: ")
        ),
        Err(_) => Ok(None),
    }
}

fn run(
    args: &UploadOptions,
    kernel_dir: &Path,
    env: &HubEnv,
    progress: Progress,
) -> Result<UploadSummary> {
    let build = local::discover(kernel_dir)?;
    let names: Vec<String> = build.variants.iter().map(|v| v.name.clone()).collect();
    progress.line(&format!(
        "Found {} build variant{} in {}: {}",
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        build.build_dir.display(),
        names.join(", ")
    ));
    let mut warnings = Vec::new();

    // Policy checks before anything is read in full or sent.
    check_policy(&build, args, progress, &mut warnings)?;

    // Version, repository and branch.
    let version = agreed_version(&build)?;
    let cfg = read_config(
        kernel_dir,
        args.repo_id.is_none() || args.branch.is_none(),
        progress,
    )?;
    let repo_id = match (&args.repo_id, cfg.as_ref().and_then(|c| c.repo_id.clone())) {
        (Some(r), _) => r.clone(),
        (None, Some(r)) => r,
        (None, None) => bail!(
            "no repository to upload to: pass --repo-id <owner/name>, or set `repo-id` under \
             `[general.hub]` in {}",
            kernel_dir.join("build.toml").display()
        ),
    };
    kb_core::config::model::check_repo_id(&repo_id).map_err(|e| err!("--repo-id: {e}"))?;
    let explicit_branch = args
        .branch
        .clone()
        .or_else(|| cfg.as_ref().and_then(|c| c.branch.clone()));
    let branch = match (&explicit_branch, version) {
        (Some(b), _) => b.clone(),
        (None, Some(v)) => format!("v{v}"),
        (None, None) => {
            let missing: Vec<&str> = build
                .variants
                .iter()
                .filter(|v| v.meta.version.is_none())
                .map(|v| v.name.as_str())
                .collect();
            bail!(
                "cannot choose a branch: metadata.json has no `version` in {}; rebuild with \
                 `[general] version` set, or pass --branch",
                missing.join(", ")
            )
        }
    };
    check_branch(&branch).map_err(|e| err!("branch: {e}"))?;
    if let (Some(v), Some(n)) = (
        version,
        branch.strip_prefix('v').and_then(|n| n.parse::<u64>().ok()),
    ) {
        if v != n {
            bail!(
                "the builds are version {v} (metadata.json) but the branch is `{branch}`; \
                 versions live on `v<version>` branches: drop --branch / `[general.hub] branch`, \
                 or rebuild with `[general] version = {n}`"
            );
        }
    }
    if let (Some(v), Some(cv)) = (version, cfg.as_ref().and_then(|c| c.version)) {
        if v != cv {
            let msg = format!(
                "the builds are version {v} but build.toml says version {cv}: the builds are stale"
            );
            if explicit_branch.is_none() {
                bail!("{msg}; rebuild, or pass --branch to upload these builds anyway");
            }
            progress.line(&format!("warning: {msg}"));
            warnings.push(msg);
        }
    }

    let (token, source) = env.token.clone().ok_or_else(|| {
        err!(
            "no Hugging Face token: set HF_TOKEN to a token with write access, or run `hf auth login` \
             (token file under $HF_HOME, default ~/.cache/huggingface/token)"
        )
    })?;

    // Hash everything once.
    let mut files = Vec::new();
    for v in &build.variants {
        for (rel, path) in local::walk(&v.dir, kb_core::walk::Rule::Variant)? {
            files.push(LocalFile::hash(format!("build/{}/{rel}", v.name), &path)?);
        }
    }
    if let Some(b) = &build.benchmarks {
        for (rel, path) in local::walk(b, kb_core::walk::Rule::Publish)? {
            files.push(LocalFile::hash(format!("benchmarks/{rel}"), &path)?);
        }
    }
    files.sort_by(|a, b| a.repo_path.cmp(&b.repo_path));
    let mut digest_errors = Vec::new();
    for v in &build.variants {
        let (errs, warns) = local::verify_digest(v, &files);
        digest_errors.extend(errs);
        for w in warns {
            progress.line(&format!("warning: {w}"));
            warnings.push(w);
        }
        for n in &v.meta.notes {
            warnings.push(format!("{}: {n}", v.name));
        }
    }
    if !digest_errors.is_empty() {
        bail!(
            "the files do not match the digests recorded at build time:\n  {}\n\
             rebuild, or run `kernel-builder hash` if the change is intended",
            digest_errors.join("\n  ")
        );
    }
    let mut card = match &build.card {
        Some(p) => Some(LocalFile::hash("README.md".into(), p)?),
        None => None,
    };
    if branch == "main" {
        // Builds and card on the same branch: one set of commits.
        files.extend(card.take());
    }

    let total: u64 = files.iter().map(|f| f.size).sum();
    progress.line(&format!(
        "{} files ({}) to publish as {repo_id}@{branch} (token from {source})",
        files.len(),
        human(total)
    ));

    let http = Http::new(&env.endpoint, Some(token), env.tuning.clone(), progress)?;
    let hub = Hub {
        http,
        endpoint: env.endpoint.clone(),
        repo_type: args.repo_type,
        repo: repo_id.clone(),
    };

    // Repository.
    let created_repository = if hub.repo_exists()? {
        if args.private {
            let w = "the repository already exists; --private does not change its visibility"
                .to_string();
            progress.line(&format!("warning: {w}"));
            warnings.push(w);
        }
        false
    } else {
        let created = hub.create_repo(args.private)?;
        progress.line(&format!(
            "Created {} {} repository {}",
            if args.private { "private" } else { "public" },
            api::singular(args.repo_type),
            hub.web_url()
        ));
        created
    };

    // Branch.
    let mut branches = hub.branches()?;
    let created_branch = if branches.contains_key(&branch) {
        false
    } else {
        let from = branches.get("main").cloned();
        hub.create_branch(&branch, from.as_deref())?;
        progress.line(&format!("Created branch `{branch}` from `main`"));
        branches = hub.branches()?;
        true
    };
    let head = branches.get(&branch).cloned();

    let limits = BatchLimits {
        max_files: hub.http.tuning.batch_files,
        max_inline_bytes: hub.http.tuning.batch_inline_bytes,
    };
    let mut owned: Vec<String> = build
        .variants
        .iter()
        .map(|v| format!("build/{}/", v.name))
        .collect();
    if build.benchmarks.is_some() {
        owned.push("benchmarks/".into());
    }
    let mut tally = Tally::default();
    let remote = publish(
        &hub, progress, &branch, head, &files, &owned, true, args, limits, &build, &mut tally,
    )?;

    let uploaded: BTreeSet<&str> = build.variants.iter().map(|v| v.name.as_str()).collect();
    let untouched: Vec<String> = remote
        .keys()
        .filter_map(|p| p.strip_prefix("build/"))
        .filter_map(|rest| rest.split_once('/').map(|(v, _)| v))
        .filter(|v| !uploaded.contains(v))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|v| format!("build/{v}"))
        .collect();
    if !untouched.is_empty() {
        let w = format!(
            "left alone on `{branch}` (not part of this upload): {}; delete them if this version no \
             longer supports them",
            untouched.join(", ")
        );
        progress.line(&format!("note: {w}"));
    }

    // The card goes to `main` as README.md.
    if let Some(card) = card {
        let main_head = branches.get("main").cloned();
        publish(
            &hub,
            progress,
            "main",
            main_head,
            &[card],
            &[],
            false,
            args,
            limits,
            &build,
            &mut tally,
        )?;
    }

    let n_commits = tally.commits.len();
    progress.line(&format!(
        "Done: {} sent in {n_commits} commit{}; {} uploaded, {} unchanged, {} deleted",
        human(tally.bytes),
        if n_commits == 1 { "" } else { "s" },
        tally.uploaded,
        tally.unchanged,
        tally.deleted
    ));
    Ok(UploadSummary {
        repo_id,
        repo_type: api::singular(args.repo_type).into(),
        url: hub.web_url(),
        branch,
        version,
        created_repository,
        created_branch,
        variants: names,
        files_uploaded: tally.uploaded,
        files_unchanged: tally.unchanged,
        files_deleted: tally.deleted,
        bytes_sent: tally.bytes,
        lfs_objects_uploaded: tally.lfs_uploaded,
        lfs_objects_already_stored: tally.lfs_present,
        commits: tally.commits,
        pull_requests: tally.prs,
        untouched_remote_variants: untouched,
        warnings,
    })
}

/// The one compliance decision of an upload: why variant `v` may not be
/// published without `--allow-noncompliant` (empty: it may). A verdict in
/// `build-info` of a kind kernel-builder knows is taken as recorded (the
/// digests tie it to the files); any other variant is checked now (ABI,
/// layout, loader), and its toolchain stays unverified.
fn compliance_problems(
    v: &local::Variant,
    check: Option<ComplianceCheck>,
    progress: Progress,
    warnings: &mut Vec<String>,
) -> Vec<String> {
    match &v.meta.compliance {
        local::Claim::Compliant => Vec::new(),
        local::Claim::NotCompliant(reasons) => reasons.clone(),
        local::Claim::Unverified(why) => {
            let Some(check) = check else {
                return vec![format!(
                    "{why}, and this upload has no compliance check to run"
                )];
            };
            progress.line(&format!(
                "{}: {why}; running the compliance checks (ABI, layout, loader)",
                v.name
            ));
            let problems = check(&v.dir);
            if problems.is_empty() {
                let w = format!(
                    "{}: passed the compliance checks at upload; its toolchain is not recorded",
                    v.name
                );
                progress.line(&format!("note: {w}"));
                warnings.push(w);
            }
            problems
        }
    }
}

/// Refuse dirty and non-compliant builds unless allowed.
fn check_policy(
    build: &LocalBuild,
    args: &UploadOptions,
    progress: Progress,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let mut problems = Vec::new();
    if !args.allow_dirty {
        let dirty: Vec<String> = build
            .variants
            .iter()
            .filter(|v| !v.meta.dirty.is_empty())
            .map(|v| format!("{}: {}", v.name, v.meta.dirty.join("; ")))
            .collect();
        if !dirty.is_empty() {
            problems.push(format!(
                "built from uncommitted sources, so the build cannot be reproduced:\n  {}\n\
                 commit the changes and rebuild, or pass --allow-dirty",
                dirty.join("\n  ")
            ));
        }
    }
    if !args.allow_noncompliant {
        let bad: Vec<String> = build
            .variants
            .iter()
            .filter_map(|v| {
                let p = compliance_problems(v, args.compliance_check, progress, warnings);
                (!p.is_empty()).then(|| format!("{}: {}", v.name, p.join("; ")))
            })
            .collect();
        if !bad.is_empty() {
            problems.push(format!(
                "not Hub-compliant:\n  {}\n\
                 fix the findings (`kernel-builder check-abi`, `check-builds`, `verify`) and rebuild, \
                 or pass --allow-noncompliant",
                bad.join("\n  ")
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        bail!(
            "refusing to upload builds that are {}",
            problems.join("\nand ")
        )
    }
}

/// The version all variants agree on (`None` when none records one). Disagreement is an error.
fn agreed_version(build: &LocalBuild) -> Result<Option<u64>> {
    let mut by_version: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for v in &build.variants {
        if let Some(n) = v.meta.version {
            by_version.entry(n).or_default().push(&v.name);
        }
    }
    match by_version.len() {
        0 => Ok(None),
        1 => Ok(by_version.keys().next().copied()),
        _ => {
            let lines: Vec<String> = by_version
                .iter()
                .map(|(n, vs)| format!("version {n}: {}", vs.join(", ")))
                .collect();
            bail!(
                "the build variants disagree on the kernel version (metadata.json `version`):\n  {}\n\
                 remove the stale variants from {} or rebuild them all",
                lines.join("\n  "),
                build.build_dir.display()
            )
        }
    }
}

#[derive(Default)]
struct Tally {
    uploaded: usize,
    unchanged: usize,
    deleted: usize,
    bytes: u64,
    lfs_uploaded: usize,
    lfs_present: usize,
    commits: Vec<CommitSummary>,
    prs: Vec<String>,
}

/// Bring `rev` in line with `files`: send what changed, delete stale files under `owned`.
/// Returns the remote tree as it was before the upload.
#[allow(clippy::too_many_arguments)]
fn publish(
    hub: &Hub,
    progress: Progress,
    rev: &str,
    head: Option<String>,
    files: &[LocalFile],
    owned: &[String],
    recursive: bool,
    args: &UploadOptions,
    limits: BatchLimits,
    build: &LocalBuild,
    tally: &mut Tally,
) -> Result<BTreeMap<String, sync::RemoteFile>> {
    for f in files {
        sync::components(&f.repo_path)
            .map_err(|why| err!("`{}` {why}; it cannot be a path on the Hub", f.repo_path))?;
    }
    let remote = hub.tree(rev, recursive)?;
    let d = sync::diff(files, &remote, owned);
    if !d.unsafe_remote.is_empty() {
        let list: Vec<String> = d
            .unsafe_remote
            .iter()
            .map(|(p, why)| format!("`{}` {why}", p.escape_debug()))
            .collect();
        bail!(
            "the Hub lists paths on `{rev}` that are not plain repository paths:\n  {}\n\
             refusing to upload or delete anything there (nothing was changed); \
             check HF_ENDPOINT, or remove those files on the Hub",
            list.join("\n  ")
        );
    }
    let mut unchanged = d.unchanged.len();
    let mut ops: Vec<Op> = Vec::new();
    if !d.changed.is_empty() {
        let changed: Vec<&LocalFile> = d.changed.iter().map(|&i| &files[i]).collect();
        let modes = hub.preupload(rev, &changed, args.create_pr)?;
        for &i in &d.changed {
            let f = &files[i];
            let p = &modes[&f.repo_path];
            if p.should_ignore {
                progress.line(&format!(
                    "warning: the repository's .gitignore ignores `{}`; not uploaded",
                    f.repo_path
                ));
                continue;
            }
            let same = p.remote_oid.as_deref().is_some_and(|o| {
                o.eq_ignore_ascii_case(if p.lfs { &f.sha256 } else { &f.git_oid })
            });
            if same {
                unchanged += 1;
                continue;
            }
            ops.push(Op::Add {
                index: i,
                mode: if p.lfs { Mode::Lfs } else { Mode::Regular },
            });
        }
    }
    ops.extend(d.stale.iter().map(|p| Op::Delete { path: p.clone() }));
    tally.unchanged += unchanged;
    let n_add = ops.iter().filter(|o| matches!(o, Op::Add { .. })).count();
    let n_del = ops.len() - n_add;
    if ops.is_empty() {
        progress.line(&format!(
            "`{rev}`: up to date ({unchanged} file{} unchanged)",
            if unchanged == 1 { "" } else { "s" }
        ));
        return Ok(remote);
    }
    let add_bytes: u64 = ops
        .iter()
        .map(|o| match o {
            Op::Add { index, .. } => files[*index].size,
            _ => 0,
        })
        .sum();
    progress.line(&format!(
        "`{rev}`: {unchanged} unchanged, {n_add} to upload ({}), {n_del} to delete",
        human(add_bytes)
    ));

    let batches = sync::batches(&ops, files, limits);
    let n = batches.len();
    // Large files first, all of them: a commit only references objects already stored,
    // so a failed transfer leaves the branch untouched.
    upload_large_files(hub, progress, rev, &ops, files, tally).map_err(|e| {
        err!(
            "{e}\nNo commit was made, so `{rev}` is unchanged; run the same command again \
             (large files already stored are not sent again)"
        )
    })?;
    let mut parent = head;
    let mut target = rev.to_string();
    let mut create_pr = args.create_pr;
    let mut landed: Vec<String> = Vec::new();
    for (k, batch) in batches.iter().enumerate() {
        let res = commit_batch(
            hub,
            rev,
            &target,
            parent.as_deref(),
            batch,
            files,
            k,
            n,
            create_pr,
            build,
            tally,
        );
        let (result, recovered) = match res {
            Ok(r) => r,
            Err(e) => {
                let units = |b: &Vec<Op>| units_of(b, files);
                let rest: Vec<String> = batches[k..]
                    .iter()
                    .flat_map(units)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let landed_msg = if landed.is_empty() {
                    "No commit landed".to_string()
                } else {
                    format!("Landed before the failure: {}", landed.join("; "))
                };
                bail!(
                    "{e:#}\n{landed_msg}. Not applied: commit{} {} of {n} ({}). Each variant travels \
                     in one atomic commit, so every variant on `{target}` is either entirely old or \
                     entirely new; run the same command again to upload the rest \
                     (files already on the Hub are skipped)",
                    if n - k == 1 { "" } else { "s" },
                    if n - k == 1 { format!("{}", k + 1) } else { format!("{}-{n}", k + 1) },
                    rest.join(", ")
                );
            }
        };
        let adds = batch.iter().filter(|o| matches!(o, Op::Add { .. })).count();
        tally.uploaded += adds;
        tally.deleted += batch.len() - adds;
        let short = result
            .oid
            .as_deref()
            .map(|o| &o[..o.len().min(10)])
            .unwrap_or("?")
            .to_string();
        landed.push(format!(
            "commit {}/{n} {short} ({})",
            k + 1,
            units_of(batch, files).join(", ")
        ));
        progress.line(&format!(
            "  commit {}/{n} on `{target}`: +{adds} -{} {}({short})",
            k + 1,
            batch.len() - adds,
            if recovered {
                "recovered after a lost answer "
            } else {
                ""
            }
        ));
        tally.commits.push(CommitSummary {
            branch: target.clone(),
            batch: k + 1,
            batches: n,
            oid: result.oid.clone(),
            url: result.url.clone(),
            files_added: adds,
            files_deleted: batch.len() - adds,
            recovered,
        });
        if create_pr {
            let pr = result.pr_url.clone().ok_or_else(|| {
                err!("commit to `{rev}`: the Hub did not return the pull request it opened")
            })?;
            if n > 1 {
                target = api::pr_ref(&pr).ok_or_else(|| {
                    err!("cannot tell the pull request's git ref from its URL {pr}")
                })?;
            }
            progress.line(&format!("  opened pull request {pr}"));
            tally.prs.push(pr);
            create_pr = false;
        }
        parent = result.oid.clone();
    }
    Ok(remote)
}

fn units_of(batch: &[Op], files: &[LocalFile]) -> Vec<String> {
    batch
        .iter()
        .map(|o| match o {
            Op::Add { index, .. } => sync::unit_of(&files[*index].repo_path).to_string(),
            Op::Delete { path } => sync::unit_of(path).to_string(),
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Store the large files of `ops` (one storage object per distinct content) before any
/// commit refers to them.
fn upload_large_files(
    hub: &Hub,
    progress: Progress,
    branch: &str,
    ops: &[Op],
    files: &[LocalFile],
    tally: &mut Tally,
) -> Result<()> {
    let mut objects: BTreeMap<String, usize> = BTreeMap::new();
    for op in ops {
        if let Op::Add {
            index,
            mode: Mode::Lfs,
        } = op
        {
            objects
                .entry(files[*index].sha256.clone())
                .or_insert(*index);
        }
    }
    if !objects.is_empty() {
        let list: Vec<(String, u64)> = objects
            .iter()
            .map(|(o, &i)| (o.clone(), files[i].size))
            .collect();
        let actions = hub.lfs_batch(branch, &list)?;
        for (oid, &i) in &objects {
            let f = &files[i];
            let action = actions.get(oid).ok_or_else(|| {
                err!(
                    "the Hub's large-file answer does not mention `{}` ({oid})",
                    f.repo_path
                )
            })?;
            if matches!(action, LfsAction::Present) {
                tally.lfs_present += 1;
                continue;
            }
            progress.line(&format!("  uploading {} ({})", f.repo_path, human(f.size)));
            tally.bytes += hub.lfs_upload(f, action)?;
            tally.lfs_uploaded += 1;
        }
    }
    Ok(())
}

/// Create the commit of one batch (its large files are already stored). Returns the commit
/// and whether it was recovered (the Hub applied it but its answer was lost, and a retry was
/// then refused).
#[allow(clippy::too_many_arguments)]
fn commit_batch(
    hub: &Hub,
    branch: &str,
    target: &str,
    parent: Option<&str>,
    batch: &[Op],
    files: &[LocalFile],
    k: usize,
    n: usize,
    create_pr: bool,
    build: &LocalBuild,
    tally: &mut Tally,
) -> Result<(CommitResult, bool)> {
    let mut lines: Vec<Value> = Vec::with_capacity(batch.len());
    let mut inline_bytes = 0u64;
    for op in batch {
        lines.push(match op {
            Op::Add {
                index,
                mode: Mode::Regular,
            } => {
                inline_bytes += files[*index].size;
                api::inline_line(&files[*index])?
            }
            Op::Add {
                index,
                mode: Mode::Lfs,
            } => api::lfs_line(&files[*index]),
            Op::Delete { path } => api::delete_line(path),
        });
    }
    let summary = if n > 1 {
        format!(
            "Upload kernel builds with kernel-builder (batch {}/{n})",
            k + 1
        )
    } else {
        "Upload kernel builds with kernel-builder".to_string()
    };
    let mut description = format!(
        "kernel-builder {}\n\nVariants:\n",
        env!("CARGO_PKG_VERSION")
    );
    for u in units_of(batch, files) {
        description.push_str(&format!("- {u}\n"));
    }
    let commits: BTreeSet<&str> = build
        .variants
        .iter()
        .filter_map(|v| v.meta.kernel_commit.as_deref())
        .collect();
    if !commits.is_empty() {
        description.push_str(&format!(
            "\nKernel source commit: {}\n",
            commits.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    let (result, resp) = hub.commit(target, &summary, &description, parent, &lines, create_pr)?;
    if resp.ok() {
        tally.bytes += inline_bytes;
        return Ok((result, false));
    }
    // A retry refused because the parent moved: the first attempt may have landed.
    if matches!(resp.status, 409 | 412) && resp.attempts > 1 && !create_pr && target == branch {
        if let Some(head) = landed(hub, branch, parent, batch, files)? {
            tally.bytes += inline_bytes;
            return Ok((
                CommitResult {
                    oid: Some(head),
                    ..CommitResult::default()
                },
                true,
            ));
        }
    }
    Err(err!(hub.http.status_error(
        &resp,
        &format!("commit {}/{n} to `{target}` of `{}`", k + 1, hub.repo)
    )))
}

/// If `branch` moved on from `parent` to a tree that holds exactly this batch's changes, the
/// batch landed: return the new head.
fn landed(
    hub: &Hub,
    branch: &str,
    parent: Option<&str>,
    batch: &[Op],
    files: &[LocalFile],
) -> Result<Option<String>> {
    let heads = hub.branches()?;
    let Some(head) = heads.get(branch) else {
        return Ok(None);
    };
    if Some(head.as_str()) == parent {
        return Ok(None);
    }
    let tree = hub.tree(branch, true)?;
    let ok = batch.iter().all(|op| match op {
        Op::Add { index, .. } => tree
            .get(&files[*index].repo_path)
            .is_some_and(|r| sync::same_content(&files[*index], r)),
        Op::Delete { path } => !tree.contains_key(path),
    });
    Ok(ok.then(|| head.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branch_names() {
        for ok in ["v1", "v12", "release/v1", "dev_x-1.2"] {
            check_branch(ok).unwrap();
        }
        for bad in [
            "",
            "a b",
            "-x",
            "x..y",
            "x.lock",
            "refs/heads/x",
            "x~1",
            "a:b",
            "x/",
        ] {
            assert!(check_branch(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(10), "10 B");
        assert_eq!(human(2048), "2.0 KiB");
        assert_eq!(human(3 << 20), "3.0 MiB");
    }

    #[test]
    fn env_defaults() {
        let e = HubEnv::from_vars(&|_| None).unwrap();
        assert_eq!(e.endpoint, DEFAULT_ENDPOINT);
        assert!(e.token.is_none());
        let e = HubEnv::from_vars(&|k| (k == "HF_ENDPOINT").then(|| "http://127.0.0.1:5/".into()))
            .unwrap();
        assert_eq!(e.endpoint, "http://127.0.0.1:5");
    }
}
