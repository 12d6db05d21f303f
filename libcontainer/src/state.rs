//! Container state: what `berth state` prints (runc's JSON) and what Berth keeps on disk.
//!
//! Layout of one container under the state root (default `/run/berth`):
//! `<root>/<id>/` — created by `mkdir`, which is the atomic reservation of the id;
//! `state.json` — [`Record`], always replaced by write-to-temp + rename;
//! `config.json` — the spec as it was at create time (for exec defaults and hooks);
//! `exec.fifo` — present while the container is created and not yet started.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::cgroups::Cgroup;
pub use crate::status::Status;
use crate::utils::write_atomic;

type Result<T, E = StateError> = std::result::Result<T, E>;

/// The newest runtime-spec version Berth implements in full: `ociVersion` in state
/// documents (and hooks' and seccomp agents' copies), `features`' ociVersionMax, the
/// `spec:` line of `--version`, and `berth spec`'s template. runc 1.3 reports the same
/// (1.1.5 says "1.0.2-dev"). Of 1.3.0, netDevices and memoryPolicy are done; intelRdt
/// schemata are refused where resctrl is mounted (not applied yet), so not 1.3.0.
pub const OCI_VERSION: &str = "1.2.1";

/// Version of the on-disk record format; bumped when [`Record`] changes incompatibly.
const RECORD_VERSION: u32 = 1;

pub(crate) const STATE_FILE: &str = "state.json";
pub(crate) const CONFIG_FILE: &str = "config.json";
pub(crate) const EXEC_FIFO: &str = "exec.fifo";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("state root {}: {source}", path.display())]
    Root { path: PathBuf, source: io::Error },
    #[error("container state {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("container state {}: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("container state {}: written by an incompatible berth (format {found}, this berth reads {RECORD_VERSION})", path.display())]
    Version { path: PathBuf, found: u64 },
    /// Another create reserved the id first; shown as runc's "already exists".
    #[error("container {id}: already exists")]
    Exists { id: String },
}

/// The state document `berth state` prints, field for field as runc prints it.
#[derive(Debug, Clone, Serialize)]
pub struct State {
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: Status,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    pub owner: String,
}

/// What Berth persists for a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub version: u32,
    pub id: String,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    /// Host pid of the container's init; 0 while it is being created.
    pub pid: i32,
    /// Start time of the init (field 22 of /proc/<pid>/stat), so a recycled pid is never
    /// mistaken for the container.
    pub start_time: u64,
    /// Pid of the `berth create` that is building the container, while it does.
    pub creator: i32,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup: Option<Cgroup>,
    #[serde(default)]
    pub owner: u32,
    /// Whether the config snapshot holds poststart or poststop hooks: `start` and
    /// `delete` parse the snapshot only when it does. Records written before this field
    /// existed read as "may have".
    #[serde(default = "may_have_hooks")]
    pub late_hooks: bool,
    /// The config has no process: the container can be created but not started.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_process: bool,
}

fn may_have_hooks() -> bool {
    true
}

impl Record {
    pub(crate) fn new(id: &str, bundle: &Path, rootfs: &Path) -> Self {
        Record {
            version: RECORD_VERSION,
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            rootfs: rootfs.to_path_buf(),
            created: crate::utils::rfc3339_nano(std::time::SystemTime::now()),
            pid: 0,
            start_time: 0,
            creator: std::process::id() as i32,
            annotations: HashMap::new(),
            cgroup: None,
            owner: nix::unistd::geteuid().as_raw(),
            late_hooks: true,
            no_process: false,
        }
    }
}

/// The state root (`--root`), holding one directory per container.
#[derive(Debug, Clone)]
pub struct StateRoot {
    path: PathBuf,
}

impl StateRoot {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        StateRoot { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn dir(&self, id: &str) -> PathBuf {
        self.path.join(id)
    }

    /// Reserves `id`: the `mkdir` either creates the directory or fails because another
    /// create got there first.
    pub(crate) fn reserve(&self, id: &str) -> Result<PathBuf> {
        fs::create_dir_all(&self.path).map_err(|source| StateError::Root {
            path: self.path.clone(),
            source,
        })?;
        let dir = self.dir(id);
        match fs::create_dir(&dir) {
            Ok(()) => Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(StateError::Exists { id: id.to_string() })
            }
            Err(source) => Err(StateError::Io { path: dir, source }),
        }
    }

    /// Ids of all containers under the root, sorted; a missing root has none.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(StateError::Root {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Reads the record in `dir`; `Ok(None)` when the directory holds none yet.
pub(crate) fn read_record(dir: &Path) -> Result<Option<Record>> {
    let path = dir.join(STATE_FILE);
    let data = match fs::read(&path) {
        Ok(data) => data,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StateError::Io { path, source }),
    };
    Ok(Some(parse_record(&path, &data)?))
}

/// Parses the bytes of a state file; `path` only names it in errors.
pub(crate) fn parse_record(path: &Path, data: &[u8]) -> Result<Record> {
    let corrupt = |source| StateError::Corrupt {
        path: path.to_path_buf(),
        source,
    };
    // One pass in the common case; only a record that does not parse, or has another
    // version, is probed for its version, so that another format is named as such.
    let parsed = serde_json::from_slice::<Record>(data);
    if parsed.as_ref().is_ok_and(|r| r.version == RECORD_VERSION) {
        return parsed.map_err(corrupt);
    }
    #[derive(Deserialize)]
    struct Probe {
        version: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_slice(data).map_err(corrupt)?;
    let found = probe.version.and_then(|v| v.as_u64()).unwrap_or(0);
    if found != u64::from(RECORD_VERSION) {
        return Err(StateError::Version {
            path: path.to_path_buf(),
            found,
        });
    }
    parsed.map_err(corrupt)
}

pub(crate) fn write_record(dir: &Path, record: &Record) -> Result<()> {
    let path = dir.join(STATE_FILE);
    let data = serde_json::to_vec(record).map_err(|source| StateError::Corrupt {
        path: path.clone(),
        source,
    })?;
    write_atomic(&path, &data).map_err(|source| StateError::Io { path, source })?;
    Ok(())
}

/// An exclusive lock on one container's directory; operations that change a container
/// hold it so that concurrent commands on the same id serialise.
pub(crate) struct DirLock {
    _lock: Flock<fs::File>,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> io::Result<Self> {
        let file = fs::File::open(dir)?;
        let lock =
            Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, e)| io::Error::from(e))?;
        Ok(DirLock { _lock: lock })
    }

    pub(crate) fn raw_fd(&self) -> i32 {
        self._lock.as_raw_fd()
    }
}
