//! `create`: reserve the id, make the cgroup, spawn the init and walk it through its
//! setup until it waits on `exec.fifo`. Any failure unwinds everything made so far.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::{read_stat, Container};
use crate::cgroups::{Cgroup, Driver as CgroupDriver, InitSetup};
use crate::error::{Error, Result, SysContext};
use crate::hooks::{self, HookState};
use crate::process::channel::Message;
use crate::process::init::{self, InitArgs};
use crate::process::spawn::{self, SpawnRequest};
use crate::spec::{self, ContainerConfig};
use crate::state::{self, DirLock, Record, StateRoot, Status, OCI_VERSION};
use crate::utils::write_atomic;

/// Where the container's terminal (if `process.terminal`) goes.
#[derive(Debug, Default)]
pub enum Console {
    /// No console socket: a terminal cannot be allocated.
    #[default]
    None,
    /// A unix socket path (`--console-socket`) that receives the pty master.
    Socket(PathBuf),
    /// An already connected unix socket that receives the pty master (for `run` in the
    /// foreground, which relays the terminal itself).
    Fd(OwnedFd),
}

impl Console {
    /// runc's rules: a terminal needs somewhere to send the pty master, and a console
    /// socket is only accepted with a terminal.
    pub(crate) fn check(&self, terminal: bool) -> Result<()> {
        match (self, terminal) {
            (Console::None, true) => Err(Error::Config(
                "cannot allocate tty if berth will detach without setting console socket".into(),
            )),
            (Console::Socket(_) | Console::Fd(_), false) => Err(Error::Config(
                "cannot use console socket if berth will not detach or allocate tty".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The socket the child sends the pty master over, if any.
    pub(crate) fn open(&self) -> Result<Option<OwnedFd>> {
        match self {
            Console::None => Ok(None),
            Console::Socket(path) => Ok(Some(crate::tty::connect_console_socket(path)?)),
            Console::Fd(fd) => Ok(Some(fd.try_clone().ctx(|| "dup console socket".into())?)),
        }
    }
}

#[derive(Debug, Default)]
pub struct CreateOptions {
    pub console: Console,
    pub pid_file: Option<PathBuf>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    /// Descriptors from 3 on passed to the container (LISTEN_FDS + `--preserve-fds`).
    pub preserve_fds: i32,
    /// Variables appended to the process environment (LISTEN_FDS, LISTEN_PID).
    pub extra_env: Vec<String>,
    /// Set up sd_notify passthrough (the caller's `NOTIFY_SOCKET`): see [`crate::notify`].
    pub notify_socket: bool,
    /// Standard streams for the init (the shim's fifos); by default it inherits ours.
    pub stdio: crate::process::stdio::Stdio,
    /// Who makes the container's cgroup: cgroupfs, or systemd (`--systemd-cgroup`).
    pub cgroup_driver: crate::cgroups::Driver,
}

/// Creates a container from a bundle:
/// `ContainerBuilder::new("web", "/run/berth").bundle("/srv/web").create()`.
#[derive(Debug)]
pub struct ContainerBuilder {
    pub(super) id: String,
    pub(super) root: PathBuf,
    pub(super) bundle: PathBuf,
    pub(super) options: CreateOptions,
    /// The bundle's config once [`ContainerBuilder::load_config`] has read it.
    pub(super) config: Option<ContainerConfig>,
}

impl ContainerBuilder {
    pub fn new(id: impl Into<String>, root: impl Into<PathBuf>) -> Self {
        ContainerBuilder {
            id: id.into(),
            root: root.into(),
            bundle: PathBuf::from("."),
            options: CreateOptions::default(),
            config: None,
        }
    }

    pub fn bundle(mut self, bundle: impl Into<PathBuf>) -> Self {
        self.bundle = bundle.into();
        self.config = None;
        self
    }

    /// Reads and checks the bundle's config ahead of [`ContainerBuilder::create`], which
    /// then uses it rather than reading it again; tells whether the process wants a
    /// terminal (for a caller that picks the console from that).
    pub fn load_config(&mut self) -> Result<bool> {
        let config = self.read_config()?;
        let terminal = config.process().terminal() == Some(true);
        self.config = Some(config);
        Ok(terminal)
    }

    pub(super) fn read_config(&self) -> Result<ContainerConfig> {
        check_id(&self.id)?;
        let config = spec::load(&self.bundle)?;
        crate::trace::mark("config load");
        Ok(config)
    }

    pub fn options(mut self, options: CreateOptions) -> Self {
        self.options = options;
        self
    }

    /// Creates the container; on return its init waits for `start`.
    pub fn create(mut self) -> Result<Container> {
        let mut config = match self.config.take() {
            Some(config) => config,
            None => self.read_config()?,
        };
        self.options
            .console
            .check(config.process().terminal() == Some(true))?;
        let root = StateRoot::new(&self.root);
        let dir = root.reserve(&self.id)?;
        crate::fault::point("reserved");
        if self.options.notify_socket {
            // The spec changes: the snapshot must encode it.
            config.text = None;
            if let Err(e) = crate::notify::prepare(&mut config.spec, &dir) {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        }
        let mut undo = Undo::new(
            dir.clone(),
            (!has_mount_namespace(&config.spec)).then(|| config.rootfs.clone()),
        );
        let lock = DirLock::acquire(&dir).map_err(|e| Error::path(&dir, e))?;
        crate::trace::mark("state dir");
        let record = build(&self, &config, &dir, &lock, &mut undo)?;
        undo.disarm();
        Ok(Container { dir, record })
    }
}

/// What create and restore both make before a process exists: the record (written), the
/// config snapshot, and the cgroup with the rules to apply once a process is in it.
pub(super) struct Prepared {
    pub record: Record,
    pub cgroup: Option<Cgroup>,
    pub device_rules: Vec<crate::cgroups::devices::Rule>,
    pub resources: oci_spec::runtime::LinuxResources,
}

impl Prepared {
    /// Puts `pid` (the init, or CRIU restoring it) in the cgroup and applies the
    /// config's resources and device rules. `in_target`: it was cloned into the cgroup2
    /// directory (`Cgroup::clone_target`).
    pub(super) fn place(&self, pid: i32, in_target: bool) -> Result<()> {
        let Some(cgroup) = &self.cgroup else {
            return Ok(());
        };
        let setup = InitSetup {
            resources: &self.resources,
            devices: &self.device_rules,
            annotations: &self.record.annotations,
        };
        cgroup.add_init(pid, in_target, &setup)?;
        super::update::apply_at_create(cgroup, &self.resources, &self.device_rules)
    }
}

pub(super) fn prepare(
    b: &ContainerBuilder,
    config: &ContainerConfig,
    dir: &Path,
    undo: &mut Undo,
) -> Result<Prepared> {
    let spec = &config.spec;
    let mut record = Record::new(&b.id, &config.bundle, &config.rootfs);
    record.annotations = spec.annotations().clone().unwrap_or_default();
    record.no_process = !config.has_process();
    record.late_hooks = spec
        .hooks()
        .as_ref()
        .is_some_and(|h| h.poststart().is_some() || h.poststop().is_some());
    let cgroups_path = spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_deref());
    let driver = effective_driver(b.options.cgroup_driver);
    let cgroup = Cgroup::resolve(cgroups_path, &b.id, driver)?;
    // An init placed in a frozen cgroup would never answer; runc refuses up front.
    if cgroup.is_frozen()? {
        return Err(Error::Config(
            "container's cgroup unexpectedly frozen".into(),
        ));
    }
    // runc 1.1 goes on with a warning when the cgroup already holds processes.
    let present = cgroup.pids().map(|p| p.len()).unwrap_or(0);
    if present != 0 {
        log::warn!("container's cgroup is not empty: {present} process(es) found");
    }
    record.cgroup = Some(cgroup.clone());
    // Written before anything else exists, so that `delete --force` can clean up after a
    // create that was killed half-way.
    state::write_record(dir, &record)?;
    crate::fault::point("state");
    let encoded;
    let snapshot = match &config.text {
        Some(text) => text,
        None => {
            encoded = serde_json::to_vec(spec).map_err(|source| Error::Encode {
                what: "config snapshot",
                source,
            })?;
            &encoded
        }
    };
    let snapshot_path = dir.join(state::CONFIG_FILE);
    write_atomic(&snapshot_path, snapshot).map_err(|e| Error::path(&snapshot_path, e))?;

    crate::trace::mark("state write");
    // Rootless (runc's --rootless=auto): a cgroup we may not create is skipped.
    let cgroup = match cgroup.create() {
        Ok(()) => Some(cgroup),
        Err(e) if crate::rootless::is_rootless() && e.is_permission_denied() => {
            log::debug!("rootless: no cgroup for {}: {e}", b.id);
            record.cgroup = None;
            state::write_record(dir, &record)?;
            None
        }
        Err(e) => return Err(e.into()),
    };
    crate::trace::mark("cgroup");
    if let Some(cgroup) = &cgroup {
        undo.cgroup = Some(cgroup.clone());
    }
    crate::fault::point("cgroup");
    // Checked before anything runs; applied once the init is in its cgroup (the
    // systemd driver can only make the unit with the init's pid in it).
    let device_rules = super::update::device_rules_for_create(spec)?;
    let resources = spec
        .linux()
        .as_ref()
        .and_then(|l| l.resources().clone())
        .unwrap_or_default();
    Ok(Prepared {
        record,
        cgroup,
        device_rules,
        resources,
    })
}

fn build(
    b: &ContainerBuilder,
    config: &ContainerConfig,
    dir: &Path,
    lock: &DirLock,
    undo: &mut Undo,
) -> Result<Record> {
    let spec = &config.spec;
    let prepared = prepare(b, config, dir, undo)?;
    let place_init =
        |pid: Pid, in_target: bool| -> Result<()> { prepared.place(pid.as_raw(), in_target) };
    let cgroup = prepared.cgroup.clone();
    let mut record = prepared.record.clone();

    let fifo = make_exec_fifo(dir)?;
    let console = b.options.console.open()?;
    let linux = spec.linux().as_ref();
    let time_offsets = config
        .namespaces
        .creates(LinuxNamespaceType::Time)
        .then(|| time_offsets(config))
        .flatten();
    let request = SpawnRequest {
        plan: &config.namespaces,
        uid_maps: linux
            .and_then(|l| l.uid_mappings().as_deref())
            .unwrap_or_default(),
        gid_maps: linux
            .and_then(|l| l.gid_mappings().as_deref())
            .unwrap_or_default(),
        time_offsets,
        cgroup: cgroup.as_ref(),
        place_init: Some(&place_init),
        close_in_child: &[lock.raw_fd()],
    };
    // Detached and idmapped here, in the host's user namespace; the init attaches them.
    let idmapped = crate::rootfs::open_idmapped(spec)?;
    let args = InitArgs {
        id: &b.id,
        config,
        fifo: fifo.as_raw_fd(),
        console_socket: console.as_ref().map(|c| c.as_raw_fd()),
        keep_fds: b.options.preserve_fds,
        extra_env: b.options.extra_env.clone(),
        no_pivot: b.options.no_pivot,
        no_new_keyring: b.options.no_new_keyring,
        idmapped: &idmapped,
    };
    let stdio = &b.options.stdio;
    log::debug!("nsexec container setup: cloning the init of {}", b.id);
    let spawned = spawn::spawn(&request, &mut |ch| {
        stdio.child_prelude()?;
        init::run(ch, &args)
    })?;
    undo.pid = Some(spawned.pid);
    crate::trace::mark("clone+cgroup join");
    crate::netdev::move_into(spec, spawned.pid.as_raw())?;
    crate::fault::point("spawned");
    drop(console);
    drop(fifo);
    drop(idmapped);

    record.pid = spawned.pid.as_raw();
    loop {
        let (msg, fds) = match spawned.channel.recv_with_fds()? {
            Some((msg, fds)) => (Some(msg), fds),
            None => (None, Vec::new()),
        };
        match msg {
            Some(Message::SeccompListener) => crate::seccomp::notify::relay(
                &spawned.channel,
                &fds,
                spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()),
                crate::seccomp::notify::ProcessState {
                    pid: record.pid,
                    id: &record.id,
                    status: "creating",
                    bundle: &record.bundle,
                    annotations: serde_json::json!(record.annotations),
                    metadata: None,
                },
            )?,
            Some(Message::OpenBindSources) => {
                for (index, source) in crate::rootfs::plain_binds(spec, &config.bundle) {
                    if let Some(fd) = crate::rootfs::open_bind_source(record.pid, &source) {
                        spawned
                            .channel
                            .send_with_fds(&Message::BindSource(index), &[fd.as_raw_fd()])?;
                    }
                }
                spawned.channel.send(&Message::BindSourcesDone)?;
            }
            Some(Message::RunRuntimeHooks) => {
                let state = hook_state(&record, Status::Creating);
                let hooks = spec.hooks().as_ref();
                hooks::run(
                    "prestart",
                    hooks.and_then(|h| h.prestart().as_ref()),
                    &state,
                )?;
                hooks::run(
                    "createRuntime",
                    hooks.and_then(|h| h.create_runtime().as_ref()),
                    &state,
                )?;
                crate::fault::point("hooks");
                spawned.channel.send(&Message::HooksDone)?;
            }
            Some(Message::Ready) => {
                crate::fault::point("ready");
                break;
            }
            Some(Message::Failed(text)) => return Err(Error::Start(text)),
            Some(other) => {
                return Err(Error::Start(format!(
                    "unexpected message from init: {other:?}"
                )))
            }
            None => {
                return Err(Error::Start(
                    "container init exited before it was set up".into(),
                ))
            }
        }
    }
    crate::trace::mark("wait init ready");
    record.start_time = read_stat(record.pid).map(|(_, t)| t).unwrap_or(0);
    record.creator = 0;
    state::write_record(dir, &record)?;
    crate::fault::point("written");
    if let Some(pid_file) = &b.options.pid_file {
        write_pid_file(pid_file, record.pid)?;
    }
    crate::trace::mark("state write");
    Ok(record)
}

/// `--systemd-cgroup` unprivileged means the user's systemd manager.
pub(crate) fn effective_driver(driver: CgroupDriver) -> CgroupDriver {
    match driver {
        CgroupDriver::Systemd if crate::rootless::is_rootless() => CgroupDriver::SystemdUser,
        driver => driver,
    }
}

pub(super) fn hook_state(record: &Record, status: Status) -> HookState {
    HookState {
        oci_version: OCI_VERSION,
        id: record.id.clone(),
        pid: if status == Status::Stopped {
            0
        } else {
            record.pid
        },
        status,
        bundle: record.bundle.clone(),
        annotations: record.annotations.clone(),
    }
}

fn time_offsets(config: &ContainerConfig) -> Option<String> {
    let offsets = config.spec.linux().as_ref()?.time_offsets().as_ref()?;
    Some(
        offsets
            .iter()
            .map(|(clock, o)| {
                format!(
                    "{} {} {}\n",
                    clock,
                    o.secs().unwrap_or(0),
                    o.nanosecs().unwrap_or(0)
                )
            })
            .collect(),
    )
}

/// `exec.fifo`: the init blocks opening it for writing until `start` opens it for reading.
/// Returns an O_PATH descriptor the init reopens through /proc/self/fd after pivot_root.
fn make_exec_fifo(dir: &Path) -> Result<OwnedFd> {
    let path = dir.join(state::EXEC_FIFO);
    let cpath = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::Config(format!("state path {path:?} contains a NUL byte")))?;
    let old = nix::sys::stat::umask(Mode::empty());
    // SAFETY: mkfifo reads one NUL-terminated path.
    let ret = unsafe { libc::mkfifo(cpath.as_ptr(), 0o622) };
    nix::sys::stat::umask(old);
    if ret < 0 {
        return Err(Error::path(&path, nix::errno::Errno::last()));
    }
    open(
        path.as_path(),
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::path(&path, e))
}

/// Whether the container has a mount namespace of its own (made or joined by path).
pub(crate) fn has_mount_namespace(spec: &Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Mount))
}

pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    write_atomic(path, pid.to_string().as_bytes())
        .map_err(|e| Error::sys(format!("write pid file {}", path.display()), e))
}

/// runc's id rule: letters, digits, `_`, `+`, `-`, `.`; not `.` or `..`.
pub(crate) fn check_id(id: &str) -> Result<()> {
    let bad = |reason| {
        Err(Error::InvalidId {
            id: id.to_string(),
            reason,
        })
    };
    if id.is_empty() {
        return bad("must not be empty");
    }
    if id == "." || id == ".." {
        return bad("must not be . or ..");
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c))
    {
        return bad("may only contain letters, digits, '_', '+', '-' and '.'");
    }
    if id.len() > 1024 {
        return bad("too long");
    }
    Ok(())
}

/// What a failed create must take down again, newest first.
pub(super) struct Undo {
    dir: Option<PathBuf>,
    cgroup: Option<Cgroup>,
    pid: Option<Pid>,
    /// The rootfs of a container without a mount namespace, whose mounts are the host's.
    host_mounts_under: Option<PathBuf>,
}

impl Undo {
    pub(super) fn new(dir: PathBuf, host_mounts_under: Option<PathBuf>) -> Undo {
        Undo {
            dir: Some(dir),
            cgroup: None,
            pid: None,
            host_mounts_under,
        }
    }

    pub(super) fn set_pid(&mut self, pid: i32) {
        self.pid = Some(Pid::from_raw(pid));
    }

    pub(super) fn disarm(&mut self) {
        self.dir = None;
        self.cgroup = None;
        self.pid = None;
        self.host_mounts_under = None;
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        if let Some(pid) = self.pid.take() {
            spawn::kill_and_reap(pid);
        }
        if let Some(rootfs) = self.host_mounts_under.take() {
            crate::rootfs::detach_under(&rootfs);
        }
        if let Some(cgroup) = self.cgroup.take() {
            if let Err(e) = cgroup.destroy() {
                log::warn!("cleanup after failed create: {e}");
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::check_id;

    #[test]
    fn ids_follow_runc() {
        assert!(check_id("web-1.a_b+c").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "ü"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }
}
