//! The standard streams a caller hands to a container process (the containerd shim gives
//! fifos or pipes): duplicated onto 0, 1 and 2 in the child before anything else runs.

use std::os::fd::{AsRawFd, OwnedFd};

use crate::error::{Result, SysContext};

/// Descriptors to become the process's stdin, stdout and stderr; `None` keeps what the
/// caller's process has there.
#[derive(Debug, Default)]
pub struct Stdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

impl Stdio {
    pub fn is_empty(&self) -> bool {
        self.stdin.is_none() && self.stdout.is_none() && self.stderr.is_none()
    }

    /// First thing in the child: a clean signal state (nothing blocked, SIGPIPE back to
    /// its default — Rust ignores it, and both survive exec), then the streams.
    pub(crate) fn child_prelude(&self) -> Result<()> {
        use nix::sys::signal::{signal, SigHandler, SigSet, Signal};
        SigSet::empty()
            .thread_set_mask()
            .ctx(|| "reset signal mask".into())?;
        // SAFETY: restoring the default disposition installs no handler code.
        unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) }.ctx(|| "reset SIGPIPE".into())?;
        self.install()
    }

    /// In the child: dup2 each given descriptor onto its standard number. dup2 clears
    /// CLOEXEC on the target, so the streams survive the exec; the originals are closed by
    /// the usual CLOEXEC sweep.
    pub(crate) fn install(&self) -> Result<()> {
        for (fd, target) in [(&self.stdin, 0), (&self.stdout, 1), (&self.stderr, 2)] {
            if let Some(fd) = fd {
                // SAFETY: dup2 takes two integers; both descriptors belong to this process.
                if unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
                    return Err(nix::errno::Errno::last())
                        .ctx(|| format!("dup2 stdio onto {target}"));
                }
            }
        }
        Ok(())
    }
}
