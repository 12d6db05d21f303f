//! mount(2) calls on targets resolved inside the rootfs: binds, filesystems, remounts,
//! propagation, and the context they run in. entry.rs picks which one a spec entry needs.

use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::SFlag;

use super::idmap;
use super::mount_options::MountOptions;
use super::secure_join::{normalize, open_in_root, proc_fd_path, Create};
use super::RootfsError;
use crate::mountinfo::MountInfo;

/// Flags the kernel locks on a mount made in a more privileged mount namespace; a
/// remount from a user namespace must keep them.
const LOCKABLE: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(MsFlags::MS_NOATIME)
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::MS_RELATIME);

/// What the mount code needs to know about the container.
pub(crate) struct MountCtx<'a> {
    /// `O_PATH` fd of the rootfs (after its self-bind), the root of every lookup.
    pub root: BorrowedFd<'a>,
    pub rootfs: &'a Path,
    pub in_user_ns: bool,
    pub cgroupns: bool,
    /// `/proc/self/mountinfo` as read at the start of `prepare` (the host's mounts).
    pub host_mounts: &'a [MountInfo],
}

impl MountCtx<'_> {
    /// Resolves `dest` inside the rootfs, creating it as asked.
    pub(crate) fn open(&self, dest: &Path, create: Create) -> Result<OwnedFd, RootfsError> {
        open_in_root(self.root, dest, create).map_err(|e| {
            let op = if create == Create::Nothing {
                "open"
            } else {
                "mkdir"
            };
            RootfsError::path(op, self.rootfs.join(normalize(dest)), e)
        })
    }
}

/// A bind mount: stat the source, create the target as a dir or file, bind, then
/// remount for ro/nosuid/..., then propagation. `source_fd` is the source opened by the
/// runtime (see bind_sources.rs), used in the path's place.
pub(crate) fn bind(
    ctx: &MountCtx<'_>,
    src: &Path,
    source_fd: Option<RawFd>,
    dest: &Path,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    let by_fd = source_fd.map(|fd| PathBuf::from(format!("/proc/self/fd/{fd}")));
    let from = by_fd.as_deref().unwrap_or(src);
    let st = nix::sys::stat::stat(from).map_err(|e| RootfsError::path("stat", src, e))?;
    let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    let target = ctx.open(dest, if is_dir { Create::Dir } else { Create::File })?;
    let bind_flags = opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
    sys_mount(Some(from), &target, None, bind_flags, None)?;
    drop(target);
    let extra = opts.bind_remount_flags();
    if !extra.is_empty() {
        let target = ctx.open(dest, Create::Nothing)?;
        remount_bind(&proc_fd_path(&target), extra)?;
    }
    apply_propagation(ctx, dest, &opts.propagation)
}

/// An idmapped bind: the runtime already detached and idmapped the source; attach it,
/// then remount and propagation as for any bind.
pub(crate) fn bind_idmapped(
    ctx: &MountCtx<'_>,
    tree: RawFd,
    src: &Path,
    dest: &Path,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    let st = nix::sys::stat::fstat(
        // SAFETY: the descriptor stays open for the whole call (owned by IdmappedMounts).
        unsafe { BorrowedFd::borrow_raw(tree) },
    )
    .map_err(|e| RootfsError::path("stat", src, e))?;
    let is_dir = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
    let target = ctx.open(dest, if is_dir { Create::Dir } else { Create::File })?;
    idmap::attach(tree, &target)?;
    drop(target);
    let extra = opts.bind_remount_flags();
    if !extra.is_empty() {
        let target = ctx.open(dest, Create::Nothing)?;
        remount_bind(&proc_fd_path(&target), extra)?;
    }
    apply_propagation(ctx, dest, &opts.propagation)
}

/// Any filesystem mount (tmpfs, proc, sysfs, mqueue, devpts, ...): the target is a
/// directory; tmpfs and /dev are mounted writable and remounted read-only afterwards.
pub(crate) fn fs_mount(
    ctx: &MountCtx<'_>,
    src: &str,
    dest: &Path,
    typ: &str,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    let target = ctx.open(dest, Create::Dir)?;
    let mut flags = opts.flags;
    let ro_later = flags.contains(MsFlags::MS_RDONLY) && (typ == "tmpfs" || is_dev(dest));
    if ro_later {
        flags.remove(MsFlags::MS_RDONLY);
    }
    let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
    let fstype = (!typ.is_empty()).then_some(typ);
    match sys_mount(Some(Path::new(src)), &target, fstype, flags, data) {
        Err(e) if e.errno() == Some(Errno::EPERM) && ctx.in_user_ns => {
            if let Some(host) = userns_fallback(typ) {
                drop(target);
                return bind_host_instead(ctx, host, dest, opts);
            }
            return Err(e);
        }
        other => other?,
    }
    drop(target);
    // /dev stays writable until finalize (devices are created in it first).
    if ro_later && typ == "tmpfs" && !is_dev(dest) {
        let target = ctx.open(dest, Create::Nothing)?;
        sys_mount(
            Some(Path::new(src)),
            &target,
            fstype,
            opts.flags | MsFlags::MS_REMOUNT,
            data,
        )?;
    }
    apply_propagation(ctx, dest, &opts.propagation)
}

/// In a user namespace that does not own the network (ipc) namespace the kernel refuses
/// a new sysfs (mqueue); like `runc spec --rootless` (and runc ≥ 1.2 by itself), bind
/// the host's instead.
fn userns_fallback(typ: &str) -> Option<&'static Path> {
    match typ {
        "sysfs" => Some(Path::new("/sys")),
        "mqueue" => Some(Path::new("/dev/mqueue")),
        _ => None,
    }
}

fn bind_host_instead(
    ctx: &MountCtx<'_>,
    host: &Path,
    dest: &Path,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    let bind_opts = MountOptions {
        flags: opts.flags | MsFlags::MS_BIND | MsFlags::MS_REC,
        propagation: opts.propagation.clone(),
        ..MountOptions::default()
    };
    bind(ctx, host, None, dest, &bind_opts)
}

pub(crate) fn is_dev(dest: &Path) -> bool {
    normalize(dest) == Path::new("dev")
}

/// Applies propagation changes to the mount now at `dest`.
pub(crate) fn apply_propagation(
    ctx: &MountCtx<'_>,
    dest: &Path,
    props: &[MsFlags],
) -> Result<(), RootfsError> {
    if props.is_empty() {
        return Ok(());
    }
    let target = ctx.open(dest, Create::Nothing)?;
    for p in props {
        sys_mount(None, &target, None, *p, None)?;
    }
    Ok(())
}

/// `MS_REMOUNT|MS_BIND|flags` on the mount at `target`; when the kernel refuses
/// (EPERM: flags locked by a more privileged namespace), retries keeping the flags the
/// mount already has among the lockable ones.
pub(crate) fn remount_bind(target: &Path, flags: MsFlags) -> Result<(), RootfsError> {
    let flags = flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    match mount_path(None, target, None, flags, None) {
        Err(e) if e.errno() == Some(Errno::EPERM) => {
            let locked = mount_flags(target)? & LOCKABLE;
            mount_path(None, target, None, flags | locked, None)
        }
        other => other,
    }
}

/// The per-mount flags of the mount at `path` (statvfs's ST_* bits equal MS_*).
pub(crate) fn mount_flags(path: &Path) -> Result<MsFlags, RootfsError> {
    let st = nix::sys::statvfs::statvfs(path).map_err(|e| RootfsError::path("statfs", path, e))?;
    #[allow(clippy::unnecessary_cast)]
    Ok(MsFlags::from_bits_truncate(
        st.flags().bits() as libc::c_ulong
    ))
}

/// mount(2) onto an fd resolved inside the rootfs, with runc's error text.
pub(crate) fn sys_mount(
    src: Option<&Path>,
    target: &OwnedFd,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), RootfsError> {
    mount_path(src, &proc_fd_path(target), fstype, flags, data)
}

/// mount(2) on a plain path (after pivot_root, or /proc/self/fd/N).
pub(crate) fn mount_path(
    src: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), RootfsError> {
    mount(src, target, fstype, flags, data).map_err(|e| {
        RootfsError::sys(
            format!(
                "mount {} (via {}), flags: {:#x}{}",
                src.map(|s| s.display().to_string()).unwrap_or_default(),
                target.display(),
                flags.bits(),
                data.map(|d| format!(", data: {d}")).unwrap_or_default()
            ),
            e,
        )
    })
}
