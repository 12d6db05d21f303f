//! `pause` / `resume`: freeze and thaw the container's cgroup.

use super::Container;
use crate::error::{Error, Result};
use crate::state::Status;

impl Container {
    pub fn pause(&mut self) -> Result<()> {
        let _lock = self.lock()?;
        match self.status() {
            Status::Running | Status::Created => {}
            found => {
                return Err(Error::NotRunningOrCreated {
                    id: self.id().into(),
                    found,
                })
            }
        }
        let cgroup = self.require_cgroup()?;
        Ok(cgroup.freeze()?)
    }

    pub fn resume(&mut self) -> Result<()> {
        let _lock = self.lock()?;
        let found = self.status();
        if found != Status::Paused {
            return Err(Error::NotPaused {
                id: self.id().into(),
                found,
            });
        }
        let cgroup = self.require_cgroup()?;
        Ok(cgroup.thaw()?)
    }
}
