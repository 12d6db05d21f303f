//! Terminals: a socketpair whose far end libcontainer hands to the container process,
//! which sends back its pty master (SCM_RIGHTS), as runc's console socket does.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType,
};

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("console socketpair: {0}")]
    Pair(nix::errno::Errno),
    #[error("receive pty master: {0}")]
    Receive(nix::errno::Errno),
    #[error("container sent no pty master")]
    NoMaster,
}

/// (our end, the end for the container).
pub fn pair() -> Result<(OwnedFd, OwnedFd), ConsoleError> {
    socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(ConsoleError::Pair)
}

pub fn receive_master(ours: &OwnedFd) -> Result<OwnedFd, ConsoleError> {
    let mut buf = [0u8; 4096];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        ours.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )
    .map_err(ConsoleError::Receive)?;
    for c in msg.cmsgs().map_err(ConsoleError::Receive)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel installed this descriptor for us just now.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(ConsoleError::NoMaster)
}
