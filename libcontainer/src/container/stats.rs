//! Resource usage and OOM notification of a container (for `berth events` and the
//! containerd shim's Stats / TaskOOM).

use super::Container;
use crate::cgroups::{OomWatcher, Stats};
use crate::error::{Error, Result};

impl Container {
    /// Current usage of the container's cgroup (cpu, memory, pids, blkio, hugetlb).
    pub fn stats(&self) -> Result<Stats> {
        Ok(self.require_cgroup()?.stats()?)
    }

    /// A watcher whose `wait` returns on each OOM kill in the container's cgroup and
    /// when the cgroup goes away. Register it before the workload can run out of memory.
    pub fn oom_watcher(&self) -> Result<OomWatcher> {
        Ok(self.require_cgroup()?.oom_watcher()?)
    }

    pub(crate) fn require_cgroup(&self) -> Result<&crate::cgroups::Cgroup> {
        self.cgroup().ok_or_else(|| Error::NoCgroup {
            id: self.id().into(),
        })
    }
}
