//! Advisory file locks (flock) that keep concurrent berth-image processes apart.

use std::fs::{File, OpenOptions};
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};

use crate::error::{Error, IoContext, Result};

/// Held until dropped.
pub struct Lock(#[allow(dead_code)] Flock<File>);

impl Lock {
    pub fn shared(path: &Path) -> Result<Lock> {
        Self::take(path, FlockArg::LockShared)
    }
    pub fn exclusive(path: &Path) -> Result<Lock> {
        Self::take(path, FlockArg::LockExclusive)
    }
    fn take(path: &Path, arg: FlockArg) -> Result<Lock> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .at(path)?;
        Flock::lock(f, arg).map(Lock).map_err(|(_, e)| Error::Io {
            path: path.into(),
            source: e.into(),
        })
    }
}
