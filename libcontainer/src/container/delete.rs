//! `delete`: stop what still runs (created containers and, with force, running ones),
//! remove the cgroup, run poststop hooks, and remove the state directory.

use std::time::Duration;

use super::create::hook_state;
use super::Container;
use crate::error::{Error, Result};
use crate::hooks;
use crate::signal::Sig;
use crate::state::Status;
use crate::utils::wait_exit;

impl Container {
    pub fn delete(mut self, force: bool) -> Result<()> {
        let _lock = self.lock()?;
        self.reload()?;
        let status = self.status();
        if matches!(status, Status::Running | Status::Paused | Status::Creating) && !force {
            return Err(Error::NotStopped {
                id: self.id().into(),
                found: status,
            });
        }
        if matches!(status, Status::Created | Status::Running | Status::Paused) {
            let _ = self.signal(Sig::KILL, false);
            if status == Status::Paused {
                if let Some(cgroup) = self.cgroup() {
                    cgroup.thaw()?;
                }
            }
            wait_exit(self.record.pid, Duration::from_secs(10));
        }
        // Processes left in the cgroup (a container sharing the host pid namespace, or
        // exec'd processes) go too.
        if let Ok(pids) = self.processes() {
            if !pids.is_empty() {
                let _ = self.signal(Sig::KILL, true);
                for pid in pids {
                    wait_exit(pid, Duration::from_secs(5));
                }
            }
        }
        crate::trace::mark("kill+wait");
        // Its mounts were made in the host's mount namespace: take them away.
        if self
            .spec()
            .is_ok_and(|s| !super::create::has_mount_namespace(&s))
        {
            crate::rootfs::detach_under(&self.record.rootfs);
        }
        if let Some(cgroup) = self.cgroup() {
            cgroup.destroy()?;
        }
        crate::trace::mark("cgroup destroy");
        let spec = self.record.late_hooks.then(|| self.spec().ok()).flatten();
        if let Some(spec) = spec {
            let state = hook_state(&self.record, Status::Stopped);
            if let Err(e) = hooks::run(
                "poststop",
                spec.hooks().as_ref().and_then(|h| h.poststop().as_ref()),
                &state,
            ) {
                log::warn!("{e}");
            }
        }
        std::fs::remove_dir_all(&self.dir).map_err(|e| Error::path(&self.dir, e))?;
        crate::trace::mark("state remove");
        Ok(())
    }
}
