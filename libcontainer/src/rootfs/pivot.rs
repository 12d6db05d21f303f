//! Entering the rootfs: pivot_root with the old root detached, or MS_MOVE + chroot.

use std::path::Path;

use nix::fcntl::{open, OFlag};
use nix::mount::{umount2, MntFlags, MsFlags};
use nix::sys::stat::Mode;
use nix::unistd::{chdir, chroot, fchdir, pivot_root};

use super::mounts::mount_path;
use super::{RootfsError, RootfsOptions};

/// Makes `rootfs` the process's `/` (cwd `/`), the old root unmounted.
pub fn enter(rootfs: &Path, opts: &RootfsOptions) -> Result<(), RootfsError> {
    if !opts.own_mount_ns {
        // The host's mount namespace: nothing to pivot or move, only to confine.
        chroot(rootfs).map_err(|e| RootfsError::path("chroot", rootfs, e))?;
        return chdir("/").map_err(|e| RootfsError::path("chdir", "/", e));
    }
    if opts.no_pivot {
        return move_root(rootfs);
    }
    let dir = |p: &Path| {
        open(
            p,
            OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| RootfsError::path("open", p, e))
    };
    let old_root = dir(Path::new("/"))?;
    let new_root = dir(rootfs)?;
    fchdir(&new_root).map_err(|e| RootfsError::path("chdir", rootfs, e))?;
    // pivot_root(".", "."): the old root ends up mounted on top of the new one, at ".".
    pivot_root(".", ".")
        .map_err(|e| RootfsError::sys(format!("pivot_root {}", rootfs.display()), e))?;
    fchdir(&old_root).map_err(|e| RootfsError::sys("chdir to old root", e))?;
    // Do not let the unmount propagate back to the host.
    mount_path(
        None,
        Path::new("."),
        None,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None,
    )?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| RootfsError::sys("unmount old root", e))?;
    chdir("/").map_err(|e| RootfsError::path("chdir", "/", e))
}

fn move_root(rootfs: &Path) -> Result<(), RootfsError> {
    hide_host_proc_and_sys(rootfs)?;
    chdir(rootfs).map_err(|e| RootfsError::path("chdir", rootfs, e))?;
    mount_path(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)?;
    chroot(".").map_err(|e| RootfsError::path("chroot", rootfs, e))?;
    chdir("/").map_err(|e| RootfsError::path("chdir", "/", e))
}

/// Without pivot_root the host's mounts stay in the container's mount namespace, only
/// out of the chroot's reach. The kernel lets a user namespace mount a new procfs or sysfs
/// when the mount namespace already holds one with nothing over it, so a whole host /proc
/// or /sys left there would let the container mount a bare one (runc's "--no-pivot must not
/// expose bare /proc"). Each such mount outside the rootfs is detached, or, where the
/// kernel refuses that, covered with an empty tmpfs.
fn hide_host_proc_and_sys(rootfs: &Path) -> Result<(), RootfsError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| RootfsError::path("read", "/proc/self/mountinfo", e))?;
    let exposed = crate::mountinfo::parse_mountinfo(&text)
        .into_iter()
        .filter(|m| matches!(m.fs_type.as_str(), "proc" | "sysfs"))
        .filter(|m| m.root == Path::new("/") && !m.mount_point.starts_with(rootfs));
    for m in exposed {
        let at = m.mount_point.as_path();
        // Keep the unmount from propagating to the host.
        match mount_path(None, at, None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None) {
            Err(e) if e.errno() == Some(nix::errno::Errno::ENOENT) => continue,
            other => other?,
        }
        match umount2(at, MntFlags::MNT_DETACH) {
            Ok(()) => {}
            Err(nix::errno::Errno::EINVAL | nix::errno::Errno::EPERM) => mount_path(
                Some(Path::new("tmpfs")),
                at,
                Some("tmpfs"),
                MsFlags::empty(),
                None,
            )?,
            Err(e) => return Err(RootfsError::path("unmount", at, e)),
        }
    }
    Ok(())
}
