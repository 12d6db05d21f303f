//! Idmapped bind mounts (`uidMappings`/`gidMappings`, options `idmap`/`ridmap` on a mount).
//!
//! The kernel only lets a process holding CAP_SYS_ADMIN over the source filesystem's
//! superblock idmap a mount, and only while the mount is detached. So the runtime (in the
//! host's user namespace) prepares every idmapped mount *before* it spawns the init:
//! `open_tree(OPEN_TREE_CLONE)` detaches a copy of the source, `mount_setattr(
//! MOUNT_ATTR_IDMAP)` gives it the mappings of a user namespace made for the purpose by a
//! short-lived helper process, and the descriptor is inherited by the init, which attaches
//! it at the destination with `move_mount` from inside its own mount namespace.
//!
//! Mappings: the mount's own, else the container's (`linux.uidMappings`), as runc ≥ 1.2.

use std::collections::HashMap;
use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::waitpid;
use nix::unistd::{fork, pipe, read, write, ForkResult};
use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};

use super::mount_attr::{set_attr, MountAttr, AT_RECURSIVE, MOUNT_ATTR_IDMAP};
use super::mount_options::{IdmapKind, MountOptions};
use super::RootfsError;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;

/// Detached, already idmapped mounts, by index in `spec.mounts()`. Made by the runtime
/// before the init is spawned; the init inherits the descriptors (close-on-exec).
#[derive(Debug, Default)]
pub struct IdmappedMounts {
    fds: Vec<(usize, OwnedFd)>,
}

impl IdmappedMounts {
    /// The detached mount for `spec.mounts()[index]`, if it is idmapped.
    pub(crate) fn get(&self, index: usize) -> Option<RawFd> {
        self.fds
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, fd)| fd.as_raw_fd())
    }
}

/// Whether a spec mount asks to be idmapped.
pub(crate) fn wants_idmap(m: &Mount, opts: &MountOptions) -> bool {
    opts.idmap.is_some()
        || m.uid_mappings().as_ref().is_some_and(|v| !v.is_empty())
        || m.gid_mappings().as_ref().is_some_and(|v| !v.is_empty())
}

/// Runtime side, before spawning the init: detach and idmap every mount that asks for it.
pub fn open_idmapped(spec: &Spec) -> Result<IdmappedMounts, RootfsError> {
    let linux = spec.linux().as_ref();
    let container_uids = linux.and_then(|l| l.uid_mappings().as_deref());
    let container_gids = linux.and_then(|l| l.gid_mappings().as_deref());
    let mut userns: HashMap<String, OwnedFd> = HashMap::new();
    let mut out = IdmappedMounts::default();
    for (index, m) in spec.mounts().iter().flatten().enumerate() {
        let opts = MountOptions::of(m);
        if !wants_idmap(m, &opts) {
            continue;
        }
        let src = m
            .source()
            .as_deref()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dest = m.destination().to_string_lossy().into_owned();
        let fail = |cause| RootfsError::mount(src.clone(), dest.clone(), cause);
        if !opts.is_bind() {
            return Err(fail(RootfsError::Idmap(
                "idmapped mounts are only supported for bind mounts".into(),
            )));
        }
        let uids = m.uid_mappings().as_deref().or(container_uids);
        let gids = m.gid_mappings().as_deref().or(container_gids);
        let (Some(uids), Some(gids)) = (uids, gids) else {
            return Err(fail(RootfsError::Idmap(
                "idmapped mount needs uidMappings and gidMappings (on the mount or in linux)"
                    .into(),
            )));
        };
        let key = format!("{}|{}", map_text(uids), map_text(gids));
        if !userns.contains_key(&key) {
            let fd = helper_userns(uids, gids).map_err(fail)?;
            userns.insert(key.clone(), fd);
        }
        let ns = &userns[&key];
        let recursive_tree = opts.flags.contains(nix::mount::MsFlags::MS_REC);
        let recursive_map = opts.idmap == Some(IdmapKind::Recursive);
        let tree = open_tree(Path::new(&src), recursive_tree).map_err(fail)?;
        set_idmap(&tree, ns, recursive_map).map_err(fail)?;
        out.fds.push((index, tree));
    }
    Ok(out)
}

/// Init side: attach a detached mount at `target` (an fd resolved inside the rootfs).
pub(crate) fn attach(tree: RawFd, target: &OwnedFd) -> Result<(), RootfsError> {
    let empty = c"";
    // SAFETY: both descriptors are open; the paths are empty NUL-terminated strings.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree,
            empty.as_ptr(),
            target.as_raw_fd(),
            empty.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if ret < 0 {
        return Err(RootfsError::sys("move_mount", Errno::last()));
    }
    Ok(())
}

fn open_tree(src: &Path, recursive: bool) -> Result<OwnedFd, RootfsError> {
    let path = CString::new(src.as_os_str().as_bytes())
        .map_err(|_| RootfsError::path("open_tree", src, Errno::EINVAL))?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    // SAFETY: a NUL-terminated path and integer flags; the result is a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(RootfsError::path("open_tree", src, Errno::last()));
    }
    // SAFETY: the kernel just returned this descriptor to us and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn set_idmap(tree: &OwnedFd, userns: &OwnedFd, recursive: bool) -> Result<(), RootfsError> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        userns_fd: userns.as_raw_fd() as u64,
        ..MountAttr::default()
    };
    set_attr(tree.as_fd(), &attr, recursive)
        .map_err(|e| RootfsError::sys("mount_setattr MOUNT_ATTR_IDMAP", e))
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// A user namespace with these maps: a helper child unshares one, we write its maps and
/// keep a descriptor of it, then the helper exits.
fn helper_userns(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd, RootfsError> {
    let ctx = |what: &str, e: Errno| RootfsError::sys(format!("idmap helper: {what}"), e);
    let (ready_r, ready_w) = pipe().map_err(|e| ctx("pipe", e))?;
    let (hold_r, hold_w) = pipe().map_err(|e| ctx("pipe", e))?;
    // SAFETY: the runtime is single-threaded; the child only calls unshare, write, read
    // and _exit before it dies.
    match unsafe { fork() }.map_err(|e| ctx("fork", e))? {
        ForkResult::Child => {
            drop(ready_r);
            drop(hold_w);
            let ok = unshare(CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = write(&ready_w, if ok { b"1" } else { b"0" });
            let mut b = [0u8; 1];
            let _ = read(&hold_r, &mut b);
            // SAFETY: _exit skips the parent's destructors, which is what we want.
            unsafe { libc::_exit(0) };
        }
        ForkResult::Parent { child } => {
            drop(ready_w);
            drop(hold_r);
            let result = (|| {
                let mut b = [0u8; 1];
                match read(&ready_r, &mut b) {
                    Ok(1) if b[0] == b'1' => {}
                    Ok(_) => return Err(ctx("unshare user namespace", Errno::EPERM)),
                    Err(e) => return Err(ctx("read", e)),
                }
                for (file, maps) in [("uid_map", uids), ("gid_map", gids)] {
                    let path = format!("/proc/{child}/{file}");
                    std::fs::write(&path, map_text(maps))
                        .map_err(|e| RootfsError::path("write", &path, e))?;
                }
                let path = format!("/proc/{child}/ns/user");
                nix::fcntl::open(
                    path.as_str(),
                    nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                .map_err(|e| RootfsError::path("open", &path, e))
            })();
            drop(hold_w);
            let _ = waitpid(child, None);
            result
        }
    }
}
