//! A `--console-socket` receiver: accepts one connection, takes the pty master passed
//! with SCM_RIGHTS, and reads everything the container writes to its terminal.

use std::io::Read;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

pub struct ConsoleSocket {
    path: PathBuf,
    rx: mpsc::Receiver<Result<String, String>>,
    _thread: JoinHandle<()>,
}

impl ConsoleSocket {
    /// Listen at `dir/console.sock`.
    pub fn new(dir: &Path) -> ConsoleSocket {
        let path = dir.join(format!("console-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind console socket");
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            let _ = tx.send(receive(listener));
        });
        ConsoleSocket {
            path,
            rx,
            _thread: thread,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }

    /// Everything read from the pty master until the container side closed it
    /// (waits up to 20s); `\r\n` turned into `\n`.
    #[track_caller]
    pub fn output(&self) -> String {
        match self.rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Ok(s)) => s.replace("\r\n", "\n"),
            Ok(Err(e)) => panic!("console socket: {e}"),
            Err(_) => panic!("console socket: no pty master / output within 20s"),
        }
    }
}

fn receive(listener: UnixListener) -> Result<String, String> {
    use std::os::fd::AsRawFd;
    let (stream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let fd = recv_fd(stream.as_raw_fd())?;
    let mut master = std::fs::File::from(fd);
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match master.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // EIO: every slave side closed; the container is done with the terminal.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read pty master: {e}")),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Receive one fd sent with SCM_RIGHTS (runc sends the pty name as the data).
fn recv_fd(sock: i32) -> Result<OwnedFd, String> {
    let mut data = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // Room for a few fds' worth of control data.
    let mut cmsg = [0u64; 16];
    // SAFETY: msghdr points at buffers that outlive the call; CMSG_* walk only within
    // msg_controllen as returned by the kernel.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cmsg.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&cmsg) as _;
        let n = libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC);
        if n < 0 {
            return Err(format!("recvmsg: {}", std::io::Error::last_os_error()));
        }
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                let fd = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32);
                return Ok(OwnedFd::from_raw_fd(fd));
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    Err("no SCM_RIGHTS fd in the message".into())
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
