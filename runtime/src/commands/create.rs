//! `berth create`: create a container from a bundle; its process waits for `start`.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

use anyhow::Context;
use libcontainer::{Console, ContainerBuilder, CreateOptions};

use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// The container id
    pub id: String,
    /// Path to the root of the bundle directory, defaults to the current directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Specify the file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Do not use pivot root to jail process inside rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// Do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
}

pub fn run(g: &Globals, a: &CreateArgs) -> anyhow::Result<i32> {
    create(
        g,
        builder(g, a),
        a,
        a.console_socket
            .clone()
            .map(Console::Socket)
            .unwrap_or_default(),
    )
    .context("berth create failed")?;
    Ok(0)
}

/// The builder for container `a.id` from `a.bundle` (`run` loads its config early).
pub fn builder(g: &Globals, a: &CreateArgs) -> ContainerBuilder {
    ContainerBuilder::new(&a.id, &g.root).bundle(&a.bundle)
}

/// Shared by `create` and `run`.
pub fn create(
    g: &Globals,
    builder: ContainerBuilder,
    a: &CreateArgs,
    console: Console,
) -> anyhow::Result<libcontainer::Container> {
    let (listen_fds, extra_env) = socket_activation();
    let options = CreateOptions {
        console,
        pid_file: a.pid_file.clone(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: listen_fds + a.preserve_fds,
        extra_env,
        notify_socket: std::env::var_os("NOTIFY_SOCKET").is_some(),
        cgroup_driver: g.cgroup_driver,
        ..Default::default()
    };
    Ok(builder.options(options).create()?)
}

/// systemd socket activation, passed through as runc does: the descriptors from 3 on named
/// by LISTEN_FDS (when LISTEN_PID is us) go to the container, whose env gets LISTEN_FDS and
/// LISTEN_PID=1.
pub fn socket_activation() -> (i32, Vec<String>) {
    let Ok(fds) = std::env::var("LISTEN_FDS") else {
        return (0, Vec::new());
    };
    let ours = std::env::var("LISTEN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        == Some(std::process::id());
    let n = if ours {
        fds.parse::<i32>().unwrap_or(0).max(0)
    } else {
        0
    };
    (
        n,
        vec![format!("LISTEN_FDS={n}"), "LISTEN_PID=1".to_string()],
    )
}

/// `start` and `run` under systemd: bind the container's notify socket before the program
/// runs, so its `READY=1` can be forwarded once it comes.
pub fn bind_notify(
    container: &libcontainer::Container,
) -> anyhow::Result<Option<(UnixDatagram, PathBuf)>> {
    let Some(host) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(None);
    };
    if !libcontainer::notify::socket_path(container.state_dir())
        .parent()
        .is_some_and(|d| d.is_dir())
    {
        return Ok(None);
    }
    let socket = libcontainer::notify::bind(container.state_dir())?;
    Ok(Some((socket, PathBuf::from(host))))
}

pub fn forward_notify(notify: Option<(UnixDatagram, PathBuf)>, pid: i32) -> anyhow::Result<()> {
    if let Some((socket, host)) = notify {
        libcontainer::notify::forward_ready(&socket, &host, pid)?;
    }
    Ok(())
}
