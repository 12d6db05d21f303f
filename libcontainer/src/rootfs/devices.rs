//! /dev: device nodes (runc's defaults plus `linux.devices`) and the standard symlinks.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, mknodat, umask, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Spec};

use super::mounts::{sys_mount, MountCtx};
use super::secure_join::{normalize, open_parent_in_root, Create};
use super::RootfsError;

/// A device node to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// runc's default devices: `(path, major, minor)`, char devices, mode 0666, owned by root.
const DEFAULT_DEVICES: &[(&str, u64, u64)] = &[
    ("/dev/null", 1, 3),
    ("/dev/random", 1, 8),
    ("/dev/full", 1, 7),
    ("/dev/tty", 5, 0),
    ("/dev/zero", 1, 5),
    ("/dev/urandom", 1, 9),
];

/// `(link, target)` made in every container's /dev.
const SYMLINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// runc sets up /dev unless the spec bind-mounts something over /dev itself.
pub(crate) fn needs_setup(spec: &Spec) -> bool {
    !spec.mounts().iter().flatten().any(|m| {
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        bind && super::mounts::is_dev(m.destination())
    })
}

/// Creates the device nodes, the ptmx link and the standard symlinks, with umask 0.
pub(crate) fn setup_dev(ctx: &MountCtx<'_>, spec: &Spec) -> Result<(), RootfsError> {
    let nodes = device_list(spec)?;
    let mounted: Vec<PathBuf> = spec
        .mounts()
        .iter()
        .flatten()
        .map(|m| normalize(m.destination()))
        .collect();
    let old = umask(Mode::empty());
    let result = (|| {
        for node in nodes
            .iter()
            .filter(|n| !mounted.contains(&normalize(&n.path)))
        {
            create_node(ctx, node)?;
        }
        setup_symlinks(ctx)
    })();
    umask(old);
    result
}

/// Spec devices first, then each default whose path the spec does not name.
pub(crate) fn device_list(spec: &Spec) -> Result<Vec<Node>, RootfsError> {
    let mut nodes = Vec::new();
    for d in spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_ref())
        .into_iter()
        .flatten()
    {
        nodes.push(node_from_spec(d)?);
    }
    for (path, major, minor) in DEFAULT_DEVICES {
        if !nodes
            .iter()
            .any(|n| normalize(&n.path) == normalize(Path::new(path)))
        {
            nodes.push(Node {
                path: PathBuf::from(path),
                kind: SFlag::S_IFCHR,
                major: *major,
                minor: *minor,
                mode: 0o666,
                uid: 0,
                gid: 0,
            });
        }
    }
    Ok(nodes)
}

pub(crate) fn node_from_spec(d: &LinuxDevice) -> Result<Node, RootfsError> {
    let invalid = || RootfsError::path("mknod", d.path(), Errno::EINVAL);
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => return Err(invalid()),
    };
    Ok(Node {
        path: d.path().clone(),
        kind,
        major: u64::try_from(d.major()).map_err(|_| invalid())?,
        minor: u64::try_from(d.minor()).map_err(|_| invalid())?,
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

fn create_node(ctx: &MountCtx<'_>, node: &Node) -> Result<(), RootfsError> {
    if ctx.in_user_ns {
        return bind_node(ctx, node);
    }
    let (dir, name) = open_parent_in_root(ctx.root, &node.path, Create::Dir)
        .map_err(|e| RootfsError::path("mkdir", ctx.rootfs.join(normalize(&node.path)), e))?;
    let dev = makedev(node.major, node.minor);
    match mknodat(
        dir.as_fd(),
        &name,
        node.kind,
        Mode::from_bits_truncate(node.mode),
        dev,
    ) {
        Ok(()) => {}
        Err(Errno::EEXIST) => return Ok(()),
        Err(Errno::EPERM) => return bind_node(ctx, node),
        Err(e) => return Err(RootfsError::path("mknod", &node.path, e)),
    }
    fchownat(
        dir.as_fd(),
        &name,
        Some(Uid::from_raw(node.uid)),
        Some(Gid::from_raw(node.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(|e| RootfsError::path("chown", &node.path, e))
}

/// In a user namespace mknod is not allowed: bind the host's node onto an empty file.
fn bind_node(ctx: &MountCtx<'_>, node: &Node) -> Result<(), RootfsError> {
    let target = ctx.open(&node.path, Create::File)?;
    sys_mount(
        Some(&node.path),
        &target,
        Some("bind"),
        MsFlags::MS_BIND,
        None,
    )
}

fn setup_symlinks(ctx: &MountCtx<'_>) -> Result<(), RootfsError> {
    let dev = ctx.open(Path::new("/dev"), Create::Dir)?;
    let link = |target: &str, name: &str| match symlinkat(target, dev.as_fd(), name) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(e) => Err(RootfsError::path(
            "symlink",
            Path::new("/dev").join(name),
            e,
        )),
    };
    // /dev/ptmx always points at the devpts instance's ptmx.
    match unlinkat(dev.as_fd(), "ptmx", UnlinkatFlags::NoRemoveDir) {
        Ok(()) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(RootfsError::path("remove", "/dev/ptmx", e)),
    }
    link("pts/ptmx", "ptmx")?;
    for (name, target) in SYMLINKS {
        link(target, name)?;
    }
    if Path::new("/proc/kcore").exists() {
        link("/proc/kcore", "core")?;
    }
    Ok(())
}

/// After pivot_root: stdio that is the host's /dev/null (a caller's `</dev/null`) is
/// replaced by the container's own, as runc does. The host's node is on a mount the
/// container cannot see, which CRIU, for one, cannot dump.
pub fn reopen_dev_null() -> Result<(), RootfsError> {
    use nix::fcntl::{open, OFlag};
    use nix::sys::stat::fstat;
    let null = open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|e| RootfsError::sys("open /dev/null in the container", e))?;
    let null_stat = fstat(&null).map_err(|e| RootfsError::sys("stat /dev/null", e))?;
    for fd in 0..3 {
        // SAFETY: 0–2 stay open for the whole call; the borrow ends with it.
        let stdio = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let Ok(st) = fstat(stdio) else { continue };
        let is_char = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFCHR;
        let same_node = st.st_dev == null_stat.st_dev && st.st_ino == null_stat.st_ino;
        if is_char && st.st_rdev == null_stat.st_rdev && !same_node {
            // SAFETY: dup3 takes two descriptors of this process and a flag word.
            if unsafe { libc::dup3(std::os::fd::AsRawFd::as_raw_fd(&null), fd, 0) } < 0 {
                return Err(RootfsError::sys(
                    format!("reopen /dev/null onto fd {fd}"),
                    Errno::last(),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_and_spec_devices() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"linux":{"devices":[
                {"path":"/dev/null","type":"c","major":1,"minor":3,"fileMode":384},
                {"path":"/dev/sda","type":"b","major":8,"minor":0,"uid":5,"gid":6},
                {"path":"/dev/fifo","type":"p"}]}}"#,
        );
        let nodes = device_list(&s).unwrap();
        assert_eq!(nodes.len(), 3 + 5);
        assert_eq!(nodes[0].mode, 0o600);
        assert_eq!(nodes[1].kind, SFlag::S_IFBLK);
        assert_eq!((nodes[1].uid, nodes[1].gid), (5, 6));
        assert_eq!(nodes[2].mode, 0o666);
        assert_eq!(
            nodes
                .iter()
                .filter(|n| n.path == Path::new("/dev/null"))
                .count(),
            1
        );
    }

    #[test]
    fn bind_over_dev_skips_setup() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"mounts":[
                {"destination":"/dev/","type":"bind","source":"/dev"}]}"#,
        );
        assert!(!needs_setup(&s));
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"mounts":[
                {"destination":"/dev","type":"tmpfs","source":"tmpfs"}]}"#,
        );
        assert!(needs_setup(&s));
    }
}
