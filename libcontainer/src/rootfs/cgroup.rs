//! `cgroup` mounts, as runc makes them.
//!
//! - cgroup v2 only (unified host): mount `cgroup2` at the destination.
//! - cgroup v1 (legacy or hybrid host): a tmpfs at the destination, then one entry per
//!   v1 hierarchy named after the host mount point (`cpu,cpuacct`, `systemd`): with a
//!   cgroup namespace a fresh `cgroup` mount of its controllers, without one a bind of
//!   the container's own cgroup directory. Co-mounted controllers get symlinks
//!   (`cpu -> cpu,cpuacct`). Like runc 1.1, the hybrid host's `unified` hierarchy is
//!   not shown.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;

use super::mount_options::MountOptions;
use super::mounts::{apply_propagation, sys_mount, MountCtx};
use super::secure_join::{normalize, Create};
use super::RootfsError;
use crate::mountinfo::{parse_proc_cgroup, CgroupLine, MountInfo};

const TMPFS_FLAGS: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

pub(crate) fn mount_cgroup(
    ctx: &MountCtx<'_>,
    dest: &Path,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    // The host's hierarchies only: copies already bound into the rootfs (an rbind of the
    // host's /sys, say) are not sources.
    let mounts: Vec<&MountInfo> = ctx
        .host_mounts
        .iter()
        .filter(|m| !m.mount_point.starts_with(ctx.rootfs))
        .collect();
    let v1: Vec<&MountInfo> = mounts
        .iter()
        .copied()
        .filter(|m| m.fs_type == "cgroup")
        .collect();
    let flags = opts.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    let procs = parse_proc_cgroup(&read("/proc/self/cgroup")?);
    if v1.is_empty() {
        return mount_cgroup2(ctx, dest, opts, flags, &mounts, &procs);
    }

    let target = ctx.open(dest, Create::Dir)?;
    let tmpfs_flags = TMPFS_FLAGS | (flags & !(MsFlags::MS_RDONLY | TMPFS_FLAGS));
    sys_mount(
        Some(Path::new("tmpfs")),
        &target,
        Some("tmpfs"),
        tmpfs_flags,
        Some("mode=755"),
    )?;
    drop(target);
    apply_propagation(ctx, dest, &opts.propagation)?;
    // The tmpfs just mounted; binds and mounts below go into its subdirectories.
    let dir = ctx.open(dest, Create::Nothing)?;

    for m in v1 {
        let Some(name) = m.mount_point.file_name() else {
            continue;
        };
        let sub = dest.join(name);
        let controllers = m.cgroup_controllers();
        // Made in the fresh tmpfs (no symlink can be there yet), so the lookup below
        // finds it at once instead of probing for the missing component.
        match nix::sys::stat::mkdirat(&dir, name, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(RootfsError::path(
                    "mkdir",
                    ctx.rootfs.join(normalize(&sub)),
                    e,
                ))
            }
        }
        if ctx.cgroupns {
            let target = ctx.open(&sub, Create::Dir)?;
            let data = controllers.join(",");
            // runc names a named hierarchy's mount after it (source "systemd").
            let source = match controllers.as_slice() {
                [one] => one.strip_prefix("name=").unwrap_or("cgroup"),
                _ => "cgroup",
            };
            sys_mount(
                Some(Path::new(source)),
                &target,
                Some("cgroup"),
                flags,
                Some(&data),
            )?;
        } else {
            let Some(src) = own_cgroup_dir(m, &controllers, &procs) else {
                continue;
            };
            let bind = MountOptions {
                flags: MsFlags::MS_BIND | MsFlags::MS_REC | flags,
                ..Default::default()
            };
            super::mounts::bind(ctx, &src, None, &sub, &bind)?;
        }
        for c in &controllers {
            if c.starts_with("name=") || Path::new(c) == Path::new(name) {
                continue;
            }
            match nix::unistd::symlinkat(name, &dir, c.as_str()) {
                Ok(()) | Err(Errno::EEXIST) => {}
                Err(e) => return Err(RootfsError::path("symlink", dest.join(c), e)),
            }
        }
    }
    Ok(())
}

/// cgroup v2: a fresh cgroup2 mount; where the kernel refuses one (no cgroup namespace
/// in a user namespace), a bind of this process's own cgroup directory, as runc does.
fn mount_cgroup2(
    ctx: &MountCtx<'_>,
    dest: &Path,
    opts: &MountOptions,
    flags: MsFlags,
    mounts: &[&MountInfo],
    procs: &[CgroupLine],
) -> Result<(), RootfsError> {
    let target = ctx.open(dest, Create::Dir)?;
    match sys_mount(
        Some(Path::new("cgroup2")),
        &target,
        Some("cgroup2"),
        flags,
        None,
    ) {
        Ok(()) => {}
        Err(e) if matches!(e.errno(), Some(Errno::EPERM | Errno::EBUSY)) => {
            let own = procs.iter().find(|l| l.controllers.is_empty());
            let host = mounts.iter().rev().find(|m| m.fs_type == "cgroup2");
            let src = match (own, host) {
                (Some(own), Some(host)) => match own.path.strip_prefix(&host.root) {
                    Ok(rel) => host.mount_point.join(rel),
                    Err(_) => return Err(e),
                },
                _ => return Err(e),
            };
            drop(target);
            let bind = MountOptions {
                flags: MsFlags::MS_BIND | MsFlags::MS_REC | flags,
                ..Default::default()
            };
            return super::mounts::bind(ctx, &src, None, dest, &bind)
                .and_then(|()| apply_propagation(ctx, dest, &opts.propagation));
        }
        Err(e) => return Err(e),
    }
    drop(target);
    apply_propagation(ctx, dest, &opts.propagation)
}

/// The host path of this process's cgroup in hierarchy `m`.
fn own_cgroup_dir(m: &MountInfo, controllers: &[String], procs: &[CgroupLine]) -> Option<PathBuf> {
    let want: BTreeSet<&str> = controllers.iter().map(String::as_str).collect();
    let line = procs.iter().find(|l| {
        !l.controllers.is_empty()
            && l.controllers
                .iter()
                .map(String::as_str)
                .collect::<BTreeSet<_>>()
                == want
    })?;
    let rel = line.path.strip_prefix(&m.root).ok()?;
    Some(m.mount_point.join(rel))
}

fn read(path: &str) -> Result<String, RootfsError> {
    std::fs::read_to_string(path).map_err(|e| RootfsError::path("read", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mountinfo::parse_mountinfo;

    #[test]
    fn finds_own_cgroup_dir() {
        let mi = parse_mountinfo(
            "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             32 31 0:29 /outer /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n",
        );
        let procs = parse_proc_cgroup("4:memory:/a/b\n2:cpuacct,cpu:/outer/c\n0::/x\n");
        let c = mi[0].cgroup_controllers();
        assert_eq!(
            own_cgroup_dir(&mi[0], &c, &procs),
            Some(PathBuf::from("/sys/fs/cgroup/memory/a/b"))
        );
        let c = mi[1].cgroup_controllers();
        assert_eq!(
            own_cgroup_dir(&mi[1], &c, &procs),
            Some(PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/c"))
        );
    }
}
