//! containerd's logging-binary protocol (`binary:///path?key=value`), as its runc shim
//! speaks it: the binary gets the process's stdout and stderr as the read ends of two
//! pipes on fds 3 and 4 and a "ready" pipe on fd 5, `CONTAINER_ID` and
//! `CONTAINER_NAMESPACE` in its environment, and the URI's query as arguments (`key
//! value`). It closes fd 5 (or writes to it) once it is ready to read.

use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::fcntl::OFlag;
use nix::fcntl::{fcntl, FcntlArg};
use nix::unistd::pipe2;

/// The logging binary could not be started, or its URI is not one we can run.
#[derive(Debug, thiserror::Error)]
#[error("logging binary {path}: {reason}")]
pub struct LogBinaryError {
    pub path: String,
    pub reason: String,
}

/// Starts the logging binary named by `uri`; returns the write ends for the process's
/// stdout and stderr once the binary said it is ready. The shim's reaper collects it
/// when it exits (at end of input).
pub fn start(uri: &str, id: &str, namespace: &str) -> Result<(OwnedFd, OwnedFd), LogBinaryError> {
    let (path, args) = parse(uri)?;
    let fail = |reason: String| LogBinaryError {
        path: path.clone(),
        reason,
    };
    let sys =
        |what: &str, e: nix::errno::Errno| fail(format!("{what}: {}", libcontainer::SysError(e)));
    // Close-on-exec: the binary must hold only its fds 3-5, or it never sees end of input.
    let pipe = || pipe2(OFlag::O_CLOEXEC).map_err(|e| sys("pipe", e));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    // Park the child's three ends above any descriptor number they must land on.
    let high = |fd: &OwnedFd| -> Result<RawFd, LogBinaryError> {
        fcntl(fd, FcntlArg::F_DUPFD_CLOEXEC(10)).map_err(|e| sys("dup", e))
    };
    let parked = [high(&out_r)?, high(&err_r)?, high(&ready_w)?];
    let mut cmd = Command::new(&path);
    cmd.args(&args)
        .env("CONTAINER_ID", id)
        .env("CONTAINER_NAMESPACE", namespace)
        .stdin(Stdio::null());
    // SAFETY: between fork and exec the closure only calls dup2, which is async-signal-safe;
    // dup2 clears close-on-exec on the target numbers 3, 4 and 5.
    unsafe {
        cmd.pre_exec(move || {
            for (target, fd) in (3..).zip(parked) {
                if libc::dup2(fd, target) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let spawned = cmd.spawn();
    for fd in parked {
        // SAFETY: these duplicates were made above and are used by nobody but the child.
        unsafe { libc::close(fd) };
    }
    spawned.map_err(|e| fail(format!("start: {e}")))?;
    drop((out_r, err_r, ready_w));
    // Wait until the binary is ready: a byte or end of file on the ready pipe.
    let mut byte = [0u8; 1];
    loop {
        match nix::unistd::read(&ready_r, &mut byte) {
            Ok(_) => break,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(sys("wait for ready", e)),
        }
    }
    Ok((out_w, err_w))
}

/// `binary:///usr/bin/logger?a=1&b` → ("/usr/bin/logger", ["a", "1", "b"]).
fn parse(uri: &str) -> Result<(String, Vec<String>), LogBinaryError> {
    let rest = uri.strip_prefix("binary://").unwrap_or(uri);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let path = percent_decode(path);
    if !path.starts_with('/') {
        return Err(LogBinaryError {
            path,
            reason: "must be an absolute path".into(),
        });
    }
    let mut args = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        args.push(percent_decode(key));
        if !value.is_empty() {
            args.push(percent_decode(value));
        }
    }
    Ok((path, args))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn uri_to_path_and_args() {
        let (path, args) = parse("binary:///usr/bin/log%20ger?out=%2Ftmp%2Fx&verbose").unwrap();
        assert_eq!(path, "/usr/bin/log ger");
        assert_eq!(args, ["out", "/tmp/x", "verbose"]);
        assert!(parse("binary://relative/path").is_err());
    }
}
