//! File operations on cgroupfs shared by v1 and v2: mkdir -p that remembers what it made,
//! cgroup.procs reads and writes, and leaf-first removal.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::Duration;

use super::CgroupError;

pub(crate) const PROCS: &str = "cgroup.procs";

pub(crate) fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    std::fs::read_to_string(&path).map_err(|e| CgroupError::io("open", path, e))
}

/// Like `read`, but a missing file gives `None`.
pub(crate) fn read_optional(dir: &Path, file: &str) -> Result<Option<String>, CgroupError> {
    match std::fs::read_to_string(dir.join(file)) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENODEV) => {
            Ok(None)
        }
        Err(e) => Err(CgroupError::io("open", dir.join(file), e)),
    }
}

/// Writes `value` in one write(2), as cgroupfs wants (no truncation, no appended newline).
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, value.as_bytes()))
        .map_err(|e| CgroupError::io("write", path, e))
}

/// mkdir -p, pushing every directory it created (top first) onto `created`.
pub(crate) fn mkdir_all(dir: &Path, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    let mut missing = Vec::new();
    let mut cur = dir;
    while !cur.exists() {
        missing.push(cur);
        match cur.parent() {
            Some(p) => cur = p,
            None => break,
        }
    }
    for d in missing.into_iter().rev() {
        match std::fs::create_dir(d) {
            Ok(()) => created.push(d.to_path_buf()),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
            Err(e) => return Err(CgroupError::io("mkdir", d, e)),
        }
    }
    Ok(())
}

/// Moves `pid` into the cgroup at `dir`. EINVAL can mean the task is still being born
/// (TASK_NEW): retried a few times, as runc does.
pub(crate) fn write_procs(dir: &Path, pid: i32) -> Result<(), CgroupError> {
    let mut tries = 0;
    loop {
        match write(dir, PROCS, &pid.to_string()) {
            Err(CgroupError::Io { source, .. })
                if source.0 == nix::errno::Errno::EINVAL && tries < 4 =>
            {
                tries += 1;
                sleep(Duration::from_millis(30));
            }
            other => return other,
        }
    }
}

/// The pids in `dir` and all its sub-cgroups; an absent cgroup has none.
pub(crate) fn pids_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let Some(procs) = read_optional(dir, PROCS)? else {
        return Ok(());
    };
    for line in procs.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let pid = line.parse().map_err(|_| CgroupError::Parse {
            file: dir.join(PROCS),
            line: line.to_string(),
        })?;
        out.push(pid);
    }
    for sub in subdirs(dir)? {
        pids_recursive(&sub, out)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CgroupError::io("open", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CgroupError::io("readdirent", dir, e))?;
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            out.push(entry.path());
        }
    }
    Ok(out)
}

/// rmdir `dir` and its sub-cgroups, leaf first. An absent cgroup is fine.
pub(crate) fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    for sub in subdirs(dir)? {
        remove_tree(&sub)?;
    }
    match std::fs::remove_dir(dir) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(CgroupError::io("rmdir", dir, e)),
        _ => Ok(()),
    }
}

/// `remove_tree` on every directory, retrying for a while: processes that were just
/// killed take a moment to leave. runc gives up after ~310 ms (5 rounds, 10 ms doubling);
/// on a loaded machine that was seen to be too short (a `podman restart` then found the
/// old container still there), so this waits up to ~2.5 s. It costs nothing when the
/// cgroup empties at once.
pub(crate) fn remove_all(dirs: &[&Path]) -> Result<(), CgroupError> {
    const ROUNDS: u32 = 9;
    let mut left: Vec<&Path> = dirs.to_vec();
    let mut delay = Duration::from_millis(10);
    let mut last = None;
    for round in 0..ROUNDS {
        if round > 0 {
            sleep(delay);
            delay *= 2;
        }
        let mut still = Vec::new();
        for dir in left {
            if let Err(e) = remove_tree(dir) {
                last = Some(e);
            }
            if dir.exists() {
                still.push(dir);
            }
        }
        left = still;
        if left.is_empty() {
            return Ok(());
        }
    }
    let source = last.unwrap_or_else(|| {
        CgroupError::io(
            "rmdir",
            dirs.first().copied().unwrap_or(Path::new("")),
            busy(),
        )
    });
    Err(CgroupError::Remove {
        paths: left.iter().map(|p| p.to_path_buf()).collect(),
        source: Box::new(source),
    })
}

fn busy() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::EBUSY)
}
