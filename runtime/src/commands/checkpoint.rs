//! `berth checkpoint` / `berth restore`: runc's command lines, their argument checks and
//! the container's state checks. Dumping and restoring through CRIU is not done yet
//! (issue #21): past those checks both say so, in one line, and exit 1.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::Globals;

/// The CRIU options `checkpoint` and `restore` share, with runc's names.
#[derive(clap::Args, Debug)]
pub struct CriuFlags {
    /// Path for criu image files (default: ./checkpoint)
    #[arg(long = "image-path")]
    pub image_path: Option<PathBuf>,
    /// Path for saving work files and logs
    #[arg(long = "work-path")]
    pub work_path: Option<PathBuf>,
    /// Allow open tcp connections
    #[arg(long = "tcp-established")]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long = "ext-unix-sk")]
    pub ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long = "shell-job")]
    pub shell_job: bool,
    /// Handle file locks, for safety
    #[arg(long = "file-locks")]
    pub file_locks: bool,
    /// Use userfaultfd to lazily restore memory pages
    #[arg(long = "lazy-pages")]
    pub lazy_pages: bool,
    /// Cgroups mode: 'soft' (default), 'full' and 'strict'
    #[arg(long = "manage-cgroups-mode")]
    pub manage_cgroups_mode: Option<String>,
    /// Create a namespace, but don't restore its properties
    #[arg(long = "empty-ns")]
    pub empty_ns: Vec<String>,
    /// Enable auto deduplication of memory images
    #[arg(long = "auto-dedup")]
    pub auto_dedup: bool,
}

#[derive(clap::Args, Debug)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Path for previous criu image files in pre-dump (relative to the image path)
    #[arg(long = "parent-path")]
    pub parent_path: Option<PathBuf>,
    /// Leave the process running after checkpointing
    #[arg(long = "leave-running")]
    pub leave_running: bool,
    /// Criu writes \0 to this FD once lazy-pages is ready
    #[arg(long = "status-fd", default_value_t = -1, allow_negative_numbers = true)]
    pub status_fd: i32,
    /// ADDRESS:PORT of the page server
    #[arg(long = "page-server")]
    pub page_server: Option<String>,
    /// Dump container's memory information only, leave the container running after this
    #[arg(long = "pre-dump")]
    pub pre_dump: bool,
    /// The container id
    pub id: String,
}

#[derive(clap::Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub criu: CriuFlags,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the
    /// master end of the console's pseudoterminal
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Path to the root of the bundle directory
    #[arg(short = 'b', long)]
    pub bundle: Option<PathBuf>,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Specify the file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Disable the use of the subreaper used to reap reparented processes
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
    /// Do not use pivot root to jail process inside rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Specify an LSM profile to be used during restore in the form of TYPE:NAME
    #[arg(long = "lsm-profile")]
    pub lsm_profile: Option<String>,
    /// Specify an LSM mount context to be used during restore
    #[arg(long = "lsm-mount-context")]
    pub lsm_mount_context: Option<String>,
    /// The container id
    pub id: String,
}

const NOT_YET: &str = "CRIU support is not implemented in berth yet";

/// runc's `--manage-cgroups-mode` values.
fn check_cgroups_mode(mode: Option<&str>) -> anyhow::Result<()> {
    match mode {
        None | Some("soft" | "full" | "strict" | "ignore") => Ok(()),
        Some(other) => bail!("invalid manage cgroups mode: {other}"),
    }
}

/// runc's rules: relative to the image path, and a directory there.
fn check_parent_path(image_path: &Path, parent: &Path) -> anyhow::Result<()> {
    if parent.is_absolute() {
        bail!("--parent-path must be relative");
    }
    let real = image_path.join(parent);
    let meta = std::fs::metadata(&real)
        .with_context(|| format!("invalid --parent-path: {}", real.display()))?;
    if !meta.is_dir() {
        bail!("--parent-path {} is not a directory", real.display());
    }
    Ok(())
}

pub fn checkpoint(g: &Globals, a: &CheckpointArgs) -> anyhow::Result<i32> {
    let container = super::load(&g.root, &a.id)?;
    let status = container.status();
    if status != libcontainer::Status::Running {
        bail!("container {} is not running: {}", a.id, status.as_str());
    }
    check_cgroups_mode(a.criu.manage_cgroups_mode.as_deref())?;
    let image_path = a
        .criu
        .image_path
        .clone()
        .unwrap_or_else(|| PathBuf::from("checkpoint"));
    if let Some(parent) = &a.parent_path {
        check_parent_path(&image_path, parent)?;
    }
    bail!("checkpoint {}: {NOT_YET}", a.id)
}

pub fn restore(g: &Globals, a: &RestoreArgs) -> anyhow::Result<i32> {
    check_cgroups_mode(a.criu.manage_cgroups_mode.as_deref())?;
    if libcontainer::Container::load(&g.root, &a.id).is_ok() {
        bail!("container with id exists: {}", a.id);
    }
    bail!("restore {}: {NOT_YET}", a.id)
}
