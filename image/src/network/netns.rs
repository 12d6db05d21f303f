//! Named network namespaces: a file bind-mounted over a namespace so it outlives any
//! process, like `ip netns add`. Work inside one happens on a short-lived thread that
//! `setns`es into it, so this process's own namespace never changes.

use std::fs::{self, File};
use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use super::error::NetError;

/// Create a new network namespace and pin it at `path` (an empty file is made first).
pub fn create(path: &Path) -> Result<(), NetError> {
    let op = || format!("create {}", path.display());
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| NetError::netns(op(), e))?;
    }
    File::create(path).map_err(|e| NetError::netns(op(), e))?;
    let res = std::thread::scope(|s| {
        s.spawn(|| -> Result<(), NetError> {
            // A thread may unshare its network namespace alone; it exits right after.
            unshare(CloneFlags::CLONE_NEWNET).map_err(|e| NetError::netns(op(), e))?;
            mount(
                Some("/proc/thread-self/ns/net"),
                path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(|e| NetError::netns(op(), e))
        })
        .join()
        .unwrap_or_else(|_| Err(NetError::Invalid(format!("{}: thread failed", op()))))
    });
    if res.is_err() {
        let _ = fs::remove_file(path);
    }
    res
}

/// Unpin and remove a namespace file; a missing one is fine.
pub fn remove(path: &Path) -> Result<(), NetError> {
    if !path.exists() {
        return Ok(());
    }
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(NetError::netns(format!("unmount {}", path.display()), e)),
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(NetError::netns(format!("remove {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

/// Run `f` on a thread inside the namespace pinned at `path`.
pub fn run_in<T: Send>(
    path: &Path,
    f: impl FnOnce() -> Result<T, NetError> + Send,
) -> Result<T, NetError> {
    let ns =
        File::open(path).map_err(|e| NetError::netns(format!("open {}", path.display()), e))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetError::netns(format!("enter {}", path.display()), e))?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(NetError::Invalid("netns thread failed".into())))
    })
}
