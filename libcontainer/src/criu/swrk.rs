//! One conversation with `criu swrk`: a request over a SOCK_SEQPACKET socket pair, the
//! notifications CRIU sends while it works (each answered), and its final response.
//! CRIU is told the socket's descriptor number on its command line, so nothing needs
//! to be moved between fork and exec; the descriptors it must share with us (image and
//! work directories, a network namespace) are made inheritable only around the spawn.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{
    send, shutdown, socketpair, AddressFamily, MsgFlags, Shutdown, SockFlag, SockType,
};
use protobuf::Message;
use rust_criu::rust_criu_protobuf::rpc::{Criu_opts, Criu_req, Criu_req_type, Criu_resp};

use super::{CriuError, MIN_VERSION};

/// CRIU's largest message is far below this (runc reads with the same size).
const RECV_BUF: usize = 10 * 4096;
/// How long CRIU may take to exit once it has answered and its socket is closed.
const EXIT_GRACE: Duration = Duration::from_secs(30);

/// What CRIU's stdin, stdout and stderr are: a restore gives it the restored process's
/// (its stdio pipes are rebuilt from these), a dump gets /dev/null.
pub(crate) enum Streams<'a> {
    Null,
    /// The given descriptors; a stream not given is ours.
    Given(&'a crate::process::stdio::Stdio),
}

/// A request to send: its type and options.
pub(crate) struct Request {
    pub kind: Criu_req_type,
    pub opts: Option<Criu_opts>,
}

/// A notification CRIU sent mid-request (`post-dump`, `setup-namespaces`,
/// `post-restore`, `orphan-pts-master`, ...).
pub(crate) struct Notify {
    pub script: String,
    pub pid: i32,
    /// A descriptor that came with it (the pty master of `orphan-pts-master`).
    pub fd: Option<OwnedFd>,
}

pub(crate) struct Conversation {
    child: Option<Child>,
    sock: Option<OwnedFd>,
    kind: &'static str,
    log: PathBuf,
}

impl Conversation {
    /// Starts `criu swrk`. `inherit` are our descriptors CRIU gets under the same
    /// numbers.
    pub(crate) fn start(
        criu: &Path,
        kind: Criu_req_type,
        log: PathBuf,
        inherit: &[RawFd],
        streams: Streams<'_>,
    ) -> Result<Conversation, CriuError> {
        let kind = kind_name(kind);
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )
        .map_err(|e| CriuError::sys("criu socket pair", e))?;
        let mut command = Command::new(if criu.as_os_str().is_empty() {
            Path::new("criu")
        } else {
            criu
        });
        command.arg("swrk").arg(theirs.as_raw_fd().to_string());
        match streams {
            Streams::Null => {
                command
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
            }
            Streams::Given(given) => {
                let dup = |fd: &Option<OwnedFd>| -> Result<Option<Stdio>, CriuError> {
                    fd.as_ref()
                        .map(|fd| fd.try_clone().map(Stdio::from))
                        .transpose()
                        .map_err(|e| CriuError::sys("dup stdio for criu", e))
                };
                if let Some(s) = dup(&given.stdin)? {
                    command.stdin(s);
                }
                if let Some(s) = dup(&given.stdout)? {
                    command.stdout(s);
                }
                if let Some(s) = dup(&given.stderr)? {
                    command.stderr(s);
                }
            }
        }
        let shared: Vec<RawFd> = inherit
            .iter()
            .copied()
            .chain([theirs.as_raw_fd()])
            .collect();
        set_inheritable(&shared, true)?;
        let spawned = command.spawn();
        set_inheritable(&shared, false)?;
        drop(theirs);
        let child = spawned.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => CriuError::NotFound(criu.display().to_string()),
            _ => CriuError::sys("start criu swrk", e),
        })?;
        Ok(Conversation {
            child: Some(child),
            sock: Some(ours),
            kind,
            log,
        })
    }

    /// CRIU's pid (a restore puts it in the container's cgroup before asking).
    pub(crate) fn pid(&self) -> i32 {
        self.child.as_ref().map_or(0, |c| c.id() as i32)
    }

    /// Sends `request`, answers each notification with `on_notify` (a handler error
    /// ends the conversation: CRIU is told the notification failed) and returns CRIU's
    /// final response once CRIU has exited.
    pub(crate) fn run(
        mut self,
        request: Request,
        on_notify: &mut dyn FnMut(Notify) -> Result<(), CriuError>,
    ) -> Result<Criu_resp, CriuError> {
        let mut req = Criu_req::new();
        req.set_type(request.kind);
        if let Some(opts) = request.opts {
            req.opts = protobuf::MessageField::some(opts);
        }
        self.send(&req)?;
        let resp = loop {
            let (resp, fd) = self.recv()?;
            if !resp.success() {
                return Err(self.failed(&resp));
            }
            if resp.type_() != Criu_req_type::NOTIFY {
                break resp;
            }
            let notify = Notify {
                script: resp.notify.script().to_string(),
                pid: resp.notify.pid(),
                fd,
            };
            let outcome = on_notify(notify);
            let mut answer = Criu_req::new();
            answer.set_type(Criu_req_type::NOTIFY);
            answer.set_notify_success(outcome.is_ok());
            self.send(&answer)?;
            outcome?;
        };
        if resp.type_() != request.kind {
            return Err(self.broken(format!("unexpected response type {:?}", resp.type_())));
        }
        let status = self.finish();
        // A pre-dump leaves CRIU waiting for the next request; it is told to stop by the
        // closed socket and its exit status says nothing.
        match status {
            Some(code) if code != 0 && request.kind != Criu_req_type::PRE_DUMP => {
                Err(self.broken(format!("exited with status {code}")))
            }
            _ => Ok(resp),
        }
    }

    fn send(&self, req: &Criu_req) -> Result<(), CriuError> {
        let data = req
            .write_to_bytes()
            .map_err(|e| self.broken(format!("encode request: {e}")))?;
        let sock = self.sock.as_ref().map(|s| s.as_raw_fd()).unwrap_or(-1);
        send(sock, &data, MsgFlags::MSG_NOSIGNAL)
            .map_err(|e| self.broken(format!("send request: {e}")))?;
        Ok(())
    }

    fn recv(&self) -> Result<(Criu_resp, Option<OwnedFd>), CriuError> {
        let sock = self.sock.as_ref().map(|s| s.as_raw_fd()).unwrap_or(-1);
        let mut buf = vec![0u8; RECV_BUF];
        let (n, mut fds) = loop {
            match crate::utils::recv_with_fds(sock, &mut buf, MsgFlags::empty()) {
                Ok(got) => break got,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(self.broken(format!("read response: {e}"))),
            }
        };
        if n == 0 {
            return Err(self.broken("exited before it answered".into()));
        }
        if n == RECV_BUF {
            return Err(self.broken("response too large".into()));
        }
        let resp = Criu_resp::parse_from_bytes(&buf[..n])
            .map_err(|e| self.broken(format!("decode response: {e}")))?;
        Ok((resp, fds.pop()))
    }

    /// Closes our end and waits (bounded) for CRIU to exit; its exit code, if it did.
    fn finish(&mut self) -> Option<i32> {
        if let Some(sock) = self.sock.take() {
            let _ = shutdown(sock.as_raw_fd(), Shutdown::Write);
        }
        let mut child = self.child.take()?;
        if !crate::utils::wait_exit(child.id() as i32, EXIT_GRACE) {
            log::warn!("criu {} did not exit; killing it", child.id());
            let _ = child.kill();
        }
        child.wait().ok().map(|s| s.code().unwrap_or(128))
    }

    fn failed(&mut self, resp: &Criu_resp) -> CriuError {
        self.finish();
        CriuError::Failed {
            kind: self.kind,
            errno: resp.cr_errno(),
            cause: first_log_error(&self.log)
                .or_else(|| resp.cr_errmsg.clone().filter(|m| !m.is_empty())),
            log: self.log.clone(),
        }
    }

    fn broken(&self, reason: String) -> CriuError {
        CriuError::Broken {
            kind: self.kind,
            reason,
            log: self.log.clone(),
        }
    }
}

impl Drop for Conversation {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Asks CRIU its version and refuses one older than berth can drive.
pub(crate) fn check_version(criu: &Path) -> Result<u32, CriuError> {
    let conversation = Conversation::start(
        criu,
        Criu_req_type::VERSION,
        PathBuf::from("-"),
        &[],
        Streams::Null,
    )?;
    let resp = conversation.run(
        Request {
            kind: Criu_req_type::VERSION,
            opts: None,
        },
        &mut |_| Ok(()),
    )?;
    let v = &resp.version;
    let version = (v.major_number() * 10000 + v.minor_number() * 100 + v.sublevel()) as u32;
    if version < MIN_VERSION {
        return Err(CriuError::TooOld {
            found: format!("{}.{}.{}", v.major_number(), v.minor_number(), v.sublevel()),
            need: "3.0".into(),
        });
    }
    Ok(version)
}

fn set_inheritable(fds: &[RawFd], inheritable: bool) -> Result<(), CriuError> {
    let flags = if inheritable {
        FdFlag::empty()
    } else {
        FdFlag::FD_CLOEXEC
    };
    for fd in fds {
        // SAFETY: the caller owns these descriptors for the whole conversation.
        let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(*fd) };
        fcntl(borrowed, FcntlArg::F_SETFD(flags))
            .map_err(|e| CriuError::sys(format!("set close-on-exec of fd {fd}"), e))?;
    }
    Ok(())
}

/// The first `Error (...)` line of CRIU's log: usually the cause, where the last lines
/// only say that everything after it was undone.
fn first_log_error(log: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().find(|l| l.contains("Error (")).map(|l| {
        l.trim()
            .trim_start_matches(|c: char| {
                c == '(' || c.is_ascii_digit() || c == '.' || c == ')' || c == ' '
            })
            .to_string()
    })
}

fn kind_name(kind: Criu_req_type) -> &'static str {
    match kind {
        Criu_req_type::DUMP => "DUMP",
        Criu_req_type::PRE_DUMP => "PRE_DUMP",
        Criu_req_type::RESTORE => "RESTORE",
        Criu_req_type::VERSION => "VERSION",
        Criu_req_type::FEATURE_CHECK => "FEATURE_CHECK",
        _ => "REQUEST",
    }
}
