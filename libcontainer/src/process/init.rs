//! The container's init, from its birth in the new namespaces to the exec of the user
//! program. See docs/process-protocol.md for the messages exchanged with `berth create`.

use std::convert::Infallible;
use std::os::fd::RawFd;

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::LinuxNamespaceType;

use super::channel::{Channel, Message};
use super::setup;
use crate::error::{Error, Result, SysContext};
use crate::hooks::HookState;
use crate::spec::ContainerConfig;
use crate::state::{Status, OCI_VERSION};
use crate::{hooks, rootfs, sysctl, tty};

pub(crate) struct InitArgs<'a> {
    pub id: &'a str,
    pub config: &'a ContainerConfig,
    /// O_PATH descriptor of `exec.fifo`, reopened for writing to wait for `start`.
    pub fifo: RawFd,
    pub console_socket: Option<RawFd>,
    /// Descriptors from 3 on that stay open for the program (LISTEN_FDS + --preserve-fds).
    pub keep_fds: i32,
    pub extra_env: Vec<String>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// Idmapped mounts the runtime prepared; inherited descriptors, attached by prepare.
    pub idmapped: &'a rootfs::IdmappedMounts,
}

/// Runs in the container's init; returns only with the error that stopped it.
pub(crate) fn run(ch: &Channel, args: &InitArgs) -> Result<Infallible> {
    // These --debug lines carry runc's wording: scripts and runc's own tests look for it.
    log::debug!("child process in init(): setting up container {}", args.id);
    let program = setup_container(ch, args).map_err(|e| match e {
        e @ Error::Exec { .. } => e,
        other => Error::Init(Box::new(other)),
    })?;
    ch.send(&Message::Ready)?;
    log::debug!("init: closing the pipe to signal completion");
    // From here on nobody reads the channel: like runc's init, report on stderr.
    close_inherited(3 + args.keep_fds, args.fifo);
    let Some(program) = program else {
        // No process in the config: `start` refuses, so hold the namespaces until
        // `delete` kills us.
        loop {
            nix::unistd::pause();
        }
    };
    let err = wait_and_exec(args, &program);
    eprintln!("{err}");
    // SAFETY: _exit is always safe.
    unsafe { libc::_exit(1) };
}

/// Closes every descriptor from `first` on but `keep` before the wait for `start`, which
/// may last: a clone of a long-running runtime (the shim) would otherwise hold its
/// listening socket, client connections and other containers' fifos until the exec, so a
/// dead shim's clients would never see its sockets close.
fn close_inherited(first: RawFd, keep: RawFd) {
    let Ok(fds) = setup::open_fds_from(first) else {
        return;
    };
    for fd in fds.into_iter().filter(|fd| *fd != keep) {
        // SAFETY: nothing in this process uses these descriptors any more (the channel is
        // done, the rest were the runtime's); the read_dir's own, already closed, fails
        // harmlessly.
        unsafe { libc::close(fd) };
    }
}

fn wait_and_exec(args: &InitArgs, program: &setup::Program) -> Error {
    match wait_for_start(args) {
        Ok(()) => {
            crate::trace::mark("exec");
            crate::trace::flush();
            setup::exec(program)
        }
        Err(e) => e,
    }
}

fn wait_for_start(args: &InitArgs) -> Result<()> {
    // Block until `berth start` opens the other end.
    let fifo_path = format!("/proc/self/fd/{}", args.fifo);
    let fifo = open(
        fifo_path.as_str(),
        OFlag::O_WRONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| "open exec fifo".into())?;
    nix::unistd::write(&fifo, b"0").ctx(|| "write exec fifo".into())?;
    crate::trace::mark("wait start");
    drop(fifo);

    let spec = &args.config.spec;
    hooks::run_in_container(
        "startContainer",
        spec.hooks()
            .as_ref()
            .and_then(|h| h.start_container().as_ref()),
        &hook_state(args, Status::Created),
        &process_env(args),
    )?;
    Ok(())
}

fn setup_container(ch: &Channel, args: &InitArgs) -> Result<Option<setup::Program>> {
    let cfg = args.config;
    let spec = &cfg.spec;
    let process = cfg.process();
    if !args.no_new_keyring {
        join_session_keyring(args.id);
    }
    if let Some(score) = process.oom_score_adj() {
        std::fs::write("/proc/self/oom_score_adj", score.to_string())
            .ctx(|| "set oom_score_adj".into())?;
    }
    let bind_sources = if cfg.namespaces.creates(LinuxNamespaceType::User) {
        receive_bind_sources(ch, args)?
    } else {
        rootfs::BindSources::default()
    };
    let opts = rootfs::RootfsOptions {
        in_user_ns: cfg.namespaces.creates(LinuxNamespaceType::User)
            || cfg.namespaces.joins(LinuxNamespaceType::User),
        no_pivot: args.no_pivot,
        own_mount_ns: cfg.namespaces.creates(LinuxNamespaceType::Mount)
            || cfg.namespaces.joins(LinuxNamespaceType::Mount),
        idmapped: Some(args.idmapped),
        bind_sources: Some(&bind_sources),
    };
    rootfs::prepare(spec, &cfg.rootfs, &opts)?;
    crate::trace::mark("mounts");

    let hooks = spec.hooks().as_ref();
    let runtime_hooks = hooks.is_some_and(|h| {
        h.prestart().as_ref().is_some_and(|v| !v.is_empty())
            || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });
    if runtime_hooks {
        ch.send(&Message::RunRuntimeHooks)?;
        ch.expect(&Message::HooksDone)?;
    }
    // runc runs createContainer hooks from the rootfs (hooks use paths relative to it).
    nix::unistd::chdir(&cfg.rootfs).ctx(|| format!("chdir {}", cfg.rootfs.display()))?;
    hooks::run_in_container(
        "createContainer",
        hooks.and_then(|h| h.create_container().as_ref()),
        &hook_state(args, Status::Creating),
        &process_env(args),
    )?;

    rootfs::enter(&cfg.rootfs, &opts)?;
    crate::trace::mark("pivot_root");
    if opts.own_mount_ns && rootfs::needs_dev_setup(spec) {
        rootfs::reopen_dev_null()?;
    }
    // runc creates a missing cwd (as root, before the user switch).
    std::fs::create_dir_all(process.cwd())
        .map_err(|e| Error::sys(format!("create cwd {}", process.cwd().display()), e))?;
    if cfg.namespaces.creates(LinuxNamespaceType::Uts)
        || cfg.namespaces.joins(LinuxNamespaceType::Uts)
    {
        if let Some(name) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            nix::unistd::sethostname(name).ctx(|| format!("sethostname {name:?}"))?;
        }
        if let Some(name) = spec.domainname().as_deref().filter(|h| !h.is_empty()) {
            set_domainname(name)?;
        }
    }
    if let Some(sysctl) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        sysctl::apply(sysctl)?;
    }
    // Without a mount namespace of its own there is nothing to finalize: remounting "/"
    // read-only there would be the host's root (validation refuses what would need it).
    if opts.own_mount_ns {
        rootfs::finalize(spec)?;
    } else if spec
        .root()
        .as_ref()
        .is_some_and(|r| r.readonly() == Some(true))
    {
        // runc ignores it silently here (`runc spec` sets it); say so at least.
        log::warn!("root.readonly is ignored without a private mount namespace");
    }
    crate::trace::mark("hostname/sysctl/paths");

    if !cfg.has_process() {
        return Ok(None);
    }
    tty::new_session(process, args.console_socket)?;
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref());
    let memory_policy = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref());
    let program = setup::prepare(
        process,
        &args.extra_env,
        args.keep_fds,
        seccomp,
        memory_policy,
        ch,
    );
    crate::trace::mark("process setup");
    program.map(Some)
}

/// In a new user namespace the container's root may not reach a bind source; the runtime,
/// still host root, opens them for us (see rootfs/bind_sources.rs).
fn receive_bind_sources(ch: &Channel, args: &InitArgs) -> Result<rootfs::BindSources> {
    let mut sources = rootfs::BindSources::default();
    if rootfs::plain_binds(&args.config.spec, &args.config.bundle).is_empty() {
        return Ok(sources);
    }
    ch.send(&Message::OpenBindSources)?;
    loop {
        match ch.recv_with_fds()? {
            Some((Message::BindSource(index), mut fds)) if fds.len() == 1 => {
                sources.insert(index, fds.remove(0));
            }
            Some((Message::BindSourcesDone, _)) => return Ok(sources),
            other => {
                return Err(Error::Protocol(format!(
                    "sync: expected bind sources, got {:?}",
                    other.map(|(m, _)| m)
                )))
            }
        }
    }
}

/// The container process's environment, which the init's hooks inherit: merged as the
/// process gets it (a later NAME=value replaces an earlier one).
fn process_env(args: &InitArgs) -> Vec<String> {
    setup::merge_env(args.config.process().env().iter().flatten().cloned())
}

fn hook_state(args: &InitArgs, status: Status) -> HookState {
    HookState {
        oci_version: OCI_VERSION,
        id: args.id.to_string(),
        pid: std::process::id() as i32,
        status,
        bundle: args.config.bundle.clone(),
        annotations: args.config.spec.annotations().clone().unwrap_or_default(),
    }
}

fn set_domainname(name: &str) -> Result<()> {
    // SAFETY: setdomainname reads `len` bytes from a pointer into a live string.
    if unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) } < 0 {
        return Err(Error::sys(
            format!("setdomainname {name:?}"),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// A session keyring of the container's own, so it does not share the runtime's keys.
fn join_session_keyring(id: &str) {
    let Ok(name) = std::ffi::CString::new(format!("_ses.{id}")) else {
        return;
    };
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    // SAFETY: keyctl(JOIN_SESSION_KEYRING) reads one NUL-terminated string.
    let ret =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if ret < 0 {
        // Kernels without keyrings (or with them disabled in a user namespace) are fine.
        log::debug!("join session keyring: {}", nix::errno::Errno::last());
    }
}
