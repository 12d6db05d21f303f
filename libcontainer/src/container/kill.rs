//! `kill`: signal the init, or with `all` every process in the container's cgroup.

use super::Container;
use crate::error::{Error, Result};
use crate::signal::Sig;
use crate::state::Status;

impl Container {
    pub fn kill(&mut self, sig: Sig, all: bool) -> Result<()> {
        let _lock = self.lock()?;
        self.reload()?;
        if self.status() == Status::Stopped && !all {
            return Err(Error::NotRunning {
                id: self.id().into(),
                found: Status::Stopped,
            });
        }
        self.signal(sig, all)
    }

    pub(crate) fn signal(&self, sig: Sig, all: bool) -> Result<()> {
        if all {
            let frozen = self.status() == Status::Paused;
            for pid in self.processes()? {
                send(pid, sig)?;
            }
            // A frozen process only acts on the signal once thawed, as runc arranges too.
            if frozen && sig == Sig::KILL {
                if let Some(cgroup) = self.cgroup() {
                    cgroup.thaw()?;
                }
            }
            return Ok(());
        }
        if send_checked(self.record.pid, self.record.start_time, sig)? {
            Ok(())
        } else {
            Err(Error::NotRunning {
                id: self.id().into(),
                found: Status::Stopped,
            })
        }
    }
}

fn send(pid: i32, sig: Sig) -> Result<()> {
    // SAFETY: kill(2) takes plain integers.
    if unsafe { libc::kill(pid, sig.0) } < 0 {
        let e = nix::errno::Errno::last();
        if e != nix::errno::Errno::ESRCH {
            return Err(Error::sys(format!("signal {} to pid {pid}", sig), e));
        }
    }
    Ok(())
}

/// Signals `pid` through a pidfd opened after checking the start time, so a recycled pid
/// is never hit. False: the process is gone (or its pid is another process's now).
fn send_checked(pid: i32, start_time: u64, sig: Sig) -> Result<bool> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        return Ok(false);
    }
    // SAFETY: the kernel just returned this descriptor to us.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    if !super::process_alive(pid, Some(start_time)) {
        return Ok(false);
    }
    // SAFETY: pidfd_send_signal takes the pidfd, a signal number, a null siginfo and flags.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig.0,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        return Err(Error::sys(
            "unable to signal init",
            nix::errno::Errno::last(),
        ));
    }
    Ok(true)
}
