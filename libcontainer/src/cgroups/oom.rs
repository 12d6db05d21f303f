//! OOM notification. v1: an eventfd registered for `memory.oom_control` through
//! `cgroup.event_control` (the kernel signals it on every OOM in the cgroup, and once
//! more when the cgroup is removed). v2: inotify on `memory.events`, reporting each rise
//! of its `oom_kill` counter.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::{fs, set, CgroupError};

/// Waits for OOM events in one container's cgroup. Its descriptor (`as_fd`) becomes
/// readable when there may be news, for callers that poll several sources.
#[derive(Debug)]
pub struct OomWatcher {
    fd: OwnedFd,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    V1 {
        _oom_control: File,
        event_control: PathBuf,
    },
    V2 {
        events: PathBuf,
        seen: u64,
    },
}

/// What `wait` saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomEvent {
    /// The OOM killer acted in the cgroup.
    Oom,
    /// The cgroup is gone; no more events will come.
    Gone,
}

impl OomWatcher {
    pub(crate) fn v1(memory_dir: &Path) -> Result<OomWatcher, CgroupError> {
        let control = memory_dir.join("memory.oom_control");
        let oom_control = File::open(&control).map_err(|e| CgroupError::io("open", &control, e))?;
        // SAFETY: eventfd(2) takes no pointers.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            let e = std::io::Error::last_os_error();
            return Err(CgroupError::io("eventfd for", memory_dir, e));
        }
        // SAFETY: eventfd returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(efd) };
        let line = format!("{} {}", fd.as_raw_fd(), oom_control.as_raw_fd());
        set::write(memory_dir, "cgroup.event_control", &line)?;
        Ok(OomWatcher {
            fd,
            kind: Kind::V1 {
                _oom_control: oom_control,
                event_control: memory_dir.join("cgroup.event_control"),
            },
        })
    }

    pub(crate) fn v2(dir: &Path) -> Result<OomWatcher, CgroupError> {
        let events = dir.join("memory.events");
        let seen = oom_kills(&events)?;
        // SAFETY: inotify_init1 takes no pointers.
        let ifd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
        if ifd < 0 {
            let e = std::io::Error::last_os_error();
            return Err(CgroupError::io("inotify_init for", dir, e));
        }
        // SAFETY: inotify_init1 returned a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(ifd) };
        let cpath = std::ffi::CString::new(events.as_os_str().as_encoded_bytes())
            .map_err(|_| CgroupError::io("inotify_add_watch", &events, nul_error()))?;
        // SAFETY: the path is NUL-terminated and lives across the call.
        let wd = unsafe { libc::inotify_add_watch(ifd, cpath.as_ptr(), libc::IN_MODIFY) };
        if wd < 0 {
            let e = std::io::Error::last_os_error();
            return Err(CgroupError::io("inotify_add_watch", &events, e));
        }
        Ok(OomWatcher {
            fd,
            kind: Kind::V2 { events, seen },
        })
    }

    /// Blocks until the next OOM event, or until the cgroup is removed.
    pub fn wait(&mut self) -> Result<OomEvent, CgroupError> {
        loop {
            let mut buf = [0u8; 4096];
            let mut f = File::from(self.fd.try_clone().map_err(|e| read_err(&self.kind, e))?);
            let n = f.read(&mut buf).map_err(|e| read_err(&self.kind, e))?;
            match &mut self.kind {
                Kind::V1 { event_control, .. } => {
                    // The removal of the cgroup also signals the eventfd.
                    return Ok(if event_control.exists() {
                        OomEvent::Oom
                    } else {
                        OomEvent::Gone
                    });
                }
                Kind::V2 { events, seen } => {
                    if n == 0 || !events.exists() {
                        return Ok(OomEvent::Gone);
                    }
                    let now = oom_kills(events)?;
                    if now > *seen {
                        *seen = now;
                        return Ok(OomEvent::Oom);
                    }
                }
            }
        }
    }
}

impl AsFd for OomWatcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn read_err(kind: &Kind, e: std::io::Error) -> CgroupError {
    let path = match kind {
        Kind::V1 { event_control, .. } => event_control,
        Kind::V2 { events, .. } => events,
    };
    CgroupError::io("read oom events of", path, e)
}

fn nul_error() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::EINVAL)
}

fn oom_kills(events: &Path) -> Result<u64, CgroupError> {
    let dir = events.parent().unwrap_or(Path::new("/"));
    let text = fs::read(dir, "memory.events")?;
    Ok(text
        .lines()
        .find_map(|l| l.strip_prefix("oom_kill "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0))
}
