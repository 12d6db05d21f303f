//! `start`: open `exec.fifo` for reading, which releases the init into the user program,
//! then run the poststart hooks.

use std::io::Read;
use std::os::fd::AsFd;
use std::time::Duration;

use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;

use super::create::hook_state;
use super::{process_alive, Container};
use crate::error::{Error, Result};
use crate::hooks;
use crate::signal::Sig;
use crate::state::{self, Status};

impl Container {
    pub fn start(&mut self) -> Result<()> {
        let _lock = self.lock()?;
        self.reload()?;
        match self.status() {
            Status::Created if self.record.no_process => {
                return Err(Error::Config(
                    "process: not set in the config: the container has nothing to start".into(),
                ))
            }
            Status::Created => {}
            found => {
                return Err(Error::CannotStart {
                    id: self.id().into(),
                    found,
                })
            }
        }
        self.release_init()?;
        crate::trace::mark("release init");
        if !self.record.late_hooks {
            return Ok(());
        }
        let spec = self.spec()?;
        // runc hands poststart hooks the state it read before the fifo was consumed.
        let state = hook_state(&self.record, Status::Created);
        if let Err(e) = hooks::run(
            "poststart",
            spec.hooks().as_ref().and_then(|h| h.poststart().as_ref()),
            &state,
        ) {
            let _ = self.signal(Sig::KILL, false);
            return Err(e.into());
        }
        Ok(())
    }

    /// Opens the fifo without blocking, then waits for the init's byte while checking that
    /// the init is still alive (a dead init would otherwise leave us blocked forever).
    fn release_init(&self) -> Result<()> {
        let path = self.dir.join(state::EXEC_FIFO);
        let fifo = open(
            path.as_path(),
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::path(&path, e))?;
        let mut file = std::fs::File::from(fifo);
        loop {
            let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
            let ready = poll(&mut fds, PollTimeout::from(100u16))
                .map_err(|e| Error::sys("poll exec fifo", e))?;
            if ready > 0 {
                let mut byte = [0u8; 1];
                match file.read(&mut byte) {
                    Ok(1) => break,
                    Ok(_) => {
                        return Err(Error::CannotStart {
                            id: self.id().into(),
                            found: Status::Running,
                        })
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(Error::path(&path, e)),
                }
            }
            if !process_alive(self.record.pid, Some(self.record.start_time)) {
                return Err(Error::CannotStart {
                    id: self.id().into(),
                    found: Status::Stopped,
                });
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::fs::remove_file(&path).map_err(|e| Error::path(&path, e))?;
        Ok(())
    }
}
