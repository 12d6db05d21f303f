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
    chdir(rootfs).map_err(|e| RootfsError::path("chdir", rootfs, e))?;
    mount_path(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)?;
    chroot(".").map_err(|e| RootfsError::path("chroot", rootfs, e))?;
    chdir("/").map_err(|e| RootfsError::path("chdir", "/", e))
}
