//! Command-line definitions (clap derive), the only place that knows clap.
//! `docs/cli.md` is generated from these.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "kernel-builder",
    version,
    about = "Build Hugging Face Hub kernels"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Print the result as JSON on standard output
    #[arg(long, global = true)]
    pub json: bool,
    /// Print no progress (warnings and errors still go to standard error)
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate shell completions
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Initialize a new kernel project from template
    Init(InitArgs),
    /// Build the kernel locally (alias for build-and-copy)
    Build(BuildArgs),
    /// Build the kernel and copy artifacts locally
    BuildAndCopy(BuildArgs),
    /// Build the kernel and upload to Hugging Face Hub
    BuildAndUpload(BuildAndUploadArgs),
    /// Upload kernel build artifacts to the Hugging Face Hub
    Upload(UploadArgs),
    /// Validate the build.toml file
    CheckConfig(KernelDirArg),
    /// Check the ABI compatibility of a kernel extension
    CheckAbi(CheckAbiArgs),
    /// Validate kernel builds
    CheckBuilds(CheckBuildsArgs),
    /// Generate CMake files for a kernel extension build
    CreatePyproject(CreatePyprojectArgs),
    /// Spawn a kernel development shell
    Devshell(ShellArgs),
    /// List build variants
    ListVariants(ListVariantsArgs),
    /// Print the build plan (all variants with versions, sources and flags)
    Plan(PlanArgs),
    /// Spawn a kernel test shell
    Testshell(ShellArgs),
    /// Update a `build.toml` to the current format
    UpdateBuild(UpdateBuildArgs),
    /// Install skills for AI coding assistants (Claude, Codex, OpenCode)
    Skills {
        #[command(subcommand)]
        command: SkillsCommand,
    },
    /// Clean generated artifacts
    CleanPyproject(CleanPyprojectArgs),
    /// Fill the kernel card template (CARD.md)
    FillCard(FillCardArgs),
    /// Write or verify the file digests in each variant's metadata.json
    Hash(HashArgs),
    /// Load each variant with the real `kernels` loader (the get_kernel check)
    Verify(VerifyArgs),
    /// Provision the local toolchain (torch environment, CUDA toolkit) and print its paths
    Toolchain(ToolchainArgs),
    /// Check this machine for building kernels (Nix, sandbox, caches, disk, toolchains)
    Doctor(DoctorArgs),
    /// Print the CI job matrix: one job per variant, with runner hints
    CiMatrix(CiMatrixArgs),
    /// Nix builder steps (used inside the variant derivations)
    Nix {
        #[command(subcommand)]
        command: NixCommand,
    },
}

#[derive(Debug, Args)]
pub struct KernelDirArg {
    /// Directory of the kernel project (defaults to current directory)
    pub kernel_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to initialize (default: `./REPO` for `--name OWNER/REPO` unless the current directory is named REPO, else the current directory)
    pub path: Option<PathBuf>,
    /// The kernel's license
    #[arg(long, default_value = "Apache-2.0")]
    pub license: String,
    /// Name of the kernel repo (e.g. `drbh/my-kernel`)
    #[arg(long, value_name = "OWNER/REPO")]
    pub name: Option<String>,
    /// Backends to scaffold (`all`, `cpu`, `cuda`, `metal`, `rocm`, `xpu`; default: `cuda`, or `metal` on macOS)
    #[arg(long, num_args = 1.., value_delimiter = ',')]
    pub backends: Vec<String>,
    /// Overwrite existing scaffold files (preserves other files)
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Args, Clone)]
pub struct BuildArgs {
    /// Directory of the kernel project (defaults to current directory)
    pub kernel_dir: Option<PathBuf>,
    /// Build a specific variant (repeatable)
    #[arg(long = "variant")]
    pub variants: Vec<String>,
    /// Maximum number of parallel build jobs
    #[arg(long)]
    pub max_jobs: Option<usize>,
    /// Number of CPU cores to use for each build job
    #[arg(long)]
    pub cores: Option<usize>,
    /// Print full build logs on standard error
    #[arg(short = 'L', long = "print-build-logs")]
    pub print_build_logs: bool,
    /// Use the host toolchain instead of Nix
    #[arg(long)]
    pub local: bool,
    /// Local builds: do not bind glibc symbols to the versions manylinux_2_28 allows (for debugging; the build is then usually not compliant)
    #[arg(long)]
    pub no_glibc_compat: bool,
    /// Local builds: skip the loader check (fast edit loop); the build is then recorded as not Hub-compliant until a build without this flag
    #[arg(long)]
    pub defer_loader_check: bool,
}

#[derive(Debug, Args, Clone, Default)]
pub struct HubArgs {
    /// Repository ID on the Hugging Face Hub (e.g. `user/my-kernel`)
    #[arg(long)]
    pub repo_id: Option<String>,
    /// Upload to a specific branch (defaults to `v{version}` from metadata)
    #[arg(long)]
    pub branch: Option<String>,
    /// Create the repository as private
    #[arg(long)]
    pub private: bool,
    /// Repository type on the Hugging Face Hub
    #[arg(long, value_enum, default_value_t = RepoType::Kernel)]
    pub repo_type: RepoType,
    /// Open a pull request instead of committing to the branch
    #[arg(long)]
    pub create_pr: bool,
    /// Upload builds with uncommitted (dirty) provenance
    #[arg(long)]
    pub allow_dirty: bool,
    /// Upload builds that are not compliant or cannot be verified
    #[arg(long)]
    pub allow_noncompliant: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum RepoType {
    Model,
    #[default]
    Kernel,
}

#[derive(Debug, Args)]
pub struct BuildAndUploadArgs {
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub hub: HubArgs,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Directory of the kernel build (defaults to current directory)
    pub kernel_dir: Option<PathBuf>,
    #[command(flatten)]
    pub hub: HubArgs,
}

#[derive(Debug, Args)]
pub struct CheckAbiArgs {
    /// Directory with kernels (a kernel project, its `build/`, or one variant)
    pub kernel_dir: Option<PathBuf>,
    /// Manylinux version
    #[arg(
        short,
        long = "manylinux",
        value_name = "VERSION",
        default_value = "manylinux_2_28"
    )]
    pub manylinux: String,
    /// macOS version
    #[arg(long, value_name = "VERSION", default_value = "15.0")]
    pub macos: String,
    /// Python ABI version
    #[arg(
        short,
        long = "python-abi",
        value_name = "VERSION",
        default_value = "3.9"
    )]
    pub python_abi: String,
    /// Torch stable ABI version
    #[arg(long, value_name = "VERSION")]
    pub torch_stable_abi: Option<String>,
}

#[derive(Debug, Args)]
pub struct CheckBuildsArgs {
    pub kernel_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CreatePyprojectArgs {
    pub kernel_dir: Option<PathBuf>,
    /// The directory to write the generated files to (directory of `build.toml` when absent)
    pub target_dir: Option<PathBuf>,
    /// Force-overwrite existing files
    #[arg(short, long)]
    pub force: bool,
    /// Unique identifier suffixed to the ops name (default: the Git commit; outside Git, derived from the kernel's sources)
    #[arg(long)]
    pub unique_id: Option<String>,
    /// Generate for this variant (defaults to the first variant of the host)
    #[arg(long)]
    pub variant: Option<String>,
}

#[derive(Debug, Args)]
pub struct ShellArgs {
    pub kernel_dir: Option<PathBuf>,
    /// Use a specific variant
    #[arg(long)]
    pub variant: Option<String>,
    /// Maximum number of parallel build jobs
    #[arg(long)]
    pub max_jobs: Option<usize>,
    /// Number of CPU cores to use for each build job
    #[arg(long)]
    pub cores: Option<usize>,
    /// Print full build logs on standard error
    #[arg(short = 'L', long = "print-build-logs")]
    pub print_build_logs: bool,
}

#[derive(Debug, Args)]
pub struct ListVariantsArgs {
    pub kernel_dir: Option<PathBuf>,
    /// Only list variants for the current system
    #[arg(long, conflicts_with_all = ["system", "all_systems"])]
    pub arch: bool,
    /// Only list variants for this system (e.g. `aarch64-linux`)
    #[arg(long, conflicts_with = "all_systems")]
    pub system: Option<String>,
    /// List variants for all systems (the default)
    #[arg(long)]
    pub all_systems: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    pub kernel_dir: Option<PathBuf>,
    /// Only plan for this system (default: all systems; with --json the format the Nix layer and CMake consume)
    #[arg(long)]
    pub system: Option<String>,
    /// Write the all-systems plan to `kernel-plan.json` next to `build.toml` (read by the flake)
    #[arg(long, conflicts_with_all = ["system", "json"])]
    pub write: bool,
}

#[derive(Debug, Args)]
pub struct UpdateBuildArgs {
    pub kernel_dir: Option<PathBuf>,
    /// Show the rewritten file instead of writing it
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum SkillsCommand {
    /// Install a kernels skill for an AI assistant
    Add(SkillsAddArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Skill {
    CudaKernels,
    RocmKernels,
    XpuKernels,
    CpuKernels,
}

#[derive(Debug, Args)]
pub struct SkillsAddArgs {
    /// Skill to install
    #[arg(long, value_enum, default_value_t = Skill::CudaKernels)]
    pub skill: Skill,
    /// Install for Claude
    #[arg(long)]
    pub claude: bool,
    /// Install for Codex
    #[arg(long)]
    pub codex: bool,
    /// Install for OpenCode
    #[arg(long)]
    pub opencode: bool,
    /// Install globally (user-level) instead of in the current project directory
    #[arg(short, long)]
    pub global: bool,
    /// Install into a custom destination (path to skills directory)
    #[arg(long)]
    pub dest: Option<PathBuf>,
    /// Overwrite existing skills in the destination
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CleanPyprojectArgs {
    pub kernel_dir: Option<PathBuf>,
    /// The directory to clean from (directory of `build.toml` when absent)
    pub target_dir: Option<PathBuf>,
    /// Show what would be deleted without actually deleting
    #[arg(short, long)]
    pub dry_run: bool,
    /// Force deletion without confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Unique identifier that was suffixed to the ops name
    #[arg(long)]
    pub ops_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct FillCardArgs {
    pub kernel_dir: Option<PathBuf>,
    /// Where to write the filled card (default: `build/CARD.md`)
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct HashArgs {
    /// A kernel project, its `build/` directory, or one variant
    pub kernel_dir: Option<PathBuf>,
    /// Verify the recorded digests instead of writing them
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct ToolchainArgs {
    /// Torch version (`2.15`); default: the newest in the matrix
    #[arg(long)]
    pub torch: Option<String>,
    /// Also provision this CUDA toolkit (`13.2`)
    #[arg(long)]
    pub cuda: Option<String>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// A kernel project, its `build/` directory, or one variant
    pub kernel_dir: Option<PathBuf>,
    /// Python interpreter with `kernels` and `torch` installed (default: the
    /// first of `python3`, `$VIRTUAL_ENV/bin/python`, `$KB_PYTHON`,
    /// `$KB_VENV/bin/python` that has them)
    #[arg(long)]
    pub python: Option<PathBuf>,
    /// A second build of the same kernel (different ops id) to load together
    /// with the first; default: a copy with a synthesized ops id
    #[arg(long, value_name = "DIR")]
    pub other: Option<PathBuf>,
    /// Skip the two-builds-in-one-process check
    #[arg(long)]
    pub no_unique: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Kernel directory whose disk is checked (defaults to the current directory)
    pub kernel_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CiMatrixArgs {
    /// Directory of the kernel project (defaults to current directory)
    pub kernel_dir: Option<PathBuf>,
    /// Only jobs for this system
    #[arg(long)]
    pub system: Option<String>,
    /// Only variants of the compliance set (`required` in the matrix)
    #[arg(long)]
    pub required_only: bool,
}

#[derive(Debug, Subcommand)]
pub enum NixCommand {
    /// Assemble a built variant into `<OUT>/<variant>` (a step of the Nix variant derivation)
    InstallVariant(InstallVariantArgs),
    /// Print the plan file the flake reads (`kernel-plan.json`), or write it with `--out`
    PlanFile(PlanFileArgs),
}

#[derive(Debug, Args)]
pub struct InstallVariantArgs {
    /// Kernel directory (with build.toml; defaults to the current directory)
    pub kernel_dir: Option<PathBuf>,
    /// The variant to assemble
    #[arg(long)]
    pub variant: String,
    /// Unique part of the ops name (the flake passes the short commit)
    #[arg(long)]
    pub unique_id: String,
    /// CMake build directory holding `<ops_name>.abi3.so` (native variants)
    #[arg(long)]
    pub build_dir: Option<PathBuf>,
    /// Output prefix; the variant goes to `<OUT>/<variant>`
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct PlanFileArgs {
    /// Kernel directory or its build.toml (defaults to the current directory)
    pub kernel_dir: Option<PathBuf>,
    /// Write the plan file here (in place) instead of standard output
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not check that the sources build.toml names exist (the flake checks
    /// them when it builds; used when only build.toml is at hand)
    #[arg(long)]
    pub no_source_checks: bool,
}
