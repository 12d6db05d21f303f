//! The Task methods: each maps one containerd request onto libcontainer operations and
//! the shim's own process records, and publishes the matching event.

use std::path::Path;

use containerd_shim_protos::api::{
    CloseIORequest, ConnectRequest, ConnectResponse, CreateTaskRequest, CreateTaskResponse,
    DeleteRequest, DeleteResponse, Empty, ExecProcessRequest, KillRequest, PauseRequest,
    PidsRequest, PidsResponse, ProcessInfo, ResizePtyRequest, ResumeRequest, ShutdownRequest,
    StartRequest, StartResponse, StateRequest, StateResponse, StatsRequest, StatsResponse, Status,
    UpdateTaskRequest,
};
use containerd_shim_protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim_protos::topics;
use libcontainer::signal::Sig;
use libcontainer::{
    CgroupDriver, Console, Container, ContainerBuilder, CreateOptions, ExecOptions, OomEvent,
    OomWatcher,
};
use protobuf::MessageField;

use crate::console;
use crate::metrics;
use crate::process::{exit_code, Phase, Process};
use crate::relay::Relay;
use crate::service::{wait_response, RpcError, Service, Task};
use crate::stdio::{self, Held, StdioPaths};

fn internal(e: impl std::fmt::Display) -> RpcError {
    RpcError::Internal(e.to_string())
}

/// Stdio for a process with a terminal: the container gets the far end of a console
/// socket; after it sends its pty master, `attach_terminal` relays it to the fifos.
fn terminal_stdio() -> Result<(Console, std::os::fd::OwnedFd), RpcError> {
    let (ours, theirs) = console::pair().map_err(internal)?;
    Ok((Console::Fd(theirs), ours))
}

fn attach_terminal(proc_: &mut Process, ours: std::os::fd::OwnedFd) -> Result<(), RpcError> {
    let master = console::receive_master(&ours).map_err(internal)?;
    let mut held = Held::default();
    if !proc_.stdio.stdin.is_empty() {
        let stdin = stdio::open_stdin(&proc_.stdio.stdin, &mut held).map_err(internal)?;
        proc_
            .relays
            .push(Relay::new(stdin, master.try_clone().map_err(internal)?));
    }
    let out = stdio::open_output(&proc_.stdio.stdout, &mut held, false).map_err(internal)?;
    proc_
        .relays
        .push(Relay::new(master.try_clone().map_err(internal)?, out));
    proc_.held = held;
    proc_.console = Some(master);
    if let Some((w, h)) = proc_.pending_size.take() {
        let _ = proc_.resize(w, h);
    }
    Ok(())
}

/// The shim polls the watcher; `wait` must then return instead of blocking when a v2
/// `memory.events` change was not an OOM kill.
fn set_nonblocking(w: &OomWatcher) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    use std::os::fd::AsFd;
    if let Ok(bits) = fcntl(w.as_fd(), FcntlArg::F_GETFL) {
        let _ = fcntl(
            w.as_fd(),
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(bits) | OFlag::O_NONBLOCK),
        );
    }
}

/// A failed create or exec, worded as runc's shim does: Docker and the CRI read
/// "executable file not found" / "no such file or directory" in it as exit status 127
/// and "permission denied" as 126.
fn runtime_error(prefix: &str, e: libcontainer::Error) -> RpcError {
    match RpcError::from(e) {
        RpcError::Internal(m) => RpcError::Internal(format!("{prefix}{m}")),
        other => other,
    }
}

impl Service {
    /// Start of a task created from a checkpoint: CRIU restores its init now.
    fn restore(&mut self, id: &str) -> Result<u32, RpcError> {
        let task = self
            .tasks
            .get_mut(id)
            .ok_or_else(|| RpcError::NotFound(format!("container {id} not found")))?;
        let Some((images, options)) = task.restore_from.take() else {
            return Err(RpcError::FailedPrecondition(format!(
                "{id} has no checkpoint"
            )));
        };
        let bundle = task.bundle.clone();
        let paths = task.init.stdio.clone();
        let (mut init, oom) =
            match self.create_container(id, &bundle, paths, options.as_ref(), Some(&images)) {
                Ok(done) => done,
                Err(e) => {
                    if let Some(task) = self.tasks.get_mut(id) {
                        task.restore_from = Some((images, options));
                    }
                    return Err(e);
                }
            };
        init.phase = Phase::Running;
        let pid = init.pid as u32;
        let task = self
            .tasks
            .get_mut(id)
            .ok_or_else(|| RpcError::NotFound(format!("container {id} not found")))?;
        init.waiters = std::mem::take(&mut task.init.waiters);
        task.init = init;
        task.oom = oom;
        Ok(pid)
    }

    fn load(&self, id: &str) -> Result<Container, RpcError> {
        Ok(Container::load(&self.root, id)?)
    }

    fn task(&self, id: &str) -> Result<&Task, RpcError> {
        self.tasks
            .get(id)
            .ok_or_else(|| RpcError::NotFound(format!("container {id} not found")))
    }

    pub fn create(&mut self, r: CreateTaskRequest) -> Result<CreateTaskResponse, RpcError> {
        if self.tasks.contains_key(&r.id) {
            return Err(RpcError::AlreadyExists(format!(
                "container {} already exists",
                r.id
            )));
        }
        let runtime_options = match r.options.as_ref() {
            Some(any) => crate::options::decode(any).map_err(RpcError::InvalidArgument)?,
            None => None,
        };
        let bundle = Path::new(&r.bundle).to_path_buf();
        let rootfs = bundle.join("rootfs");
        let mounts: Vec<(String, String, Vec<String>)> = r
            .rootfs
            .iter()
            .map(|m| (m.type_.clone(), m.source.clone(), m.options.clone()))
            .collect();
        if !mounts.is_empty() {
            std::fs::create_dir_all(&rootfs).map_err(internal)?;
            crate::mount::mount_all(&mounts, &rootfs).map_err(internal)?;
        }
        libcontainer::fault::point("shim-mounted");
        let paths = StdioPaths {
            stdin: r.stdin.clone(),
            stdout: r.stdout.clone(),
            stderr: r.stderr.clone(),
            terminal: r.terminal,
        };
        // From a checkpoint: nothing runs until Start restores it (as runc's shim does).
        let result = if r.checkpoint.is_empty() {
            self.create_container(&r.id, &bundle, paths, runtime_options.as_ref(), None)
        } else {
            Ok((Process::new("", paths), None))
        };
        let (init, oom) = match result {
            Ok(init) => init,
            Err(e) => {
                if !mounts.is_empty() {
                    crate::mount::unmount_all(&rootfs);
                }
                return Err(e);
            }
        };
        let pid = init.pid as u32;
        let mut ev = TaskCreate::new();
        ev.container_id = r.id.clone();
        ev.bundle = r.bundle.clone();
        ev.rootfs = r.rootfs.clone();
        let mut io = TaskIO::new();
        io.stdin = r.stdin.clone();
        io.stdout = r.stdout.clone();
        io.stderr = r.stderr.clone();
        io.terminal = r.terminal;
        ev.io = MessageField::some(io);
        ev.pid = pid;
        self.publisher.publish(topics::TASK_CREATE_EVENT_TOPIC, &ev);
        self.tasks.insert(
            r.id.clone(),
            Task {
                bundle,
                rootfs_mounted: !mounts.is_empty(),
                init,
                execs: Default::default(),
                oom,
                restore_from: (!r.checkpoint.is_empty())
                    .then(|| (r.checkpoint.clone().into(), runtime_options)),
            },
        );
        libcontainer::fault::point("shim-created");
        let mut resp = CreateTaskResponse::new();
        resp.pid = pid;
        Ok(resp)
    }

    fn create_container(
        &mut self,
        id: &str,
        bundle: &Path,
        paths: StdioPaths,
        runtime_options: Option<&containerd_shim_protos::shim::oci::Options>,
        restore_from: Option<&Path>,
    ) -> Result<(Process, Option<OomWatcher>), RpcError> {
        let mut init = Process::new("", paths.clone());
        let mut options = CreateOptions::default();
        if let Some(o) = runtime_options {
            crate::options::apply(o, &mut options);
        }
        if options.cgroup_driver == CgroupDriver::Cgroupfs
            && crate::options::systemd_path_on_systemd_host(bundle)
        {
            options.cgroup_driver = CgroupDriver::Systemd;
        }
        let mut console_end = None;
        if paths.terminal {
            let (console, ours) = terminal_stdio()?;
            options.console = console;
            console_end = Some(ours);
        } else {
            let (stdio, held) =
                stdio::open_direct(&paths, id, self.publisher.namespace()).map_err(internal)?;
            options.stdio = stdio;
            init.held = held;
        }
        let builder = ContainerBuilder::new(id, &self.root).bundle(bundle);
        let container = match restore_from {
            None => builder
                .options(options)
                .create()
                .map_err(|e| runtime_error("OCI runtime create failed: ", e))?,
            Some(images) => builder
                .restore(crate::checkpoint::restore_options(images, bundle, options))
                .map_err(|e| runtime_error("OCI runtime restore failed: ", e))?,
        };
        init.pid = container.init_pid();
        if let Some(ours) = console_end {
            if let Err(e) = attach_terminal(&mut init, ours) {
                let _ = container.delete(true);
                return Err(e);
            }
        }
        // Registered before Start, so an OOM of the very first allocation is seen.
        let oom = match container.oom_watcher() {
            Ok(w) => {
                set_nonblocking(&w);
                Some(w)
            }
            Err(e) => {
                log::warn!("{id}: no OOM notifications: {e}");
                None
            }
        };
        Ok((init, oom))
    }

    pub fn start(&mut self, r: StartRequest) -> Result<StartResponse, RpcError> {
        let pid = if r.exec_id.is_empty() && self.task(&r.id)?.restore_from.is_some() {
            let pid = self.restore(&r.id)?;
            let mut ev = TaskStart::new();
            ev.container_id = r.id.clone();
            ev.pid = pid;
            self.publisher.publish(topics::TASK_START_EVENT_TOPIC, &ev);
            pid
        } else if r.exec_id.is_empty() {
            let mut container = self.load(&r.id)?;
            container.start()?;
            libcontainer::fault::point("shim-started");
            let p = self.process_mut(&r.id, "")?;
            p.phase = Phase::Running;
            let mut ev = TaskStart::new();
            ev.container_id = r.id.clone();
            ev.pid = p.pid as u32;
            self.publisher.publish(topics::TASK_START_EVENT_TOPIC, &ev);
            ev.pid
        } else {
            let pid = self.start_exec(&r.id, &r.exec_id)?;
            let mut ev = TaskExecStarted::new();
            ev.container_id = r.id.clone();
            ev.exec_id = r.exec_id.clone();
            ev.pid = pid;
            self.publisher
                .publish(topics::TASK_EXEC_STARTED_EVENT_TOPIC, &ev);
            pid
        };
        let mut resp = StartResponse::new();
        resp.pid = pid;
        Ok(resp)
    }

    fn start_exec(&mut self, id: &str, exec_id: &str) -> Result<u32, RpcError> {
        let namespace = self.publisher.namespace().to_string();
        let container = self.load(id)?;
        let p = self.process_mut(id, exec_id)?;
        if p.phase != Phase::Created {
            return Err(RpcError::FailedPrecondition(format!(
                "exec {exec_id} already started"
            )));
        }
        let process = p.spec.clone().unwrap_or_default();
        let mut opts = ExecOptions {
            process,
            ..Default::default()
        };
        let mut console_end = None;
        if p.stdio.terminal {
            let (console, ours) = terminal_stdio()?;
            opts.console = console;
            console_end = Some(ours);
        } else {
            let (stdio, held) = stdio::open_direct(&p.stdio, id, &namespace).map_err(internal)?;
            opts.stdio = stdio;
            p.held = held;
        }
        libcontainer::fault::point("shim-exec-before");
        let pid = container
            .exec(opts)
            .map_err(|e| runtime_error("OCI runtime exec failed: exec failed: ", e))?;
        libcontainer::fault::point("shim-exec-after");
        p.pid = pid;
        p.phase = Phase::Running;
        if let Some(ours) = console_end {
            attach_terminal(p, ours)?;
        }
        Ok(pid as u32)
    }

    pub fn exec(&mut self, r: ExecProcessRequest) -> Result<Empty, RpcError> {
        let task = self
            .tasks
            .get_mut(&r.id)
            .ok_or_else(|| RpcError::NotFound(format!("container {} not found", r.id)))?;
        if task.execs.contains_key(&r.exec_id) {
            return Err(RpcError::AlreadyExists(format!(
                "exec {} already exists",
                r.exec_id
            )));
        }
        let value = r.spec.as_ref().map(|a| a.value.as_slice()).unwrap_or(b"{}");
        let spec = libcontainer::parse_process(Path::new("exec spec"), value)
            .map_err(|e| RpcError::InvalidArgument(e.to_string()))?;
        let mut p = Process::new(
            &r.exec_id,
            StdioPaths {
                stdin: r.stdin.clone(),
                stdout: r.stdout.clone(),
                stderr: r.stderr.clone(),
                terminal: r.terminal,
            },
        );
        p.spec = Some(spec);
        task.execs.insert(r.exec_id.clone(), p);
        let mut ev = TaskExecAdded::new();
        ev.container_id = r.id.clone();
        ev.exec_id = r.exec_id.clone();
        self.publisher
            .publish(topics::TASK_EXEC_ADDED_EVENT_TOPIC, &ev);
        Ok(Empty::new())
    }

    pub fn state(&mut self, r: StateRequest) -> Result<StateResponse, RpcError> {
        let paused = r.exec_id.is_empty()
            && self
                .load(&r.id)
                .map(|c| c.status() == libcontainer::Status::Paused)
                .unwrap_or(false);
        let bundle = self.task(&r.id)?.bundle.display().to_string();
        let p = self.process_mut(&r.id, &r.exec_id)?;
        let mut s = StateResponse::new();
        s.id = if r.exec_id.is_empty() {
            r.id.clone()
        } else {
            r.exec_id.clone()
        };
        s.exec_id = r.exec_id.clone();
        s.bundle = bundle;
        s.pid = p.pid as u32;
        let status = match p.phase {
            Phase::Created => Status::CREATED,
            Phase::Running if paused => Status::PAUSED,
            Phase::Running => Status::RUNNING,
            Phase::Stopped => Status::STOPPED,
        };
        s.status = status.into();
        s.stdin = p.stdio.stdin.clone();
        s.stdout = p.stdio.stdout.clone();
        s.stderr = p.stdio.stderr.clone();
        s.terminal = p.stdio.terminal;
        if let Some((code, at)) = &p.exit {
            s.exit_status = *code;
            s.exited_at = MessageField::some(at.clone());
        }
        Ok(s)
    }

    pub fn kill(&mut self, r: KillRequest) -> Result<Empty, RpcError> {
        let sig = Sig(r.signal as i32);
        if r.exec_id.is_empty() {
            let mut container = self.load(&r.id)?;
            if self.process_mut(&r.id, "")?.phase == Phase::Stopped && !r.all {
                return Err(RpcError::NotFound("process already finished".into()));
            }
            let paused = container.status() == libcontainer::Status::Paused;
            container.kill(sig, r.all)?;
            libcontainer::fault::point("shim-killed");
            // A frozen init acts on SIGKILL only once thawed (runc thaws too); with `all`
            // libcontainer thaws itself.
            if paused && sig == Sig::KILL && !r.all {
                if let Err(e) = container.resume() {
                    log::warn!("{}: thaw after SIGKILL: {e}", r.id);
                }
            }
            return Ok(Empty::new());
        }
        let p = self.process_mut(&r.id, &r.exec_id)?;
        if p.phase != Phase::Running {
            return Err(RpcError::NotFound("process already finished".into()));
        }
        // The pid is ours and unreaped until the reaper records its exit, so it cannot
        // have been recycled.
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid), sig.as_nix())
            .map_err(|e| RpcError::Internal(format!("signal exec {}: {e}", r.exec_id)))?;
        Ok(Empty::new())
    }

    pub fn delete(&mut self, r: DeleteRequest) -> Result<DeleteResponse, RpcError> {
        let mut resp = DeleteResponse::new();
        if !r.exec_id.is_empty() {
            let task = self
                .tasks
                .get_mut(&r.id)
                .ok_or_else(|| RpcError::NotFound(format!("container {} not found", r.id)))?;
            let p = task
                .execs
                .get(&r.exec_id)
                .ok_or_else(|| RpcError::NotFound(format!("exec {} not found", r.exec_id)))?;
            if p.phase == Phase::Running {
                return Err(RpcError::FailedPrecondition(format!(
                    "exec {} is still running",
                    r.exec_id
                )));
            }
            let p = task.execs.remove(&r.exec_id).expect("checked above");
            let (status, at) = p.exit_status();
            resp.pid = p.pid as u32;
            resp.exit_status = status;
            resp.exited_at = MessageField::some(at);
            return Ok(resp);
        }
        let task = self.task(&r.id)?;
        if task.init.phase == Phase::Running {
            return Err(RpcError::FailedPrecondition(format!(
                "container {} is still running",
                r.id
            )));
        }
        // Stop watching before the cgroup goes (v1 signals its removal as an event).
        if let Some(t) = self.tasks.get_mut(&r.id) {
            t.oom = None;
        }
        match Container::load(&self.root, &r.id) {
            Ok(c) => c.delete(true)?,
            Err(libcontainer::Error::NotExist { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        libcontainer::fault::point("shim-deleted");
        let mut task = self.tasks.remove(&r.id).expect("checked above");
        if task.rootfs_mounted {
            crate::mount::unmount_all(&task.bundle.join("rootfs"));
        }
        if task.init.exit.is_none() {
            // Deleted before it ran: it was killed just now.
            let waiters = task.init.exited(128 + libc::SIGKILL as u32);
            self.answer_waiters(waiters, &wait_response(&task.init));
        }
        let (status, at) = task.init.exit_status();
        let mut ev = TaskDelete::new();
        ev.container_id = r.id.clone();
        ev.pid = task.init.pid as u32;
        ev.exit_status = status;
        ev.exited_at = MessageField::some(at.clone());
        self.publisher.publish(topics::TASK_DELETE_EVENT_TOPIC, &ev);
        resp.pid = task.init.pid as u32;
        resp.exit_status = status;
        resp.exited_at = MessageField::some(at);
        Ok(resp)
    }

    pub fn pids(&mut self, r: PidsRequest) -> Result<PidsResponse, RpcError> {
        let container = self.load(&r.id)?;
        let mut resp = PidsResponse::new();
        for pid in container.processes()? {
            let mut info = ProcessInfo::new();
            info.pid = pid as u32;
            resp.processes.push(info);
        }
        Ok(resp)
    }

    pub fn pause(&mut self, r: PauseRequest) -> Result<Empty, RpcError> {
        self.load(&r.id)?.pause()?;
        let mut ev = TaskPaused::new();
        ev.container_id = r.id;
        self.publisher.publish(topics::TASK_PAUSED_EVENT_TOPIC, &ev);
        Ok(Empty::new())
    }

    pub fn resume(&mut self, r: ResumeRequest) -> Result<Empty, RpcError> {
        self.load(&r.id)?.resume()?;
        let mut ev = TaskResumed::new();
        ev.container_id = r.id;
        self.publisher
            .publish(topics::TASK_RESUMED_EVENT_TOPIC, &ev);
        Ok(Empty::new())
    }

    pub fn resize_pty(&mut self, r: ResizePtyRequest) -> Result<Empty, RpcError> {
        let p = self.process_mut(&r.id, &r.exec_id)?;
        p.resize(r.width, r.height)
            .map_err(|e| RpcError::FailedPrecondition(format!("resize pty: {e}")))?;
        Ok(Empty::new())
    }

    pub fn close_io(&mut self, r: CloseIORequest) -> Result<Empty, RpcError> {
        let p = self.process_mut(&r.id, &r.exec_id)?;
        if r.stdin {
            p.held.stdin_writer = None;
        }
        Ok(Empty::new())
    }

    pub fn update(&mut self, r: UpdateTaskRequest) -> Result<Empty, RpcError> {
        let mut container = self.load(&r.id)?;
        let json = r
            .resources
            .as_ref()
            .map(|a| a.value.as_slice())
            .unwrap_or(b"{}");
        let resources = metrics::parse_resources(json)?;
        container.update(&resources)?;
        Ok(Empty::new())
    }

    pub fn stats(&mut self, r: StatsRequest) -> Result<StatsResponse, RpcError> {
        let stats = self.load(&r.id)?.stats()?;
        let mut resp = StatsResponse::new();
        resp.stats = MessageField::some(metrics::to_any(&stats, self.unified)?);
        Ok(resp)
    }

    /// The OOM watcher of `id` is readable: publish TaskOOM for each kill, forget the
    /// watcher once its cgroup is gone.
    pub fn oom_ready(&mut self, id: &str) {
        let Some(task) = self.tasks.get_mut(id) else {
            return;
        };
        let Some(watcher) = task.oom.as_mut() else {
            return;
        };
        match watcher.wait() {
            Ok(OomEvent::Oom) => {
                let mut ev = TaskOOM::new();
                ev.container_id = id.to_string();
                self.publisher.publish(topics::TASK_OOM_EVENT_TOPIC, &ev);
            }
            Ok(OomEvent::Gone) => task.oom = None,
            // Non-blocking: a v2 memory.events change that was not an OOM kill.
            Err(e) => log::debug!("{id}: oom watcher: {e}"),
        }
    }

    pub fn connect(&mut self, r: ConnectRequest) -> Result<ConnectResponse, RpcError> {
        let mut resp = ConnectResponse::new();
        resp.shim_pid = std::process::id();
        resp.task_pid = self.task(&r.id).map(|t| t.init.pid as u32).unwrap_or(0);
        resp.version = "v2".into();
        Ok(resp)
    }

    pub fn shutdown(&mut self, _r: ShutdownRequest) -> Result<Empty, RpcError> {
        if self.tasks.is_empty() {
            self.shutdown = true;
        }
        Ok(Empty::new())
    }

    /// The reaper collected `pid`: record the exit of whichever process it was.
    pub fn reaped(&mut self, pid: i32, wait_status: i32) {
        if self.publisher.reaped(pid, wait_status) {
            return;
        }
        let code = exit_code(wait_status);
        let mut found = None;
        for (id, task) in self.tasks.iter_mut() {
            let procs = std::iter::once(&mut task.init).chain(task.execs.values_mut());
            for p in procs {
                if p.pid == pid && p.phase != Phase::Stopped {
                    let waiters = p.exited(code);
                    found = Some((id.clone(), p.exec_id.clone(), waiters, wait_response(p)));
                }
            }
        }
        let Some((id, exec_id, waiters, response)) = found else {
            return;
        };
        let mut ev = TaskExit::new();
        ev.container_id = id.clone();
        ev.id = if exec_id.is_empty() { id } else { exec_id };
        ev.pid = pid as u32;
        ev.exit_status = code;
        ev.exited_at = MessageField::some(protobuf::well_known_types::timestamp::Timestamp::now());
        self.publisher.publish(topics::TASK_EXIT_EVENT_TOPIC, &ev);
        self.answer_waiters(waiters, &response);
    }
}
