//! Foreground `run` and `exec`: wait for the container process, forward the signals we
//! get to it, and relay our terminal to its pty when it has one.

use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use anyhow::Context;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{
    recvmsg, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

/// Where a process's pty master goes: the client's `--console-socket`, or — when `berth`
/// stays in the foreground and the process wants a terminal — a relay of our own, whose
/// master [`receive_master`] collects once the process is set up.
pub fn console(
    socket: Option<&Path>,
    relay_terminal: bool,
) -> anyhow::Result<(libcontainer::Console, Option<TerminalRelay>)> {
    if let Some(path) = socket {
        return Ok((libcontainer::Console::Socket(path.to_path_buf()), None));
    }
    if !relay_terminal {
        return Ok((libcontainer::Console::None, None));
    }
    let relay = TerminalRelay::new()?;
    Ok((libcontainer::Console::Fd(relay.child_end()?), Some(relay)))
}

/// The pty master of a relay made by [`console`], if one was made.
pub fn receive_master(relay: Option<TerminalRelay>) -> anyhow::Result<Option<OwnedFd>> {
    relay.map(TerminalRelay::receive_master).transpose()
}

/// The receiving end for a pty master when `berth` itself relays the terminal.
pub struct TerminalRelay {
    ours: OwnedFd,
    theirs: OwnedFd,
}

impl TerminalRelay {
    pub fn new() -> anyhow::Result<Self> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::Stream,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .context("console socketpair")?;
        Ok(TerminalRelay { ours, theirs })
    }

    pub fn child_end(&self) -> anyhow::Result<OwnedFd> {
        Ok(self.theirs.try_clone()?)
    }

    /// The master the container sent while it was being set up.
    pub fn receive_master(self) -> anyhow::Result<OwnedFd> {
        drop(self.theirs);
        let mut buf = [0u8; 4096];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            self.ours.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .context("receive pty master")?;
        for c in msg.cmsgs().context("receive pty master")? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(fd) = fds.first() {
                    // SAFETY: the kernel installed this descriptor for us just now.
                    return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
                }
            }
        }
        anyhow::bail!("container sent no pty master")
    }
}

/// Restores the terminal mode on drop.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Waits for `pid` (our child) to exit and returns its exit code (128+n for a signal),
/// forwarding every catchable signal we receive meanwhile.
pub fn wait(pid: i32, pty: Option<OwnedFd>) -> anyhow::Result<i32> {
    let pid = Pid::from_raw(pid);
    let mut mask = SigSet::all();
    mask.remove(Signal::SIGKILL);
    mask.remove(Signal::SIGSTOP);
    mask.thread_set_mask().context("block signals")?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context("signalfd")?;
    let _raw = pty.as_ref().and_then(|_| RawMode::enter());
    if let Some(master) = &pty {
        resize(master.as_fd());
    }
    let mut stdin_open = pty.is_some();
    let mut master_open = pty.is_some();
    loop {
        if let Some(code) = reap(pid)? {
            if let Some(master) = &pty {
                drain(master.as_fd());
            }
            return Ok(code);
        }
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(master) = &pty {
            if master_open {
                fds.push(PollFd::new(master.as_fd(), PollFlags::POLLIN));
            }
            if stdin_open {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("poll"),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        if ready[0] {
            while let Ok(Some(info)) = sfd.read_signal() {
                let signo = info.ssi_signo as i32;
                if signo == libc::SIGCHLD {
                    continue;
                }
                if signo == libc::SIGWINCH {
                    if let Some(master) = &pty {
                        resize(master.as_fd());
                    }
                    continue;
                }
                // SAFETY: kill(2) takes plain integers.
                unsafe { libc::kill(pid.as_raw(), signo) };
                break;
            }
        }
        if let Some(master) = &pty {
            let mut i = 1;
            if master_open {
                if ready.get(i).copied().unwrap_or(false)
                    && !copy(master.as_fd(), std::io::stdout().as_fd())
                {
                    master_open = false;
                }
                i += 1;
            }
            if stdin_open
                && ready.get(i).copied().unwrap_or(false)
                && !copy(std::io::stdin().as_fd(), master.as_fd())
            {
                stdin_open = false;
            }
        }
    }
}

fn reap(pid: Pid) -> anyhow::Result<Option<i32>> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == pid => return Ok(Some(128 + sig as i32)),
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(nix::errno::Errno::ECHILD) => {
                anyhow::bail!("container process {pid} is not our child")
            }
            Err(e) => return Err(e).context("waitpid"),
        }
    }
}

/// Copies what is available from `from` to `to`; false at end of input.
fn copy(from: BorrowedFd, to: BorrowedFd) -> bool {
    let mut buf = [0u8; 8192];
    match nix::unistd::read(from, &mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            let mut off = 0;
            while off < n {
                match nix::unistd::write(to, &buf[off..n]) {
                    Ok(w) => off += w,
                    Err(nix::errno::Errno::EINTR) => {}
                    Err(_) => return false,
                }
            }
            true
        }
    }
}

/// Whatever the process wrote just before exiting.
fn drain(master: BorrowedFd) {
    let _ = nix::fcntl::fcntl(
        master,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    );
    while copy(master, std::io::stdout().as_fd()) {}
}

fn resize(master: BorrowedFd) {
    let mut ws: libc::winsize = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct we own; TIOCSWINSZ reads it.
    unsafe {
        if libc::ioctl(libc::STDIN_FILENO, libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}
