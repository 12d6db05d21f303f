//! After pivot_root, in runc's order: rootfsPropagation, readonlyPaths, maskedPaths,
//! a read-only /dev if asked, the read-only root.
//!
//! Paths are plain: `/` is the container's root now, so symlinks cannot leave it.

use std::path::Path;

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{stat, SFlag};
use oci_spec::runtime::Spec;

use super::mount_options::MountOptions;
use super::mounts::{is_dev, mount_flags, mount_path, remount_bind};
use super::prepare::root_propagation;
use super::RootfsError;

/// Called after [`enter`](super::enter).
pub fn finalize(spec: &Spec) -> Result<(), RootfsError> {
    // runc 1.1.5 applies rootfsPropagation only before pivot_root (to the host copy of
    // "/"); the new root comes from a private parent, so the container sees no peer group.
    // Newer runc re-applies it here; we follow the reference we are compared against.
    root_propagation(spec)?;
    let linux = spec.linux().as_ref();
    for p in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
    {
        readonly_path(Path::new(p))?;
    }
    for p in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
    {
        mask_path(Path::new(p))?;
    }
    let dev_ro = spec.mounts().iter().flatten().any(|m| {
        is_dev(m.destination())
            && MountOptions::parse(m.options().as_deref().unwrap_or(&[]))
                .flags
                .contains(MsFlags::MS_RDONLY)
    });
    if dev_ro {
        remount_bind(Path::new("/dev"), MsFlags::MS_RDONLY)?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        remount_bind(Path::new("/"), MsFlags::MS_RDONLY)?;
    }
    Ok(())
}

/// Bind the path onto itself, then remount it read-only (keeping nosuid/nodev/noexec).
fn readonly_path(path: &Path) -> Result<(), RootfsError> {
    match mount_path(
        Some(path),
        path,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    ) {
        Err(e) if e.errno() == Some(Errno::ENOENT) => return Ok(()),
        other => other?,
    }
    // runc keeps the flags a user namespace could not clear anyway.
    let keep = mount_flags(path)? & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    remount_bind(path, MsFlags::MS_RDONLY | keep)
}

/// /dev/null over a file, an empty read-only tmpfs over a directory; missing is fine.
fn mask_path(path: &Path) -> Result<(), RootfsError> {
    let st = match stat(path) {
        Ok(st) => st,
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(RootfsError::path("stat", path, e)),
    };
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR {
        mount_path(
            Some(Path::new("tmpfs")),
            path,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None,
        )
    } else {
        mount_path(
            Some(Path::new("/dev/null")),
            path,
            None,
            MsFlags::MS_BIND,
            None,
        )
    }
}
