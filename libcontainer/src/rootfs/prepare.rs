//! Before pivot_root: propagation, the rootfs self-bind, spec mounts, /dev.

use std::os::fd::AsFd;
use std::path::Path;

use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use super::entry::mount_entry;
use super::mount_options::propagation_flags;
use super::mounts::{mount_path, MountCtx};
use super::secure_join::open_root;
use super::{devices, RootfsError, RootfsOptions};
use crate::mountinfo::{parse_mountinfo, MountInfo};

/// Called in the container's init, inside its new mount namespace (and user namespace,
/// maps written), before [`enter`](super::enter). `rootfs` is absolute and canonical.
pub fn prepare(spec: &Spec, rootfs: &Path, opts: &RootfsOptions) -> Result<(), RootfsError> {
    // In the host's mount namespace (no namespace of its own) the host's propagation is
    // not the container's to change, and the rootfs needs no mount of its own: it is
    // entered with chroot.
    if opts.own_mount_ns {
        let propagation = match root_propagation(spec)? {
            Some(p) => p,
            None => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        };
        mount_path(None, Path::new("/"), None, propagation, None)?;
    }
    // Read once: the parent mount of the rootfs here, the host's cgroup hierarchies in
    // `cgroup.rs` (mounts made below are all under the rootfs, which it skips anyway).
    let host_mounts = parse_mountinfo(
        &std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| RootfsError::path("read", "/proc/self/mountinfo", e))?,
    );
    if opts.own_mount_ns {
        make_parent_private(rootfs, &host_mounts)?;
        mount_path(
            Some(rootfs),
            rootfs,
            Some("bind"),
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
        )?;
    }

    let root = open_root(rootfs).map_err(|e| RootfsError::path("open", rootfs, e))?;
    let ctx = MountCtx {
        root: root.as_fd(),
        rootfs,
        in_user_ns: opts.in_user_ns,
        cgroupns: has_namespace(spec, LinuxNamespaceType::Cgroup),
        host_mounts: &host_mounts,
    };
    for (index, m) in spec.mounts().iter().flatten().enumerate() {
        let tree = opts.idmapped.and_then(|i| i.get(index));
        let source = opts.bind_sources.and_then(|s| s.get(index));
        mount_entry(&ctx, m, tree, source)?;
    }
    if devices::needs_setup(spec) {
        devices::setup_dev(&ctx, spec)?;
    }
    Ok(())
}

/// `linux.rootfsPropagation` as mount flags, if given.
pub(crate) fn root_propagation(spec: &Spec) -> Result<Option<MsFlags>, RootfsError> {
    let Some(name) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
    else {
        return Ok(None);
    };
    if name.is_empty() {
        return Ok(None);
    }
    propagation_flags(name)
        .map(Some)
        .ok_or_else(|| RootfsError::InvalidPropagation(name.to_string()))
}

fn has_namespace(spec: &Spec, typ: LinuxNamespaceType) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == typ))
}

/// pivot_root refuses a new root whose parent mount is shared: make that mount private.
fn make_parent_private(rootfs: &Path, mounts: &[MountInfo]) -> Result<(), RootfsError> {
    // The last (topmost) of the longest mount points containing rootfs.
    let parent = mounts
        .iter()
        .filter(|m| rootfs.starts_with(&m.mount_point))
        .fold(None, |best: Option<&MountInfo>, m| match best {
            Some(b) if b.mount_point.components().count() > m.mount_point.components().count() => {
                Some(b)
            }
            _ => Some(m),
        });
    match parent {
        Some(p) if p.is_shared() => {
            mount_path(None, &p.mount_point, None, MsFlags::MS_PRIVATE, None)
        }
        _ => Ok(()),
    }
}
