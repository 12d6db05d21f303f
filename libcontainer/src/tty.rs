//! The container's terminal: a pty opened inside the container, its master sent over the
//! console socket (SCM_RIGHTS, as runc does), its slave made the controlling terminal and
//! stdio of the process.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{open, OFlag};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;
use nix::unistd::dup2_stdin;
use oci_spec::runtime::{Box as ConsoleSize, Process};

use crate::error::{Error, Result, SysContext};

/// Connects to the console socket a client gave with `--console-socket`.
pub(crate) fn connect_console_socket(path: &Path) -> Result<OwnedFd> {
    let stream = UnixStream::connect(path)
        .map_err(|e| Error::sys(format!("connect console socket {}", path.display()), e))?;
    Ok(OwnedFd::from(stream))
}

/// Sends `fd` over the unix socket `socket`, with `name` as the message body.
pub(crate) fn send_fd(socket: RawFd, name: &str, fd: RawFd) -> Result<()> {
    let iov = [IoSlice::new(name.as_bytes())];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(socket, &iov, &cmsg, MsgFlags::empty(), None)
        .ctx(|| "send pty master over console socket".into())?;
    Ok(())
}

/// Opens a pty in the current (container) mount namespace, sends its master over
/// `socket`, and makes the slave this process's controlling terminal and stdio.
pub(crate) fn setup_console(socket: RawFd, size: Option<ConsoleSize>, uid: u32) -> Result<()> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .ctx(|| "open /dev/ptmx".into())?;
    grantpt(&master).ctx(|| "grantpt".into())?;
    unlockpt(&master).ctx(|| "unlockpt".into())?;
    let name = ptsname_r(&master).ctx(|| "ptsname".into())?;
    let slave = open(
        Path::new(&name),
        OFlag::O_RDWR | OFlag::O_NOCTTY,
        Mode::empty(),
    )
    .map_err(|e| Error::sys(format!("open pty slave {name}"), e))?;
    own_terminal(&slave, &name, uid)?;
    if let Some(size) = size {
        let ws = libc::winsize {
            ws_row: size.height() as u16,
            ws_col: size.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize struct from the pointer, which outlives the call.
        unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    }
    send_fd(socket, &name, master.as_raw_fd())?;
    drop(master);
    // SAFETY: TIOCSCTTY takes an integer argument; the slave fd is open and we lead our session.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } < 0 {
        return Err(Error::sys(
            "set controlling terminal",
            nix::errno::Errno::last(),
        ));
    }
    dup2_stdin(&slave).ctx(|| "dup pty to stdin".into())?;
    nix::unistd::dup2_stdout(&slave).ctx(|| "dup pty to stdout".into())?;
    nix::unistd::dup2_stderr(&slave).ctx(|| "dup pty to stderr".into())?;
    Ok(())
}

/// The process may run as another user; it must still own its terminal. Only the owner
/// changes, as in runc: the group stays the one devpts gave (`gid=5`, tty), so programs
/// that write to others' terminals through the tty group keep working. A terminal whose
/// owner is not mapped here (EINVAL, EPERM) or on a read-only /dev stays as it is.
fn own_terminal(slave: &OwnedFd, name: &str, uid: u32) -> Result<()> {
    let uid = nix::unistd::Uid::from_raw(uid);
    let st = nix::sys::stat::fstat(slave).ctx(|| format!("stat {name}"))?;
    if st.st_uid == uid.as_raw() {
        return Ok(());
    }
    match nix::unistd::fchown(slave, Some(uid), None) {
        Err(Errno::EINVAL | Errno::EPERM | Errno::EROFS) => Ok(()),
        other => other.ctx(|| format!("chown {name}")),
    }
}

/// A new session for the container process; with `process.terminal`, a pty from inside
/// the container becomes its controlling terminal, the master going over `socket`.
pub(crate) fn new_session(process: &Process, socket: Option<RawFd>) -> Result<()> {
    nix::unistd::setsid().ctx(|| "setsid".into())?;
    if process.terminal() != Some(true) {
        return Ok(());
    }
    let socket =
        socket.ok_or_else(|| Error::Config("terminal requested but no console socket".into()))?;
    setup_console(socket, process.console_size(), process.user().uid())?;
    // SAFETY: the socket is ours and used for nothing after the master was sent.
    unsafe { libc::close(socket) };
    Ok(())
}
