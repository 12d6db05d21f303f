//! The long-running shim: one thread, one poll loop over the ttrpc listener, its
//! connections, a signalfd (SIGCHLD, SIGTERM, SIGINT) and the terminal relays.
//!
//! Single-threaded on purpose: container processes are cloned from this process by
//! libcontainer, which is only sound when no other thread exists (see docs/shim.md).
//! libcontainer refuses to clone when another thread exists.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;

use anyhow::Context;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};

use crate::args::Args;
use crate::events::Publisher;
use crate::idle::Idle;
use crate::service::{Reply, Service};
use crate::start::LISTENER_FD;
use crate::wire::Conn;

/// Libcontainer's state root for a namespace, as runc's shim uses /run/containerd/runc.
/// A containerd on another address (tests, a second daemon) gets its own root, so equal
/// container ids of two daemons never share state.
pub fn state_root(namespace: &str, address: &str) -> PathBuf {
    let base = PathBuf::from("/run/containerd/berth");
    if address.is_empty() || address == DEFAULT_ADDRESS {
        base.join(namespace)
    } else {
        let h = crate::start::stable_hash(&[address]);
        base.join(format!("{namespace}-{h:016x}"))
    }
}

const DEFAULT_ADDRESS: &str = "/run/containerd/containerd.sock";

/// The socket file `start` bound for us: removed as soon as the shim decides to exit
/// (a shim killed while it drains its last events must not leave it behind, and a
/// `start` for the group must not join a dying shim), and whenever `run` returns. Only
/// while it is still ours: a new shim of the group may have bound the path since.
struct SocketFile(Option<(PathBuf, (u64, u64))>);

impl SocketFile {
    fn new(address: Option<&str>) -> SocketFile {
        use std::os::unix::fs::MetadataExt;
        SocketFile(address.and_then(|a| {
            let path = PathBuf::from(a.trim_start_matches("unix://"));
            let m = std::fs::metadata(&path).ok()?;
            Some((path, (m.dev(), m.ino())))
        }))
    }

    fn remove(&mut self) {
        use std::os::unix::fs::MetadataExt;
        if let Some((path, id)) = self.0.take() {
            if std::fs::metadata(&path).is_ok_and(|m| (m.dev(), m.ino()) == id) {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        self.remove();
    }
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    let mut socket_file = SocketFile::new(args.socket.as_deref());
    // SAFETY: `start` put the listening socket at LISTENER_FD for us; nothing else owns it.
    let listener = unsafe { UnixListener::from_raw_fd(LISTENER_FD) };
    nix::fcntl::fcntl(
        listener.as_fd(),
        nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
    )
    .context("listener cloexec")?;
    listener.set_nonblocking(true).context("listener")?;
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } < 0 {
        return Err(std::io::Error::last_os_error()).context("become subreaper");
    }
    let mut mask = SigSet::empty();
    for s in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT] {
        mask.add(s);
    }
    mask.thread_block().context("block signals")?;
    let sfd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .context("signalfd")?;

    let root = state_root(&args.namespace, &args.address);
    std::fs::create_dir_all(&root).with_context(|| format!("create {}", root.display()))?;
    let mut svc = Service {
        root,
        tasks: Default::default(),
        publisher: Publisher::new(
            std::env::var("TTRPC_ADDRESS").ok(),
            args.publish_binary.clone(),
            args.address.clone(),
            args.namespace.clone(),
        ),
        unified: crate::metrics::unified_host(),
        answers: Vec::new(),
        shutdown: false,
    };
    let idle = Idle::new();
    let mut conns: Vec<Conn> = Vec::new();
    let mut next_conn = 0u64;
    let mut worked = true;
    loop {
        flush_answers(&mut svc, &mut conns);
        if svc.shutdown {
            socket_file.remove();
            if svc.publisher.idle() {
                break;
            }
        }
        if std::mem::take(&mut worked) {
            idle.give_back();
        }
        let relay_fds: Vec<(RawFd, PollFlags)> = svc
            .tasks
            .values()
            .flat_map(|t| std::iter::once(&t.init).chain(t.execs.values()))
            .flat_map(|p| p.relays.iter().filter_map(|r| r.interest()))
            .collect();
        let oom_fds: Vec<(String, RawFd)> = svc
            .tasks
            .iter()
            .filter_map(|(id, t)| Some((id.clone(), t.oom.as_ref()?.as_fd().as_raw_fd())))
            .collect();
        let mut fds = vec![
            PollFd::new(listener.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        for c in &conns {
            fds.push(PollFd::new(c.stream.as_fd(), PollFlags::POLLIN));
        }
        for (fd, ev) in &relay_fds {
            // SAFETY: the relays own these descriptors and outlive this poll call.
            fds.push(PollFd::new(unsafe { BorrowedFd::borrow_raw(*fd) }, *ev));
        }
        for (_, fd) in &oom_fds {
            // SAFETY: the tasks own their OOM watchers, which outlive this poll call.
            let fd = unsafe { BorrowedFd::borrow_raw(*fd) };
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let publisher_fd = svc.publisher.poll_fd().map(|fd| fd.as_raw_fd());
        if let Some(fd) = publisher_fd {
            // SAFETY: the publisher owns its connection, which outlives this poll call.
            fds.push(PollFd::new(
                unsafe { BorrowedFd::borrow_raw(fd) },
                PollFlags::POLLIN,
            ));
        }
        let timeout = match svc.publisher.timeout() {
            // Rounded up: a deadline a few µs away must not become a busy loop.
            Some(d) => PollTimeout::try_from(d.as_millis() + 1).unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("poll"),
        }
        let ready = |i: usize| fds[i].revents().is_some_and(|r| !r.is_empty());
        let listener_ready = ready(0);
        let signals_ready = ready(1);
        let conn_ready: Vec<bool> = (0..conns.len()).map(|i| ready(2 + i)).collect();
        let relays_ready = (0..relay_fds.len()).any(|i| ready(2 + conns.len() + i));
        let oom_base = 2 + conns.len() + relay_fds.len();
        let oom_ready: Vec<String> = (0..oom_fds.len())
            .filter(|i| ready(oom_base + i))
            .map(|i| oom_fds[i].0.clone())
            .collect();
        let publisher_ready = publisher_fd.is_some() && ready(oom_base + oom_fds.len());
        drop(fds);

        if publisher_ready {
            svc.publisher.readable();
        }
        svc.publisher.expire();

        // Before the reaper, so containerd hears of the OOM before the exit it caused.
        for id in oom_ready {
            svc.oom_ready(&id);
        }

        if signals_ready && handle_signals(&sfd, &mut svc) {
            break;
        }
        if listener_ready {
            while let Ok((stream, _)) = listener.accept() {
                if stream.set_nonblocking(false).is_ok() {
                    next_conn += 1;
                    conns.push(Conn::new(next_conn, stream));
                }
            }
        }
        let mut closed = Vec::new();
        for (i, conn) in conns.iter_mut().enumerate() {
            if !conn_ready.get(i).copied().unwrap_or(false) {
                continue;
            }
            worked = true;
            match conn.read_requests() {
                Ok(Some(requests)) => {
                    for inc in requests {
                        if let Reply::Now(resp) = svc.handle(conn.id, inc.stream_id, &inc.request) {
                            if conn.send(inc.stream_id, &resp).is_err() {
                                closed.push(conn.id);
                            }
                        }
                    }
                }
                Ok(None) | Err(_) => closed.push(conn.id),
            }
        }
        for id in closed {
            conns.retain(|c| c.id != id);
            svc.forget_connection(id);
        }
        if relays_ready {
            pump_relays(&mut svc);
        }
    }
    Ok(())
}

fn pump_relays(svc: &mut Service) {
    for task in svc.tasks.values_mut() {
        for p in std::iter::once(&mut task.init).chain(task.execs.values_mut()) {
            for r in &mut p.relays {
                r.pump();
            }
            p.relays.retain(|r| !r.done());
        }
    }
}

fn flush_answers(svc: &mut Service, conns: &mut [Conn]) {
    for (conn_id, stream, resp) in std::mem::take(&mut svc.answers) {
        if let Some(conn) = conns.iter_mut().find(|c| c.id == conn_id) {
            if let Err(e) = conn.send(stream, &resp) {
                log::warn!("answer wait: {e}");
            }
        }
    }
}

/// Reaps every exited child; returns true when asked to terminate.
fn handle_signals(sfd: &SignalFd, svc: &mut Service) -> bool {
    let mut terminate = false;
    while let Ok(Some(info)) = sfd.read_signal() {
        if info.ssi_signo == libc::SIGTERM as u32 || info.ssi_signo == libc::SIGINT as u32 {
            terminate = true;
        }
    }
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => svc.reaped(pid.as_raw(), code << 8),
            Ok(WaitStatus::Signaled(pid, sig, _)) => svc.reaped(pid.as_raw(), sig as i32),
            Ok(WaitStatus::StillAlive) | Err(_) => break,
            Ok(_) => {}
        }
    }
    let _ = sfd.as_raw_fd();
    terminate
}
