//! A process started in a running container (`berth exec`): the namespaces and cgroup are
//! already joined by spawn; this applies the process spec and execs.

use std::convert::Infallible;
use std::os::fd::RawFd;

use oci_spec::runtime::{LinuxMemoryPolicy, LinuxSeccomp, Process};

use super::affinity::ExecAffinity;
use super::channel::{Channel, Message};
use super::setup;
use crate::error::Result;
use crate::tty;

pub(crate) struct ExecArgs<'a> {
    pub process: &'a Process,
    pub console_socket: Option<RawFd>,
    pub keep_fds: i32,
    pub extra_env: Vec<String>,
    /// The container's filter: exec'd processes run under it too.
    pub seccomp: Option<LinuxSeccomp>,
    /// The container's `linux.memoryPolicy`, set in the exec'd process too (as runc).
    pub memory_policy: Option<LinuxMemoryPolicy>,
    /// `execCPUAffinity`: its final set (or every CPU), taken here, once in the cgroup.
    pub affinity: ExecAffinity,
}

pub(crate) fn run(ch: &Channel, args: &ExecArgs) -> Result<Infallible> {
    // runc's step names for --debug (see init.rs).
    log::debug!("child process in init(): joining the container");
    // In the container's cgroup by now (the runtime placed us before letting us go on),
    // and before anything of the process runs.
    args.affinity.settle(nix::unistd::Pid::from_raw(0))?;
    tty::new_session(args.process, args.console_socket)?;
    let program = setup::prepare(
        args.process,
        &args.extra_env,
        args.keep_fds,
        args.seccomp.as_ref(),
        args.memory_policy.as_ref(),
        ch,
    )?;
    ch.send(&Message::Ready)?;
    log::debug!("setns_init: about to exec");
    Err(setup::exec(&program))
}
