//! `berth checkpoint` / `berth restore`: runc's command lines turned into libcontainer's
//! CRIU options. A checkpoint that stops the container deletes it (runc does the same);
//! a restore in the foreground waits for the restored init as `run` does.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::{foreground, Globals};

// The CRIU options `checkpoint` and `restore` share, with runc's names. (A plain comment:
// clap would take a doc comment for the help text of the commands it is flattened into.)
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

/// runc's rules: relative to the image path, and a directory there.
fn check_parent_path(image_path: &Path, parent: &Path) -> anyhow::Result<()> {
    if parent.is_absolute() {
        bail!("--parent-path must be relative");
    }
    let real = lexical_join(image_path, parent);
    let meta = std::fs::metadata(&real)
        .with_context(|| format!("invalid --parent-path: {}", real.display()))?;
    if !meta.is_dir() {
        bail!("--parent-path {} is not a directory", real.display());
    }
    Ok(())
}

/// `base/rel` with `.` and `..` resolved on the text, as Go's filepath.Join does: the
/// image path of a dump that names its parent (`--parent-path ../pre`) need not exist yet.
fn lexical_join(base: &Path, rel: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in base.components().chain(rel.components()) {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if matches!(out.components().next_back(), Some(Component::Normal(_))) {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn criu_options(g: &Globals, f: &CriuFlags) -> anyhow::Result<libcontainer::CriuOptions> {
    let image_path = match &f.image_path {
        Some(p) => p.clone(),
        None => std::env::current_dir()
            .context("current directory")?
            .join("checkpoint"),
    };
    Ok(libcontainer::CriuOptions {
        criu: g.criu.clone(),
        image_path,
        work_path: f.work_path.clone(),
        tcp_established: f.tcp_established,
        ext_unix_sk: f.ext_unix_sk,
        shell_job: f.shell_job,
        file_locks: f.file_locks,
        lazy_pages: f.lazy_pages,
        manage_cgroups_mode: f
            .manage_cgroups_mode
            .as_deref()
            .map(libcontainer::CgroupsMode::parse)
            .transpose()?,
        empty_ns: libcontainer::CriuOptions::empty_ns_mask(&f.empty_ns)?,
        auto_dedup: f.auto_dedup,
    })
}

pub fn checkpoint(g: &Globals, a: &CheckpointArgs) -> anyhow::Result<i32> {
    let mut container = super::load(&g.root, &a.id)?;
    let criu = criu_options(g, &a.criu)?;
    if let Some(parent) = &a.parent_path {
        check_parent_path(&criu.image_path, parent)?;
    }
    let opts = libcontainer::CheckpointOptions {
        criu,
        parent_path: a.parent_path.clone(),
        leave_running: a.leave_running,
        pre_dump: a.pre_dump,
        page_server: a
            .page_server
            .as_deref()
            .map(libcontainer::CheckpointOptions::parse_page_server)
            .transpose()?,
        status_fd: (a.status_fd >= 0).then_some(a.status_fd),
    };
    container.checkpoint(&opts)?;
    // CRIU has killed what it dumped: the container goes, as under runc.
    if !(a.leave_running || a.pre_dump) {
        container.delete(true)?;
    }
    Ok(0)
}

pub fn restore(g: &Globals, a: &RestoreArgs) -> anyhow::Result<i32> {
    let criu = criu_options(g, &a.criu)?;
    if libcontainer::Container::load(&g.root, &a.id).is_ok() {
        bail!("container with id exists: {}", a.id);
    }
    let bundle = a.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut builder = libcontainer::ContainerBuilder::new(&a.id, &g.root).bundle(&bundle);
    let terminal = builder.load_config()?;
    let relay_terminal = a.console_socket.is_none() && !a.detach && terminal;
    let (console, relay) = foreground::console(a.console_socket.as_deref(), relay_terminal)?;
    if a.no_pivot {
        log::debug!("--no-pivot: CRIU restores the mount namespace as it was dumped");
    }
    let opts = libcontainer::RestoreOptions {
        criu,
        console,
        pid_file: a.pid_file.clone(),
        lsm_profile: a.lsm_profile.clone(),
        lsm_mount_context: a.lsm_mount_context.clone(),
        cgroup_driver: g.cgroup_driver,
        stdio: Default::default(),
    };
    let container = builder.restore(opts)?;
    if a.detach {
        return Ok(0);
    }
    let pty = if relay.is_some() {
        foreground::receive_master(relay)?
    } else {
        None
    };
    let code = foreground::wait(container.init_pid(), pty)?;
    container.delete(true)?;
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::lexical_join;
    use std::path::Path;

    #[test]
    fn parent_path_is_joined_on_the_text() {
        let j = |a: &str, b: &str| lexical_join(Path::new(a), Path::new(b));
        assert_eq!(j("/img/p2", "../p1"), Path::new("/img/p1"));
        assert_eq!(j("/img/p2", "./../../p1"), Path::new("/p1"));
        assert_eq!(j("/", "../../x"), Path::new("/x"));
        assert_eq!(j("rel/p2", "../../../x"), Path::new("../x"));
        assert_eq!(j("/img/p2", "sub"), Path::new("/img/p2/sub"));
    }
}
