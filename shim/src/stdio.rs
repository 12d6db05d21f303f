//! A container process's stdio as containerd names it (fifo paths, `file://` and
//! `binary://` URIs).
//!
//! Without a terminal the container writes straight into containerd's fifos (no copy in
//! the shim). The shim keeps its own reader open on each output fifo, so the container
//! never gets EPIPE while containerd is away (restart), and a writer on the stdin fifo,
//! so the container sees end-of-input only after CloseIO. With a terminal the shim
//! relays between the pty master and the fifos (see `relay`).

use std::fs::OpenOptions;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use nix::fcntl::{fcntl, open, FcntlArg, OFlag};
use nix::sys::stat::Mode;

#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    #[error("open {path}: {errno}")]
    Open {
        path: String,
        errno: nix::errno::Errno,
    },
    #[error("stdio URI {0:?}: only fifos, file:// and binary:// are supported")]
    Unsupported(String),
    #[error(transparent)]
    LogBinary(#[from] crate::logbinary::LogBinaryError),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StdioPaths {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
    pub terminal: bool,
}

/// Descriptors the shim holds for a process's lifetime.
#[derive(Debug, Default)]
pub struct Held {
    /// Writer on the stdin fifo: dropping it (CloseIO) lets the process see EOF.
    pub stdin_writer: Option<OwnedFd>,
    /// Readers on the output fifos, so that writes never fail with EPIPE.
    pub readers: Vec<OwnedFd>,
}

fn open_flags(path: &str, flags: OFlag) -> Result<OwnedFd, StdioError> {
    open(Path::new(path), flags | OFlag::O_CLOEXEC, Mode::empty()).map_err(|errno| {
        StdioError::Open {
            path: path.to_string(),
            errno,
        }
    })
}

fn clear_nonblock(fd: &OwnedFd) {
    if let Ok(bits) = fcntl(fd.as_fd(), FcntlArg::F_GETFL) {
        let flags = OFlag::from_bits_truncate(bits) - OFlag::O_NONBLOCK;
        let _ = fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags));
    }
}

fn dev_null(write: bool) -> Result<OwnedFd, StdioError> {
    open_flags(
        "/dev/null",
        if write {
            OFlag::O_WRONLY
        } else {
            OFlag::O_RDONLY
        },
    )
}

/// The read end the process (or the relay) reads stdin from.
pub fn open_stdin(path: &str, held: &mut Held) -> Result<OwnedFd, StdioError> {
    if path.is_empty() {
        return dev_null(false);
    }
    // Non-blocking so that the open does not wait for a writer; then our own writer.
    let reader = open_flags(path, OFlag::O_RDONLY | OFlag::O_NONBLOCK)?;
    held.stdin_writer = Some(open_flags(path, OFlag::O_WRONLY | OFlag::O_NONBLOCK)?);
    clear_nonblock(&reader);
    Ok(reader)
}

/// The write end for stdout or stderr. `blocking` is false for the tty relay.
pub fn open_output(path: &str, held: &mut Held, blocking: bool) -> Result<OwnedFd, StdioError> {
    if path.is_empty() {
        return dev_null(true);
    }
    if let Some(file) = path.strip_prefix("file://") {
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(file)
            .map_err(|e| StdioError::Open {
                path: file.to_string(),
                errno: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            })?;
        return Ok(f.into());
    }
    if path.contains("://") {
        return Err(StdioError::Unsupported(path.to_string()));
    }
    held.readers
        .push(open_flags(path, OFlag::O_RDONLY | OFlag::O_NONBLOCK)?);
    let writer = open_flags(path, OFlag::O_WRONLY | OFlag::O_NONBLOCK)?;
    if blocking {
        clear_nonblock(&writer);
    }
    Ok(writer)
}

/// Opens the three streams for a process without a terminal. `id` and `namespace` are
/// what a `binary://` logging binary is told.
pub fn open_direct(
    paths: &StdioPaths,
    id: &str,
    namespace: &str,
) -> Result<(libcontainer::Stdio, Held), StdioError> {
    let mut held = Held::default();
    let stdin = open_stdin(&paths.stdin, &mut held)?;
    if paths.stdout.starts_with("binary://") {
        let (stdout, stderr) = crate::logbinary::start(&paths.stdout, id, namespace)?;
        let stdio = libcontainer::Stdio {
            stdin: Some(stdin),
            stdout: Some(stdout),
            stderr: Some(stderr),
        };
        return Ok((stdio, held));
    }
    let stdout = open_output(&paths.stdout, &mut held, true)?;
    let stderr = if paths.stderr.is_empty() || paths.stderr == paths.stdout {
        stdout.try_clone().map_err(|e| StdioError::Open {
            path: paths.stdout.clone(),
            errno: nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
        })?
    } else {
        open_output(&paths.stderr, &mut held, true)?
    };
    let stdio = libcontainer::Stdio {
        stdin: Some(stdin),
        stdout: Some(stdout),
        stderr: Some(stderr),
    };
    Ok((stdio, held))
}
