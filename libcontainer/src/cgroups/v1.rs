//! cgroup v1 specifics: which hierarchies a container joins, cpuset inheritance so that a
//! new cpuset cgroup can take tasks, and the v1 freezer. Resource setting for v1
//! controllers goes here later.

use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use super::{fs, CgroupError};

/// The v1 subsystems runc's cgroupfs driver joins. A hierarchy is joined when it carries
/// any of these; others (`misc`, other named hierarchies) are left alone, as runc does.
pub(crate) const SUBSYSTEMS: &[&str] = &[
    "cpuset",
    "devices",
    "memory",
    "cpu",
    "cpuacct",
    "pids",
    "blkio",
    "hugetlb",
    "net_cls",
    "net_prio",
    "perf_event",
    "freezer",
    "rdma",
    "name=systemd",
];

/// runc refuses to run without the devices hierarchy (it is a security boundary).
pub(crate) const REQUIRED: &str = "devices";

/// Hierarchies to read the container's process list from, in order of preference (runc
/// reads the devices one).
pub(crate) const PIDS_FROM: &[&str] = &["devices", "pids", "freezer", "memory"];

/// A new cpuset cgroup starts with empty `cpuset.cpus`/`cpuset.mems`, and writing a task
/// into it fails with ENOSPC. Copy them down from the nearest ancestor that has them,
/// for every level between the mount and `dir` (runc's ensureParent).
pub(crate) fn prepare_cpuset(mount: &Path, dir: &Path) -> Result<(), CgroupError> {
    let Ok(rel) = dir.strip_prefix(mount) else {
        return Ok(());
    };
    let mut parent = mount.to_path_buf();
    for component in rel.components() {
        let child = parent.join(component);
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let current = fs::read(&child, file)?;
            if current.trim().is_empty() {
                let inherited = fs::read(&parent, file)?;
                fs::write(&child, file, inherited.trim())?;
            }
        }
        parent = child;
    }
    Ok(())
}

const STATE: &str = "freezer.state";

/// Freezes the cgroup. v1 freezing can stall in FREEZING while tasks keep arriving; keep
/// re-asserting FROZEN, with an occasional thaw-and-retry, and give up thawed.
pub(crate) fn freeze(dir: &Path) -> Result<(), CgroupError> {
    for i in 0..1000 {
        if i % 50 == 49 {
            let _ = fs::write(dir, STATE, "THAWED");
            sleep(Duration::from_millis(10));
        }
        fs::write(dir, STATE, "FROZEN")?;
        if i % 25 == 24 {
            sleep(Duration::from_micros(10));
        }
        match fs::read(dir, STATE)?.trim() {
            "FREEZING" => continue,
            "FROZEN" => return Ok(()),
            other => {
                return Err(CgroupError::Freezer {
                    path: dir.to_path_buf(),
                    reason: format!("unexpected state {other} while freezing"),
                })
            }
        }
    }
    let _ = fs::write(dir, STATE, "THAWED");
    Err(CgroupError::Freezer {
        path: dir.to_path_buf(),
        reason: "unable to freeze".into(),
    })
}

pub(crate) fn thaw(dir: &Path) -> Result<(), CgroupError> {
    fs::write(dir, STATE, "THAWED")?;
    for _ in 0..1000 {
        if fs::read(dir, STATE)?.trim() == "THAWED" {
            return Ok(());
        }
        sleep(Duration::from_millis(1));
    }
    Err(CgroupError::Freezer {
        path: dir.to_path_buf(),
        reason: "unable to thaw".into(),
    })
}

/// Frozen by its own freezer.state (not only through a frozen ancestor). An absent
/// cgroup or a kernel without the freezer is not frozen.
pub(crate) fn is_frozen(dir: &Path) -> Result<bool, CgroupError> {
    for _ in 0..1000 {
        let Some(state) = fs::read_optional(dir, STATE)? else {
            return Ok(false);
        };
        match state.trim() {
            "THAWED" => return Ok(false),
            "FREEZING" => {
                sleep(Duration::from_millis(1));
                continue;
            }
            "FROZEN" => {
                return match fs::read_optional(dir, "freezer.self_freezing")?.as_deref() {
                    None | Some("1\n") => Ok(true),
                    Some("0\n") => Ok(false),
                    Some(other) => Err(CgroupError::Freezer {
                        path: dir.to_path_buf(),
                        reason: format!("unknown freezer.self_freezing state {other:?}"),
                    }),
                };
            }
            other => {
                return Err(CgroupError::Freezer {
                    path: dir.to_path_buf(),
                    reason: format!("unknown freezer.state {other:?}"),
                })
            }
        }
    }
    Err(CgroupError::Freezer {
        path: dir.to_path_buf(),
        reason: "stuck in FREEZING".into(),
    })
}
