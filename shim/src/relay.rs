//! Byte relays for terminals, driven by the shim's poll loop: stdin fifo → pty master and
//! pty master → stdout fifo. Each relay buffers at most one chunk: it asks to read only
//! when its buffer is empty and to write only when it holds data.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::poll::PollFlags;

const CHUNK: usize = 32 * 1024;

pub struct Relay {
    src: OwnedFd,
    dst: OwnedFd,
    buf: Vec<u8>,
    done: bool,
}

impl Relay {
    pub fn new(src: OwnedFd, dst: OwnedFd) -> Relay {
        set_nonblock(&src);
        set_nonblock(&dst);
        Relay {
            src,
            dst,
            buf: Vec::new(),
            done: false,
        }
    }

    pub fn done(&self) -> bool {
        self.done
    }

    /// The descriptor and events to poll for, or None once finished.
    pub fn interest(&self) -> Option<(RawFd, PollFlags)> {
        if self.done {
            None
        } else if self.buf.is_empty() {
            Some((self.src.as_raw_fd(), PollFlags::POLLIN))
        } else {
            Some((self.dst.as_raw_fd(), PollFlags::POLLOUT))
        }
    }

    /// Moves bytes as far as possible without blocking.
    pub fn pump(&mut self) {
        while !self.done {
            if self.buf.is_empty() {
                let mut chunk = vec![0u8; CHUNK];
                match nix::unistd::read(self.src.as_fd(), &mut chunk) {
                    Ok(0) => self.done = true,
                    Ok(n) => {
                        chunk.truncate(n);
                        self.buf = chunk;
                    }
                    Err(Errno::EAGAIN) => return,
                    Err(Errno::EINTR) => {}
                    // EIO: the pty's last slave descriptor closed.
                    Err(_) => self.done = true,
                }
            } else {
                match nix::unistd::write(self.dst.as_fd(), &self.buf) {
                    Ok(n) => {
                        self.buf.drain(..n);
                    }
                    Err(Errno::EAGAIN) => return,
                    Err(Errno::EINTR) => {}
                    Err(_) => self.done = true,
                }
            }
        }
    }

    /// At process exit: move what is left, waiting up to a second for a slow reader.
    pub fn drain(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            self.pump();
            if self.done || self.buf.is_empty() && !self.src_ready() {
                return;
            }
            if std::time::Instant::now() > deadline {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    fn src_ready(&self) -> bool {
        let mut fds = [nix::poll::PollFd::new(self.src.as_fd(), PollFlags::POLLIN)];
        matches!(nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO), Ok(n) if n > 0)
    }
}

fn set_nonblock(fd: &OwnedFd) {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    if let Ok(bits) = fcntl(fd.as_fd(), FcntlArg::F_GETFL) {
        let _ = fcntl(
            fd.as_fd(),
            FcntlArg::F_SETFL(OFlag::from_bits_truncate(bits) | OFlag::O_NONBLOCK),
        );
    }
}
