//! A container without a mount namespace of its own makes its mounts (/proc, /dev, binds)
//! under its rootfs in the host's mount namespace, where they outlive it. runc leaves them
//! there; berth detaches them when the container is deleted (or its create fails), so
//! the host is left as it was found.

use std::path::{Path, PathBuf};

use nix::mount::{umount2, MntFlags};

use crate::mountinfo::parse_mountinfo;

/// Lazily unmounts every mount below `rootfs` in this mount namespace, deepest first.
/// Failures are logged: it runs while tearing down, where nothing can be retried.
pub fn detach_under(rootfs: &Path) {
    let Ok(text) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return;
    };
    let mut points: Vec<PathBuf> = parse_mountinfo(&text)
        .into_iter()
        .map(|m| m.mount_point)
        // The rootfs's own mount (containerd's overlay, say) is its owner's to remove.
        .filter(|p| p.starts_with(rootfs) && p != rootfs)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    for p in points {
        if let Err(e) = umount2(&p, MntFlags::MNT_DETACH) {
            if e != nix::errno::Errno::EINVAL && e != nix::errno::Errno::ENOENT {
                log::warn!("unmount {}: {e}", p.display());
            }
        }
    }
}
