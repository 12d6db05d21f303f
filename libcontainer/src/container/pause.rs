//! `pause` / `resume`: freeze and thaw the container's cgroup.

use super::Container;
use crate::error::{Error, Result};
use crate::state::Status;

impl Container {
    pub fn pause(&mut self) -> Result<()> {
        let _lock = self.lock()?;
        match self.status() {
            Status::Running | Status::Created => {}
            status => {
                return Err(Error::InvalidState(format!(
                    "container not running or created: {status}"
                )))
            }
        }
        let cgroup = self
            .cgroup()
            .ok_or_else(|| Error::InvalidState("container has no cgroup".into()))?;
        Ok(cgroup.freeze()?)
    }

    pub fn resume(&mut self) -> Result<()> {
        let _lock = self.lock()?;
        if self.status() != Status::Paused {
            return Err(Error::InvalidState("container not paused".into()));
        }
        let cgroup = self
            .cgroup()
            .ok_or_else(|| Error::InvalidState("container has no cgroup".into()))?;
        Ok(cgroup.thaw()?)
    }
}
