//! One process the shim serves (a container's init or an exec'd process): its pid, its
//! stdio, its exit, and who waits for it.

use std::os::fd::{AsRawFd, OwnedFd};

use protobuf::well_known_types::timestamp::Timestamp;

use crate::relay::Relay;
use crate::stdio::{Held, StdioPaths};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Exec registered (exec'd process) or init waiting for Start.
    Created,
    Running,
    Stopped,
}

/// A Wait call to answer when the process exits: (connection id, ttrpc stream id).
pub type Waiter = (u64, u32);

pub struct Process {
    pub exec_id: String,
    pub pid: i32,
    pub phase: Phase,
    pub stdio: StdioPaths,
    pub exit: Option<(u32, Timestamp)>,
    pub held: Held,
    pub console: Option<OwnedFd>,
    /// A size asked for before the terminal existed (containerd may resize an exec
    /// between Exec and Start); applied when it is attached.
    pub pending_size: Option<(u32, u32)>,
    pub relays: Vec<Relay>,
    pub waiters: Vec<Waiter>,
    /// For an exec'd process until it starts: the OCI process to run.
    pub spec: Option<oci_spec::runtime::Process>,
}

impl Process {
    pub fn new(exec_id: &str, stdio: StdioPaths) -> Process {
        Process {
            exec_id: exec_id.to_string(),
            pid: 0,
            phase: Phase::Created,
            stdio,
            exit: None,
            held: Held::default(),
            console: None,
            pending_size: None,
            relays: Vec::new(),
            waiters: Vec::new(),
            spec: None,
        }
    }

    /// Records the exit; returns the waiters to answer. Output still in the pty goes out
    /// first, and the fifos the shim held are let go so readers see end-of-file.
    pub fn exited(&mut self, status: u32) -> Vec<Waiter> {
        for relay in &mut self.relays {
            relay.drain();
        }
        self.relays.clear();
        self.console = None;
        self.held = Held::default();
        self.phase = Phase::Stopped;
        self.exit = Some((status, Timestamp::now()));
        std::mem::take(&mut self.waiters)
    }

    pub fn exit_status(&self) -> (u32, Timestamp) {
        self.exit.clone().unwrap_or_default()
    }

    pub fn resize(&mut self, width: u32, height: u32) -> std::io::Result<()> {
        let Some(console) = &self.console else {
            match (self.stdio.terminal, self.phase) {
                (true, Phase::Created) => {
                    self.pending_size = Some((width, height));
                    return Ok(());
                }
                // The terminal went with the process; clients resize racing the exit.
                (true, Phase::Stopped) => return Ok(()),
                _ => {}
            }
            return Err(std::io::Error::other("process has no terminal"));
        };
        let size = libc::winsize {
            ws_row: height.min(u16::MAX as u32) as u16,
            ws_col: width.min(u16::MAX as u32) as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize struct that lives across the call.
        if unsafe { libc::ioctl(console.as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Exit status as containerd reports it: the code, or 128 + the killing signal.
pub fn exit_code(wait_status: i32) -> u32 {
    if libc::WIFEXITED(wait_status) {
        libc::WEXITSTATUS(wait_status) as u32
    } else if libc::WIFSIGNALED(wait_status) {
        128 + libc::WTERMSIG(wait_status) as u32
    } else {
        255
    }
}

#[cfg(test)]
mod tests {
    use super::exit_code;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGKILL), 137);
    }
}
