//! A container and its operations. One file per operation; this one holds the type, how
//! it is loaded from the state root, and how its status is worked out.

mod checkpoint;
mod create;
mod delete;
mod exec;
mod kill;
mod pause;
mod restore;
mod start;
mod stats;
mod update;

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

pub(crate) use create::effective_driver;
pub use create::{Console, ContainerBuilder, CreateOptions};
pub use exec::ExecOptions;

use crate::cgroups::{Cgroup, Driver as CgroupDriver};
use crate::error::{Error, Result};
use crate::state::{self, Record, State, StateRoot, Status, OCI_VERSION};

/// An existing container, as found in the state root.
#[derive(Debug)]
pub struct Container {
    dir: PathBuf,
    record: Record,
}

impl Container {
    /// Loads container `id` from the state root at `root`.
    pub fn load(root: &Path, id: &str) -> Result<Container> {
        create::check_id(id)?;
        let dir = StateRoot::new(root).dir(id);
        if !dir.is_dir() {
            return Err(Error::NotExist { id: id.to_string() });
        }
        let record = match state::read_record(&dir)? {
            Some(record) => record,
            // Reserved but not yet (or never) written: a create in progress or one that died.
            None => Record {
                creator: 0,
                ..Record::new(id, Path::new(""), Path::new(""))
            },
        };
        Ok(Container { dir, record })
    }

    /// All containers under `root`, skipping ones whose state cannot be read.
    pub fn list(root: &Path) -> Result<Vec<Container>> {
        let ids = StateRoot::new(root).ids()?;
        Ok(ids
            .iter()
            .filter_map(|id| match Container::load(root, id) {
                Ok(c) => Some(c),
                Err(e) => {
                    log::warn!("skipping container {id}: {e}");
                    None
                }
            })
            .collect())
    }

    /// `delete --force` of a container whose state file cannot be read (torn, garbage,
    /// another format version): the record is replaced by one that knows only the
    /// cgroup (from the config snapshot, else the default for `id`), and the container
    /// is then deleted as usual: its cgroup's processes killed, cgroup and state removed.
    pub fn delete_unreadable(root: &Path, id: &str) -> Result<()> {
        create::check_id(id)?;
        let dir = StateRoot::new(root).dir(id);
        if !dir.is_dir() {
            return Err(Error::NotExist { id: id.to_string() });
        }
        {
            let _lock = state::DirLock::acquire(&dir).map_err(|e| Error::path(&dir, e))?;
            let snapshot = dir.join(state::CONFIG_FILE);
            let cgroups_path = fs::read(&snapshot)
                .ok()
                .and_then(|data| crate::spec::parse_json::<Spec>(&snapshot, &data).ok())
                .and_then(|spec| spec.linux().as_ref()?.cgroups_path().clone());
            let mut record = Record::new(id, Path::new(""), Path::new(""));
            record.creator = 0;
            record.cgroup = Cgroup::resolve(cgroups_path.as_deref(), id, CgroupDriver::Cgroupfs)
                .or_else(|_| Cgroup::resolve(cgroups_path.as_deref(), id, CgroupDriver::Systemd))
                .ok();
            log::warn!("container {id}: unreadable state replaced to delete it");
            state::write_record(&dir, &record)?;
        }
        Container::load(root, id)?.delete(true)
    }

    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// Host pid of the init while it lives; 0 otherwise.
    pub fn pid(&self) -> i32 {
        match self.status() {
            Status::Stopped | Status::Creating => 0,
            _ => self.record.pid,
        }
    }

    /// The container's directory under the state root.
    pub fn state_dir(&self) -> &Path {
        &self.dir
    }

    /// Host pid of the init as recorded at create time, whether or not it still runs.
    pub fn init_pid(&self) -> i32 {
        self.record.pid
    }

    pub fn bundle(&self) -> &Path {
        &self.record.bundle
    }

    /// Uid of the user that created the container.
    pub fn owner_uid(&self) -> u32 {
        self.record.owner
    }

    pub fn status(&self) -> Status {
        if self.record.pid == 0 {
            return if self.record.creator != 0 && process_alive(self.record.creator, None) {
                Status::Creating
            } else {
                Status::Stopped
            };
        }
        if !process_alive(self.record.pid, Some(self.record.start_time)) {
            return Status::Stopped;
        }
        if self
            .cgroup()
            .is_some_and(|c| c.is_frozen().unwrap_or(false))
        {
            return Status::Paused;
        }
        if self.dir.join(state::EXEC_FIFO).exists() {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// The state document, as `berth state` prints it.
    pub fn state(&self) -> State {
        State {
            oci_version: OCI_VERSION.to_string(),
            id: self.record.id.clone(),
            pid: self.pid(),
            status: self.status(),
            bundle: self.record.bundle.clone(),
            rootfs: self.record.rootfs.clone(),
            created: self.record.created.clone(),
            owner: String::new(),
            annotations: self.record.annotations.clone(),
        }
    }

    /// The spec the container was created from.
    pub fn spec(&self) -> Result<Spec> {
        let path = self.dir.join(state::CONFIG_FILE);
        let data = fs::read(&path).map_err(|e| Error::path(&path, e))?;
        Ok(crate::spec::parse_json(&path, &data)?)
    }

    /// Pids of every process in the container's cgroup.
    pub fn processes(&self) -> Result<Vec<i32>> {
        match self.cgroup() {
            Some(cgroup) => Ok(cgroup.pids()?),
            None => Ok(Vec::new()),
        }
    }

    pub(crate) fn cgroup(&self) -> Option<&Cgroup> {
        self.record.cgroup.as_ref()
    }

    fn lock(&self) -> Result<state::DirLock> {
        state::DirLock::acquire(&self.dir).map_err(|e| Error::path(&self.dir, e))
    }

    /// Re-reads the record after taking the lock, so a decision is made on fresh state.
    fn reload(&mut self) -> Result<()> {
        if let Some(record) = state::read_record(&self.dir)? {
            self.record = record;
        }
        Ok(())
    }
}

/// Whether `pid` runs and, when `start_time` is given, is the same process we recorded
/// (not a recycled pid). Zombies count as dead.
pub(crate) fn process_alive(pid: i32, start_time: Option<u64>) -> bool {
    match read_stat(pid) {
        Some((state, started)) => {
            state != 'Z' && state != 'X' && start_time.is_none_or(|t| t == started)
        }
        None => false,
    }
}

/// State letter and start time (fields 3 and 22) of /proc/<pid>/stat.
pub(crate) fn read_stat(pid: i32) -> Option<(char, u64)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let started = fields.nth(18)?.parse().ok()?;
    Some((state, started))
}
