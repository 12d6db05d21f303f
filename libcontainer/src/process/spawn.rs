//! Creating a process in the right namespaces.
//!
//! Common case (nothing joined by path, no time namespace): one `clone` with every new
//! namespace flag; the child is the process that will exec. Otherwise two steps: an
//! intermediate child joins namespaces by path (user first), unshares the new ones and
//! forks the final process with `CLONE_PARENT`, so that it is still the runtime's child
//! (for `run` and `exec`, which wait for it) and becomes pid 1 of a new pid namespace.
//!
//! The runtime is single-threaded when it calls this, so the child may allocate and run
//! ordinary Rust code between `clone` and `execve`.

use std::os::fd::{AsRawFd, RawFd};

use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::waitpid;
use nix::unistd::{setresgid, setresuid, Gid, Pid, Uid};
use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType};

use super::channel::{self, Channel, Message};
use crate::cgroups::Cgroup;
use crate::error::{Error, Result, SysContext};
use crate::namespaces::{self, NamespacePlan};

/// Everything the parent does for a new process before letting it go on.
pub(crate) struct SpawnRequest<'a> {
    pub plan: &'a NamespacePlan,
    /// Written to the child's uid_map/gid_map when the plan creates a user namespace.
    pub uid_maps: &'a [LinuxIdMapping],
    pub gid_maps: &'a [LinuxIdMapping],
    /// Lines for /proc/self/timens_offsets when the plan creates a time namespace.
    pub time_offsets: Option<String>,
    pub cgroup: Option<&'a Cgroup>,
    /// How the init is placed in `cgroup` and its limits applied (create); when None
    /// the process just joins it (exec). Its flag: the process was cloned straight into
    /// the cgroup2 directory (`Cgroup::clone_target`).
    pub place_init: Option<&'a dyn Fn(Pid, bool) -> Result<()>>,
    /// Descriptors the parent keeps that the child must not hold (e.g. the state lock).
    pub close_in_child: &'a [i32],
}

/// A spawned process, still waiting in its setup; talk to it over `channel`.
pub(crate) struct Spawned {
    pub pid: Pid,
    pub channel: Channel,
}

/// Spawns a process that runs `body` with its end of the channel. `body` only returns on
/// failure; its error is sent to the parent and the process exits.
pub(crate) fn spawn(
    req: &SpawnRequest,
    body: &mut dyn FnMut(&Channel) -> Result<std::convert::Infallible>,
) -> Result<Spawned> {
    crate::rootless::note_runtime_euid();
    ensure_single_threaded()?;
    let (parent, child) = channel::pair()?;
    let stall = test_hook::open_stall();
    let stall_fd = stall.as_ref().map(|f| f.as_raw_fd());
    // Non-dumpable before any child exists: until it execs the user's program (which
    // resets the flag), the child runs *our* binary inside the container's pid namespace,
    // and a dumpable process there would let the container open /proc/<pid>/exe — the
    // host's berth binary — and keep it for writing once we exit (CVE-2019-5736).
    // SAFETY: PR_SET_DUMPABLE takes one integer argument.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } < 0 {
        return Err(Error::sys(
            "prctl(PR_SET_DUMPABLE)",
            nix::errno::Errno::last(),
        ));
    }
    if req.plan.single_clone() {
        // The cgroup namespace is unshared by the child once it is in its cgroup, so that
        // the cgroup it sees as "/" is its own.
        let flags = req.plan.new - CloneFlags::CLONE_NEWCGROUP;
        let target = req
            .place_init
            .and(req.cgroup)
            .and_then(|c| c.clone_target())
            .and_then(open_clone_target);
        let (pid, in_target) =
            clone_fork_into(flags, target.as_ref()).ctx(|| "clone container process".into())?;
        if pid.as_raw() == 0 {
            drop(parent);
            close_fds(req.close_in_child);
            child_main(
                &child,
                true,
                req.plan.creates(LinuxNamespaceType::Cgroup),
                req.plan.creates(LinuxNamespaceType::User),
                stall_fd,
                body,
            );
        }
        drop(child);
        let spawned = Spawned {
            pid,
            channel: parent,
        };
        let released = if req.plan.creates(LinuxNamespaceType::User) {
            spawned.channel.expect(&Message::WriteIdMaps)
        } else {
            Ok(())
        }
        .and_then(|()| release_child(req, &spawned, pid, in_target));
        if let Err(e) = released {
            let e = child_error_or(&spawned.channel, e);
            kill_and_reap(pid);
            return Err(e);
        }
        return Ok(spawned);
    }

    let pid = clone_fork(CloneFlags::empty()).ctx(|| "fork intermediate process".into())?;
    if pid.as_raw() == 0 {
        drop(parent);
        close_fds(req.close_in_child);
        if let Err(e) = intermediate(req, &child, stall_fd, body) {
            let _ = child.send(&Message::Failed(e.to_string()));
        }
        // SAFETY: _exit is always safe; it skips destructors that belong to the parent.
        unsafe { libc::_exit(1) };
    }
    drop(child);
    let spawned = Spawned {
        pid,
        channel: parent,
    };
    let result = (|| {
        if req.plan.creates(LinuxNamespaceType::User) {
            spawned.channel.expect(&Message::WriteIdMaps)?;
        }
        release_child(req, &spawned, pid, false)
            .map_err(|e| child_error_or(&spawned.channel, e))?;
        let final_pid = match spawned.channel.recv()? {
            Some(Message::Pid(p)) => Pid::from_raw(p),
            Some(Message::Failed(text)) => return Err(Error::Start(text)),
            other => {
                return Err(Error::Start(format!(
                    "intermediate process: unexpected {other:?}"
                )))
            }
        };
        // The final process shares the channel with the intermediate: it waits for this
        // before saying anything, so its messages can never overtake `Pid`.
        if let Err(e) = spawned.channel.send(&Message::Continue) {
            kill_and_reap(final_pid);
            return Err(e);
        }
        Ok(final_pid)
    })()
    .map(|pid| Spawned {
        pid,
        channel: spawned.channel,
    });
    if result.is_err() {
        // It may still be waiting for `Continue`.
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
    let _ = waitpid(pid, None);
    result
}

/// Cloning from a process with other threads is unsound (a lock another thread held,
/// e.g. the allocator's, stays locked in the child forever): the systemd driver's D-Bus
/// client, the shim's server and everything else must leave no thread behind, and this
/// refuses when one did.
pub(crate) fn ensure_single_threaded() -> Result<()> {
    let threads = thread_count()?;
    if threads == 1 {
        return Ok(());
    }
    Err(Error::Config(format!(
        "refusing to clone a container process from a process running {threads} threads"
    )))
}

/// Field 20 of /proc/self/stat (counted after the parenthesised command name).
fn thread_count() -> Result<u64> {
    let path = "/proc/self/stat";
    let stat = std::fs::read_to_string(path).map_err(|e| Error::path(path, e))?;
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(17))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Error::Config(format!("{path}: no thread count in {stat:?}")))
}

/// When talking to the child failed (it hung up), the child usually said why first. Never
/// waits: when our side failed (a cgroup write, the id maps), the child is alive and
/// waiting for `Continue`, and a blocking read would wait on it forever.
fn child_error_or(ch: &Channel, e: Error) -> Error {
    match ch.try_recv() {
        Ok(Some(Message::Failed(text))) => Error::Start(text),
        _ => e,
    }
}

/// Parent side: write id maps, place in the cgroup, and send `Continue`.
fn release_child(req: &SpawnRequest, spawned: &Spawned, pid: Pid, in_target: bool) -> Result<()> {
    if req.plan.creates(LinuxNamespaceType::User) {
        write_id_maps(pid, req.uid_maps, req.gid_maps)?;
    }
    if in_target {
        log::debug!("init cloned into its cgroup (CLONE_INTO_CGROUP)");
    }
    match (req.place_init, req.cgroup) {
        (Some(place), _) => place(pid, in_target)?,
        (None, Some(cgroup)) => cgroup.add_process(pid.as_raw())?,
        (None, None) => {}
    }
    spawned.channel.send(&Message::Continue)
}

fn intermediate(
    req: &SpawnRequest,
    ch: &Channel,
    stall: Option<RawFd>,
    body: &mut dyn FnMut(&Channel) -> Result<std::convert::Infallible>,
) -> Result<()> {
    let fds = namespaces::open_all(&req.plan.join)?;
    for ((typ, fd), (_, path)) in fds.iter().zip(&req.plan.join) {
        namespaces::enter(*typ, fd, path)?;
    }
    drop(fds);
    let new_user = req.plan.creates(LinuxNamespaceType::User);
    if new_user {
        unshare(CloneFlags::CLONE_NEWUSER).ctx(|| "unshare user namespace".into())?;
        set_dumpable_for_maps(true)?;
        ch.send(&Message::WriteIdMaps)?;
    }
    ch.expect(&Message::Continue)?;
    if new_user {
        set_dumpable_for_maps(false)?;
        become_root()?;
    }
    let rest = req.plan.new - CloneFlags::CLONE_NEWUSER;
    if !rest.is_empty() {
        unshare(rest).map_err(|e| Error::sys(format!("unshare namespaces {rest:?}"), e))?;
    }
    if let Some(offsets) = &req.time_offsets {
        std::fs::write("/proc/self/timens_offsets", offsets)
            .map_err(|e| Error::path("/proc/self/timens_offsets", e))?;
    }
    let pid = clone_fork(CloneFlags::CLONE_PARENT).ctx(|| "clone container process".into())?;
    if pid.as_raw() == 0 {
        // Waits for the parent's `Continue`, sent once it has read our `Pid` below.
        child_main(ch, true, false, false, stall, body);
    }
    ch.send(&Message::Pid(pid.as_raw()))?;
    // SAFETY: _exit is always safe; nothing of ours needs flushing.
    unsafe { libc::_exit(0) };
}

fn child_main(
    ch: &Channel,
    wait_continue: bool,
    unshare_cgroup: bool,
    new_user: bool,
    stall: Option<RawFd>,
    body: &mut dyn FnMut(&Channel) -> Result<std::convert::Infallible>,
) -> ! {
    crate::trace::child("init");
    let prepared = (|| {
        if wait_continue && new_user {
            set_dumpable_for_maps(true)?;
            ch.send(&Message::WriteIdMaps)?;
        }
        if wait_continue {
            ch.expect(&Message::Continue)?;
        }
        if new_user {
            set_dumpable_for_maps(false)?;
            become_root()?;
        }
        if unshare_cgroup {
            unshare(CloneFlags::CLONE_NEWCGROUP).ctx(|| "unshare cgroup namespace".into())?;
        }
        test_hook::stall(stall);
        Ok(())
    })();
    let err = match prepared {
        Ok(()) => match body(ch) {
            Ok(never) => match never {},
            Err(e) => e,
        },
        Err(e) => e,
    };
    let _ = ch.send(&Message::Failed(err.to_string()));
    // SAFETY: _exit is always safe; the parent's state must not be flushed from here.
    unsafe { libc::_exit(1) };
}

/// In a fresh user namespace whose maps were just written: take uid/gid 0 there.
fn become_root() -> Result<()> {
    setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0))
        .ctx(|| "setresgid to root in user namespace".into())?;
    setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0))
        .ctx(|| "setresuid to root in user namespace".into())
}

pub(crate) fn write_id_maps(
    pid: Pid,
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
) -> Result<()> {
    crate::rootless::write_id_maps(pid, uid_maps, gid_maps)
}

/// Unprivileged, the parent can only write our maps (itself or through newuidmap) while
/// /proc/<pid> belongs to its uid, which needs us dumpable. Raised only around the map
/// writes, before any container process exists (our pid namespace, if new, holds only
/// us), and lowered again before anything else happens (CVE-2019-5736).
fn set_dumpable_for_maps(on: bool) -> Result<()> {
    if nix::unistd::geteuid().is_root() && !crate::rootless::in_user_namespace() {
        return Ok(());
    }
    // SAFETY: PR_SET_DUMPABLE takes one integer argument.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, libc::c_ulong::from(on), 0, 0, 0) } < 0 {
        return Err(Error::sys(
            "prctl(PR_SET_DUMPABLE)",
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// `clone` used like `fork`: the child continues here on a copy of the stack. Returns 0 in
/// the child and the child's pid in the parent.
fn clone_fork(flags: CloneFlags) -> nix::Result<Pid> {
    let raw = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: with a null stack the kernel gives the child a copy-on-write copy of ours, as
    // fork does. The caller is single-threaded, so no lock can be held by a vanished thread.
    let ret = unsafe { libc::syscall(libc::SYS_clone, raw, 0usize, 0usize, 0usize, 0usize) };
    if ret < 0 {
        return Err(nix::errno::Errno::last());
    }
    Ok(Pid::from_raw(ret as i32))
}

/// The cgroup2 directory to clone into; None (an ordinary clone and a `cgroup.procs`
/// write afterwards) when it cannot be opened.
fn open_clone_target(dir: &std::path::Path) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)
        .ok()
}

/// linux/sched.h; libc's constant is an i32 and overflows.
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// The kernel's `struct clone_args` up to `cgroup` (CLONE_ARGS_SIZE_VER2, Linux 5.7);
/// the libc crate declares it for some targets only.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// `clone_fork`, the child born in the cgroup `target` when there is one: no
/// `cgroup.procs` write afterwards, whose cgroup migration waits for an RCU grace period
/// (the kernel's cgroup_threadgroup_rwsem). Falls back to a plain clone when clone3 or
/// CLONE_INTO_CGROUP is refused (kernels before 5.7, seccomp profiles that answer ENOSYS
/// for clone3, a cgroup that cannot take processes — the later write then says why).
/// Returns the pid (0 in the child) and whether the child is in `target`.
fn clone_fork_into(flags: CloneFlags, target: Option<&std::fs::File>) -> nix::Result<(Pid, bool)> {
    if let Some(dir) = target {
        let args = CloneArgs {
            flags: u64::from(flags.bits() as u32) | CLONE_INTO_CGROUP,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: dir.as_raw_fd() as u64,
            ..Default::default()
        };
        // SAFETY: args lives across the call and its size is passed; with stack 0 the
        // child runs on a copy-on-write copy of our stack, as with fork. The caller is
        // single-threaded, so no lock can be held by a vanished thread.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &args as *const CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if ret >= 0 {
            return Ok((Pid::from_raw(ret as i32), true));
        }
        log::debug!(
            "clone3 into the cgroup refused ({}); cloning, then joining",
            nix::errno::Errno::last()
        );
    }
    clone_fork(flags).map(|pid| (pid, false))
}

fn close_fds(fds: &[i32]) {
    for fd in fds {
        // SAFETY: the descriptors are the parent's (lock files etc.); the child owns copies it
        // must drop, and nothing in the child refers to them afterwards.
        unsafe { libc::close(*fd) };
    }
}

pub(crate) fn kill_and_reap(pid: Pid) {
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    let _ = waitpid(pid, None);
}

/// A test-only hook, compiled into debug builds only (the integration tests run
/// `target/debug/berth`): with `BERTH_TEST_STALL_FIFO=<fifo>` in the runtime's
/// environment, the spawned process stops after it has entered the container's
/// namespaces and before it runs its body (so long before execve), until one byte is
/// written to the fifo. `tests/tests/cves.rs` uses it to hold a process that still runs
/// our binary inside the container, deterministically (CVE-2019-5736). Release builds
/// ignore the variable.
mod test_hook {
    use std::fs::File;
    use std::os::fd::RawFd;

    #[cfg(debug_assertions)]
    pub(super) fn open_stall() -> Option<File> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = std::env::var_os("BERTH_TEST_STALL_FIFO")?;
        // Read-write so that opening never blocks; O_CLOEXEC is std's default.
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .ok()
    }

    #[cfg(not(debug_assertions))]
    pub(super) fn open_stall() -> Option<File> {
        None
    }

    /// Blocks until a byte arrives on the fifo (or it fails).
    pub(super) fn stall(fd: Option<RawFd>) {
        let Some(fd) = fd else { return };
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut byte = 0u8;
        // SAFETY: poll on one live pollfd, then a one-byte read into a local.
        unsafe {
            libc::poll(&mut pfd, 1, -1);
            libc::read(fd, (&mut byte as *mut u8).cast(), 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_thread_refuses_the_clone() {
        let (stop, wait) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || wait.recv());
        let e = ensure_single_threaded().unwrap_err().to_string();
        assert!(
            e.starts_with("refusing to clone a container process from a process running "),
            "{e}"
        );
        assert!(thread_count().unwrap() >= 2);
        stop.send(()).unwrap();
        t.join().unwrap().unwrap();
    }
}
