//! The runtime ↔ container-process channel: a SOCK_SEQPACKET socketpair carrying one
//! [`Message`] per datagram as JSON, with file descriptors alongside as SCM_RIGHTS.
//! The protocol itself (who sends what, when) is written down in docs/process-protocol.md.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    sendmsg, socketpair, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Every message either side sends. Parent = the `berth` process that creates or execs;
/// child = the process that becomes the container's init or the exec'd process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Message {
    /// parent → child: uid/gid maps are written and the child is in its cgroup; go on.
    Continue,
    /// child → parent: I am in a new user namespace (and dumpable if unprivileged);
    /// write my maps.
    WriteIdMaps,
    /// child → parent (two-step spawn only): the host pid of the process that will exec.
    Pid(i32),
    /// child → parent: mounts are done, run the prestart and createRuntime hooks now.
    RunRuntimeHooks,
    /// parent → child: those hooks ran.
    HooksDone,
    /// child → parent: set up and about to wait for `start` (init) or exec (exec).
    Ready,
    /// child → parent: the seccomp notification listener goes with this (SCM_RIGHTS);
    /// forward it to the spec's listenerPath.
    SeccompListener,
    /// parent → child: the listener was handed on.
    SeccompListenerDone,
    /// child → parent (new user namespace, bind mounts): open my bind sources for me.
    OpenBindSources,
    /// parent → child: the source of `spec.mounts()[index]`, opened (SCM_RIGHTS).
    BindSource(usize),
    /// parent → child: every source that could be opened was sent.
    BindSourcesDone,
    /// child → parent: setup failed; the text is the whole error.
    Failed(String),
}

const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug)]
pub(crate) struct Channel {
    fd: OwnedFd,
}

/// A connected pair: `.0` for the parent, `.1` for the child.
pub(crate) fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(|e| Error::sys("create sync socketpair", e))?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub(crate) fn send(&self, msg: &Message) -> Result<()> {
        self.send_with_fds(msg, &[])
    }

    pub(crate) fn send_with_fds(&self, msg: &Message, fds: &[RawFd]) -> Result<()> {
        let data =
            serde_json::to_vec(msg).map_err(|e| Error::Protocol(format!("encode {msg:?}: {e}")))?;
        let iov = [IoSlice::new(&data)];
        let cmsgs: Vec<ControlMessage> = if fds.is_empty() {
            vec![]
        } else {
            vec![ControlMessage::ScmRights(fds)]
        };
        loop {
            match sendmsg::<()>(
                self.fd.as_raw_fd(),
                &iov,
                &cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("send on sync socket", e)),
            }
        }
    }

    /// The next message; `Ok(None)` when the other side closed without a word (it died).
    pub(crate) fn recv(&self) -> Result<Option<Message>> {
        Ok(self.recv_with_fds()?.map(|(msg, _)| msg))
    }

    pub(crate) fn recv_with_fds(&self) -> Result<Option<(Message, Vec<OwnedFd>)>> {
        self.receive(MsgFlags::empty())
    }

    /// Only what is already queued: `Ok(None)` when nothing is (or the peer is gone).
    /// For reading a failing child's last word without waiting on a child that is alive
    /// and waiting for us.
    pub(crate) fn try_recv(&self) -> Result<Option<Message>> {
        Ok(self.receive(MsgFlags::MSG_DONTWAIT)?.map(|(msg, _)| msg))
    }

    fn receive(&self, flags: MsgFlags) -> Result<Option<(Message, Vec<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let (len, fds) = loop {
            match crate::utils::recv_with_fds(self.fd.as_raw_fd(), &mut buf, flags) {
                Ok(got) => break got,
                Err(nix::errno::Errno::EINTR) => continue,
                // The peer closed with a message of ours unread. The kernel reports that
                // once, ahead of what the peer sent before it went (its `Failed`, say),
                // which is still queued: read on.
                Err(nix::errno::Errno::ECONNRESET) => continue,
                Err(nix::errno::Errno::EAGAIN) if flags.contains(MsgFlags::MSG_DONTWAIT) => {
                    return Ok(None)
                }
                Err(e) => return Err(Error::sys("receive on sync socket", e)),
            }
        };
        if len == 0 {
            return Ok(None);
        }
        let msg = serde_json::from_slice(&buf[..len])
            .map_err(|e| Error::Protocol(format!("malformed message on sync socket: {e}")))?;
        Ok(Some((msg, fds)))
    }

    /// Waits for `want`; a `Failed` or a closed channel becomes the error.
    pub(crate) fn expect(&self, want: &Message) -> Result<()> {
        match self.recv()? {
            Some(ref got) if got == want => Ok(()),
            Some(Message::Failed(text)) => Err(Error::Start(text)),
            Some(other) => Err(Error::Protocol(format!(
                "sync: expected {want:?}, got {other:?}"
            ))),
            None => Err(Error::Start(format!(
                "process exited before sending {want:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fds_cross() {
        let (a, b) = pair().unwrap();
        a.send(&Message::Pid(42)).unwrap();
        assert_eq!(b.recv().unwrap(), Some(Message::Pid(42)));
        let file = std::fs::File::open("/dev/null").unwrap();
        b.send_with_fds(&Message::Ready, &[file.as_raw_fd()])
            .unwrap();
        let (msg, fds) = a.recv_with_fds().unwrap().unwrap();
        assert_eq!(msg, Message::Ready);
        assert_eq!(fds.len(), 1);
        drop(b);
        assert_eq!(a.recv().unwrap(), None);
    }

    #[test]
    fn a_peer_that_died_with_our_message_unread_still_said_its_last_word() {
        let (a, b) = pair().unwrap();
        b.send(&Message::Failed("no such namespace".into()))
            .unwrap();
        a.send(&Message::Continue).unwrap();
        drop(b);
        assert_eq!(
            a.recv().unwrap(),
            Some(Message::Failed("no such namespace".into()))
        );
        assert_eq!(a.recv().unwrap(), None);
    }

    #[test]
    fn try_recv_does_not_wait_for_a_live_peer() {
        let (a, b) = pair().unwrap();
        assert_eq!(a.try_recv().unwrap(), None);
        b.send(&Message::Ready).unwrap();
        assert_eq!(a.try_recv().unwrap(), Some(Message::Ready));
    }
}
