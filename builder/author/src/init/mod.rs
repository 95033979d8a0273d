//! `init`: scaffold a new kernel project.
//!
//! The whole scaffold is rendered in memory first (from the templates
//! embedded in the binary), then written all-or-nothing (see [`fileset`]),
//! then staged in Git: in a new repository, or in the repository that
//! already contains the target directory.

pub mod fileset;
pub mod owner;
pub mod templates;

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use kb_core::config::{check_kernel_name, check_license, check_repo_id, Backend, PYTHON_KEYWORDS};
use kb_core::{bail, err, Context, Report, Result};
use serde::Serialize;
use templates::{When, SCAFFOLD_BACKENDS, TEMPLATES};

/// The flake that kernel flakes take `genKernelFlakeOutputs` from.
pub const FLAKE_URL: &str = "github:huggingface/kernel-builder";

/// A validated `OWNER/REPO`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoName {
    pub owner: String,
    /// The kernel name (`_` replaced by `-`).
    pub name: String,
}

impl RepoName {
    pub fn repo_id(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    pub fn python_name(&self) -> String {
        self.name.replace('-', "_")
    }

    /// `my-kernel` -> `MyKernel`.
    pub fn class_name(&self) -> String {
        self.name
            .split('-')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut c = p.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect()
    }
}

/// Validate the repository part of a name, after `_` -> `-`.
fn check_repo_part(repo: &str, origin: &str) -> Result<String> {
    let name = repo.replace('_', "-");
    check_kernel_name(&name).map_err(|e| err!("{origin}: {e}"))?;
    if name.len() > kb_core::config::MAX_KERNEL_NAME {
        bail!(
            "{origin}: `{name}` is longer than {} characters, too long for the ops name; choose a shorter name",
            kb_core::config::MAX_KERNEL_NAME
        );
    }
    let py = name.replace('-', "_");
    if PYTHON_KEYWORDS.contains(&py.as_str()) {
        bail!(
            "{origin}: `{py}` is a Python keyword, so the scaffold's `def {py}(...)` and `import {py}` would not parse; choose another name, e.g. `{name}-kernel`"
        );
    }
    Ok(name)
}

/// Parse and validate `--name OWNER/REPO`.
pub fn parse_name(s: &str) -> Result<RepoName> {
    let Some((owner, repo)) = s.split_once('/') else {
        bail!(
            "--name `{}`: expected OWNER/REPO, e.g. `--name my-org/{}`",
            s.escape_debug(),
            s.replace('_', "-").escape_debug()
        );
    };
    let name = check_repo_part(repo, &format!("--name `{}`", s.escape_debug()))?;
    let r = RepoName {
        owner: owner.to_string(),
        name,
    };
    check_repo_id(&r.repo_id()).map_err(|e| err!("--name: {e}"))?;
    Ok(r)
}

/// Parse `--backends` values (`all` or backend names; repeated or
/// comma-separated). Empty means the platform default: Metal on macOS, CUDA
/// elsewhere.
pub fn parse_backends(values: &[String]) -> Result<Vec<Backend>> {
    let mut chosen = Vec::new();
    for v in values {
        let v = v.trim();
        if v.eq_ignore_ascii_case("all") {
            chosen.extend(SCAFFOLD_BACKENDS);
            continue;
        }
        match v.parse::<Backend>() {
            Ok(b) if SCAFFOLD_BACKENDS.contains(&b) => chosen.push(b),
            _ => {
                let names: Vec<&str> = SCAFFOLD_BACKENDS.iter().map(|b| b.as_str()).collect();
                bail!(
                    "--backends: `{}` is not a backend init can scaffold; choose from all, {}\n  help: if `{}` is the directory to initialize, put it before --backends",
                    v.escape_debug(),
                    names.join(", "),
                    v.escape_debug()
                );
            }
        }
    }
    if chosen.is_empty() {
        chosen.push(if cfg!(target_os = "macos") {
            Backend::Metal
        } else {
            Backend::Cuda
        });
    }
    chosen.sort();
    chosen.dedup();
    Ok(chosen)
}

#[derive(Debug, Serialize)]
struct TemplateContext {
    name: String,
    py: String,
    class_name: String,
    owner: String,
    repo_id: String,
    license: String,
    backends: Vec<&'static str>,
    has_cpu: bool,
    has_cuda: bool,
    has_metal: bool,
    has_rocm: bool,
    has_xpu: bool,
    flake_url: &'static str,
}

/// Render the scaffold: relative path -> content.
pub fn render(
    repo: &RepoName,
    backends: &[Backend],
    license: &str,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let has = |b: Backend| backends.contains(&b);
    let ctx = TemplateContext {
        name: repo.name.clone(),
        py: repo.python_name(),
        class_name: repo.class_name(),
        owner: repo.owner.clone(),
        repo_id: repo.repo_id(),
        license: license.to_string(),
        backends: backends.iter().map(|b| b.as_str()).collect(),
        has_cpu: has(Backend::Cpu),
        has_cuda: has(Backend::Cuda),
        has_metal: has(Backend::Metal),
        has_rocm: has(Backend::Rocm),
        has_xpu: has(Backend::Xpu),
        flake_url: FLAKE_URL,
    };
    let env = crate::card::text_environment();
    let mut files = BTreeMap::new();
    for t in TEMPLATES {
        if let When::Backend(b) = t.when {
            if !has(b) {
                continue;
            }
        }
        let text = if t.rendered() {
            env.render_str(t.text, minijinja::value::Serde(&ctx))
                .with_context(|| format!("templates/init/{}: cannot render", t.source))?
        } else {
            t.text.to_string()
        };
        files.insert(t.destination(&ctx.py), text.into_bytes());
    }
    // The plan file the kernel's flake reads, so that Nix builds work
    // without a `kernel-builder plan --write` first.
    let toml = String::from_utf8(files["build.toml"].clone()).expect("UTF-8 template");
    let file = Path::new("build.toml");
    let (config, _) = kb_core::config::parse_str(&toml, file, Path::new("."), false)
        .map_err(|e| err!("the generated build.toml is invalid (a template bug):\n{e}"))?;
    let plan = kb_core::plan::plan(
        &config,
        kb_core::matrix::Matrix::get(),
        &kb_core::plan::Systems::All,
        file,
        toml.as_bytes(),
    )
    .map_err(|e| err!("cannot plan the generated build.toml (a template bug):\n{e}"))?;
    files.insert(
        kb_build::backends::nix::PLAN_FILE.to_string(),
        kb_build::backends::nix::plan_file_json(&plan).into_bytes(),
    );
    Ok(files)
}

/// Make `p` absolute against `cwd` and resolve `.`/`..` lexically.
fn absolute(cwd: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        cwd.join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Where to initialize and under which name.
pub fn resolve_target(
    cwd: &Path,
    path: Option<&Path>,
    name: Option<&str>,
    owner_lookup: &dyn Fn() -> Result<String, String>,
) -> Result<(PathBuf, RepoName)> {
    if let Some(n) = name {
        let repo = parse_name(n)?;
        let dir = match path {
            Some(p) => absolute(cwd, p),
            // `init --name org/relu` inside `relu/` initializes it in place,
            // anywhere else it creates `./relu`.
            None if cwd
                .file_name()
                .and_then(|f| f.to_str())
                .map(|f| f.replace('_', "-"))
                == Some(repo.name.clone()) =>
            {
                cwd.to_path_buf()
            }
            None => cwd.join(&repo.name),
        };
        return Ok((dir, repo));
    }
    let dir = absolute(cwd, path.unwrap_or(Path::new(".")));
    let Some(dir_name) = dir.file_name().and_then(|f| f.to_str()) else {
        bail!(
            "cannot derive a kernel name from {}\n  help: pass `--name OWNER/REPO`",
            dir.display()
        );
    };
    let name = check_repo_part(dir_name, &format!("the directory name `{dir_name}`")).map_err(|e| {
        err!("{e:#}\n  help: pass `--name OWNER/REPO` with a valid kernel name, or rename the directory")
    })?;
    let owner = owner_lookup().map_err(|why| {
        err!(
            "cannot tell who owns the kernel: {why}\n  help: pass `--name <owner>/{name}` (your Hub user or organization, e.g. `--name my-org/{name}`), or log in with `hf auth login`"
        )
    })?;
    let repo = RepoName { owner, name };
    check_repo_id(&repo.repo_id()).map_err(|e| err!("{e}\n  help: pass `--name OWNER/REPO`"))?;
    Ok((dir, repo))
}

/// How the files were put under version control.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitOutcome {
    /// The repository at the target directory (`created` when init made it).
    AtTarget { created: bool },
    /// The repository whose work tree contains the target.
    Enclosing(PathBuf),
}

/// Stage `files` (relative to `dir`) in Git, creating a repository when
/// `dir` is not inside one.
pub fn stage_in_git(dir: &Path, files: &[String]) -> Result<GitOutcome> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("{}: cannot resolve", dir.display()))?;
    let existing = git2::Repository::discover(&dir).ok().and_then(|r| {
        let workdir = r.workdir()?.canonicalize().ok()?;
        dir.starts_with(&workdir).then_some((r, workdir))
    });
    let (repo, workdir, outcome) = match existing {
        Some((r, w)) if w == dir => (r, w, GitOutcome::AtTarget { created: false }),
        Some((r, w)) => (r, w.clone(), GitOutcome::Enclosing(w)),
        None => {
            let r = git2::Repository::init(&dir)
                .with_context(|| format!("{}: cannot create a Git repository", dir.display()))?;
            (r, dir.clone(), GitOutcome::AtTarget { created: true })
        }
    };
    let mut index = repo.index().context("cannot open the Git index")?;
    for f in files {
        let abs = f.split('/').fold(dir.clone(), |p, part| p.join(part));
        let rel = abs.strip_prefix(&workdir).expect("inside the work tree");
        index
            .add_path(rel)
            .with_context(|| format!("cannot stage {f} in Git"))?;
    }
    index.write().context("cannot write the Git index")?;
    Ok(outcome)
}

/// Scaffold files for a kernel, with the resolved target.
pub struct Scaffold {
    pub dir: PathBuf,
    pub repo: RepoName,
    pub backends: Vec<Backend>,
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Validate the arguments and render the scaffold (no file system writes).
/// What `init` scaffolds.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Directory to initialize (default: `./REPO` for `--name OWNER/REPO`
    /// unless the current directory is named REPO, else the current directory).
    pub path: Option<PathBuf>,
    pub license: String,
    /// `OWNER/REPO`.
    pub name: Option<String>,
    /// `all`, `cpu`, `cuda`, `metal`, `rocm`, `xpu`.
    pub backends: Vec<String>,
    /// Overwrite existing scaffold files.
    pub overwrite: bool,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            path: None,
            license: "Apache-2.0".into(),
            name: None,
            backends: Vec::new(),
            overwrite: false,
        }
    }
}

pub fn prepare(
    args: &InitOptions,
    cwd: &Path,
    owner_lookup: &dyn Fn() -> Result<String, String>,
) -> Result<Scaffold> {
    check_license(&args.license).map_err(|e| err!("--license: {e}"))?;
    let backends = parse_backends(&args.backends)?;
    let (dir, repo) = resolve_target(
        cwd,
        args.path.as_deref(),
        args.name.as_deref(),
        owner_lookup,
    )?;
    let files = render(&repo, &backends, &args.license)?;
    Ok(Scaffold {
        dir,
        repo,
        backends,
        files,
    })
}

/// What `init` did.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub repo_id: String,
    pub backends: Vec<String>,
    pub dir: PathBuf,
    pub created: Vec<String>,
    pub overwritten: Vec<String>,
    pub unchanged: Vec<String>,
    /// How the files were staged in Git, or why they were not.
    pub git: String,
    pub git_ok: bool,
    /// The directory as the user should `cd` to it (empty: the current one).
    pub cd: String,
}

impl Report for InitReport {
    fn text(&self) -> String {
        format!(
            "Initialized `{}` ({}) at {}\n",
            self.repo_id,
            self.backends.join(", "),
            self.dir.display()
        )
    }

    fn notes(&self) -> Vec<String> {
        let cd = if self.cd.is_empty() {
            String::new()
        } else {
            format!("cd {} && ", self.cd)
        };
        vec![
            format!(
                "  {} created, {} overwritten, {} unchanged",
                self.created.len(),
                self.overwritten.len(),
                self.unchanged.len()
            ),
            self.git.clone(),
            format!("next: {cd}kernel-builder check-config && kernel-builder build"),
        ]
    }
}

/// `kernel-builder init`.
pub fn run(args: &InitOptions) -> Result<InitReport> {
    let cwd = std::env::current_dir().context("cannot determine the current directory")?;
    let env = |k: &str| std::env::var(k).ok();
    let lookup = || owner::hub_username(&env);
    let s = prepare(args, &cwd, &lookup)?;
    let entries = fileset::inspect(&s.dir, &s.files)?;
    let summary = fileset::write(&s.dir, &entries, args.overwrite)?;
    let all: Vec<String> = s.files.keys().cloned().collect();
    let git = stage_in_git(&s.dir, &all);

    let shown = s
        .dir
        .strip_prefix(&cwd)
        .ok()
        .filter(|p| !p.as_os_str().is_empty())
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| s.dir.display().to_string());
    let (git, git_ok) = match git {
        Ok(GitOutcome::AtTarget { created: true }) => (
            format!("  created a Git repository at {shown} and staged the files"),
            true,
        ),
        Ok(GitOutcome::AtTarget { created: false }) => ("  staged the files in Git".into(), true),
        Ok(GitOutcome::Enclosing(w)) => (
            format!(
                "  staged the files in the enclosing Git repository at {}",
                w.display()
            ),
            true,
        ),
        Err(e) => (
            format!(
                "warning: {e}; stage the files yourself (Nix flakes only see files Git tracks)"
            ),
            false,
        ),
    };
    Ok(InitReport {
        repo_id: s.repo.repo_id(),
        backends: s.backends.iter().map(|b| b.as_str().to_string()).collect(),
        cd: if s.dir == cwd { String::new() } else { shown },
        dir: s.dir,
        created: summary.created,
        overwritten: summary.overwritten,
        unchanged: summary.unchanged,
        git,
        git_ok,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let r = parse_name("my-org/my_kernel").unwrap();
        assert_eq!(r.repo_id(), "my-org/my-kernel");
        assert_eq!(r.python_name(), "my_kernel");
        assert_eq!(r.class_name(), "MyKernel");
        for bad in [
            "relu",
            "org/Relu",
            "org/1relu",
            "org/relu-",
            "/relu",
            "org/",
            "a b/relu",
            "org/re lu",
        ] {
            assert!(parse_name(bad).is_err(), "{bad}");
        }
        assert!(format!("{:#}", parse_name("relu").unwrap_err()).contains("OWNER/REPO"));
    }

    #[test]
    fn backends() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_backends(&v(&["xpu", "cpu", "cpu"])).unwrap(),
            vec![Backend::Cpu, Backend::Xpu]
        );
        assert_eq!(
            parse_backends(&v(&["all"])).unwrap(),
            SCAFFOLD_BACKENDS.to_vec()
        );
        assert!(parse_backends(&v(&["neuron"])).is_err());
        assert!(parse_backends(&v(&["gpu"])).is_err());
        assert_eq!(parse_backends(&[]).unwrap().len(), 1);
    }

    #[test]
    fn target_resolution() {
        let cwd = Path::new("/work/kernels");
        let no_owner = || -> Result<String, String> { Err("offline".into()) };
        let (d, r) = resolve_target(cwd, None, Some("org/relu"), &no_owner).unwrap();
        assert_eq!(
            (d, r.repo_id()),
            (PathBuf::from("/work/kernels/relu"), "org/relu".into())
        );
        let (d, _) =
            resolve_target(Path::new("/w/relu"), None, Some("org/relu"), &no_owner).unwrap();
        assert_eq!(d, PathBuf::from("/w/relu"));
        let (d, _) = resolve_target(
            cwd,
            Some(Path::new("../x/./y")),
            Some("org/relu"),
            &no_owner,
        )
        .unwrap();
        assert_eq!(d, PathBuf::from("/work/x/y"));
        let alice = || -> Result<String, String> { Ok("alice".into()) };
        let (d, r) = resolve_target(cwd, Some(Path::new("my_kernel")), None, &alice).unwrap();
        assert_eq!(
            (d, r.repo_id()),
            (
                PathBuf::from("/work/kernels/my_kernel"),
                "alice/my-kernel".into()
            )
        );
        let e = format!(
            "{:#}",
            resolve_target(cwd, Some(Path::new("relu")), None, &no_owner).unwrap_err()
        );
        assert!(e.contains("--name <owner>/relu"), "{e}");
        let e = format!(
            "{:#}",
            resolve_target(cwd, Some(Path::new("Bad Name")), None, &alice).unwrap_err()
        );
        assert!(e.contains("--name OWNER/REPO"), "{e}");
    }

    #[test]
    fn renders_every_backend() {
        let r = parse_name("org/my-kernel").unwrap();
        let files = render(&r, &SCAFFOLD_BACKENDS, "Apache-2.0").unwrap();
        for f in [
            "build.toml",
            "my_kernel_cpu/my_kernel.cpp",
            "my_kernel_cuda/my_kernel.cu",
            "my_kernel_rocm/my_kernel.hip",
            "my_kernel_metal/my_kernel.mm",
            "my_kernel_metal/my_kernel.metal",
            "my_kernel_xpu/my_kernel.cpp",
            "tests/test_my_kernel.py",
            "torch-ext/my_kernel/__init__.py",
            ".envrc",
        ] {
            assert!(files.contains_key(f), "{f}");
        }
        for (path, bytes) in &files {
            let text = String::from_utf8(bytes.clone()).unwrap();
            if path != "CARD.md" {
                assert!(
                    !text.contains("{{") && !text.contains("{%"),
                    "{path} has template syntax left"
                );
            }
            assert!(
                text.ends_with('\n') || text.is_empty(),
                "{path} lacks a final newline"
            );
        }
        let cpu_only = render(&r, &[Backend::Cpu], "MIT").unwrap();
        assert!(!cpu_only.keys().any(|k| k.contains("_cuda")));
    }
}
