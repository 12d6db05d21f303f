//! `exec`: start another process in a running container — same namespaces, same cgroup.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use oci_spec::runtime::Process;

use super::create::{write_pid_file, Console};
use super::Container;
use crate::error::{Error, Result};
use crate::namespaces::NamespacePlan;
use crate::process::affinity::ExecAffinity;
use crate::process::channel::Message;
use crate::process::exec::{self, ExecArgs};
use crate::process::spawn::{self, SpawnRequest};
use crate::state::Status;

#[derive(Debug, Default)]
pub struct ExecOptions {
    /// The complete process to run (the runtime merges its flags into it).
    pub process: Process,
    pub console: Console,
    pub pid_file: Option<PathBuf>,
    pub preserve_fds: i32,
    pub extra_env: Vec<String>,
    /// Exec into a paused container too (runc's `--ignore-paused`): the process joins the
    /// frozen cgroup and runs once the container is resumed.
    pub ignore_paused: bool,
    /// `exec --cgroup`: existing sub-cgroups of the container's cgroup to run in, as
    /// (v1 controller or "" for all, path below the container's cgroup).
    pub sub_cgroups: Vec<(String, String)>,
    /// Standard streams for the process; by default it inherits the caller's.
    pub stdio: crate::process::stdio::Stdio,
}

impl Container {
    /// Starts `opts.process` in the container and returns its host pid once it is about to
    /// exec. The process is a child of the caller, who may wait for it.
    pub fn exec(&self, opts: ExecOptions) -> Result<i32> {
        crate::spec::validate_process(&opts.process)?;
        match self.status() {
            Status::Running | Status::Created => {}
            Status::Paused if opts.ignore_paused => {}
            found => {
                return Err(Error::CannotExec {
                    id: self.id().into(),
                    found,
                })
            }
        }
        opts.console.check(opts.process.terminal() == Some(true))?;
        let console = opts.console.open()?;
        let plan = NamespacePlan::of_process(self.record.pid);
        let sub_cgroup = match (self.cgroup(), opts.sub_cgroups.is_empty()) {
            (Some(cgroup), false) => Some(cgroup.sub(&opts.sub_cgroups)?),
            _ => None,
        };
        let request = SpawnRequest {
            plan: &plan,
            uid_maps: &[],
            gid_maps: &[],
            time_offsets: None,
            cgroup: sub_cgroup.as_ref().or(self.cgroup()),
            place_init: None,
            close_in_child: &[],
        };
        let spec = self.spec()?;
        let affinity =
            ExecAffinity::from_spec(opts.process.exec_cpu_affinity().as_ref().or_else(|| {
                spec.process()
                    .as_ref()
                    .and_then(|p| p.exec_cpu_affinity().as_ref())
            }))?;
        let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
        let args = ExecArgs {
            seccomp: seccomp.clone(),
            memory_policy: spec
                .linux()
                .as_ref()
                .and_then(|l| l.memory_policy().clone()),
            affinity: affinity.clone(),
            process: &opts.process,
            console_socket: console.as_ref().map(|c| c.as_raw_fd()),
            keep_fds: opts.preserve_fds,
            extra_env: opts.extra_env.clone(),
        };
        let stdio = &opts.stdio;
        log::debug!(
            "nsexec container setup: cloning a process into {}",
            self.id()
        );
        let spawned = affinity.spawn_with_initial(|| {
            spawn::spawn(&request, &mut |ch| {
                stdio.child_prelude()?;
                exec::run(ch, &args)
            })
        })?;
        drop(console);
        let mut ready = spawned.channel.recv_with_fds();
        if let Ok(Some((Message::SeccompListener, fds))) = &ready {
            let state = crate::seccomp::notify::ProcessState {
                pid: spawned.pid.as_raw(),
                id: self.id(),
                status: self.status().as_str(),
                bundle: self.bundle(),
                annotations: serde_json::json!(self.record.annotations),
                metadata: None,
            };
            ready = crate::seccomp::notify::relay(&spawned.channel, fds, seccomp.as_ref(), state)
                .and_then(|()| spawned.channel.recv_with_fds());
        }
        let ready = match ready.map(|m| m.map(|(msg, _)| msg)) {
            Ok(Some(Message::Ready)) => Ok(()),
            Ok(Some(Message::Failed(text))) => Err(Error::Start(text)),
            Ok(other) => Err(Error::Start(format!(
                "exec'd process: unexpected {other:?}"
            ))),
            Err(e) => Err(e),
        };
        if let Err(e) = ready {
            spawn::kill_and_reap(spawned.pid);
            return Err(e);
        }
        if let Some(pid_file) = &opts.pid_file {
            write_pid_file(pid_file, spawned.pid.as_raw())?;
        }
        Ok(spawned.pid.as_raw())
    }
}
