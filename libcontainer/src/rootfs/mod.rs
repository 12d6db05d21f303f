//! The container's filesystem view: mounts, /dev, pivot_root, masked and read-only paths.
//!
//! INTERFACE CONTRACT (the rest of the library calls only this):
//!
//! ```ignore
//! #[derive(Debug, thiserror::Error)] #[non_exhaustive] pub enum RootfsError { .. }
//! pub struct RootfsOptions<'a> { pub in_user_ns: bool, pub no_pivot: bool, pub own_mount_ns: bool, pub idmapped: Option<&'a IdmappedMounts>, pub bind_sources: Option<&'a BindSources> }
//! pub(crate) fn plain_binds(spec, bundle) / open_bind_source(pid, source); // runtime side, asked by the init
//! pub fn open_idmapped(spec: &Spec) -> Result<IdmappedMounts, RootfsError>; // runtime side, before spawn
//! pub fn prepare(spec: &Spec, rootfs: &Path, opts: &RootfsOptions) -> Result<(), RootfsError>;
//! pub fn enter(rootfs: &Path, opts: &RootfsOptions) -> Result<(), RootfsError>;  // pivot_root or MS_MOVE+chroot
//! pub fn finalize(spec: &Spec) -> Result<(), RootfsError>;
//! ```
//!
//! Order, as runc: `prepare` (propagation, rootfs self-bind, spec mounts, /dev) →
//! `enter` (pivot_root) → `finalize` (masked, read-only paths, read-only root,
//! rootfsPropagation).

mod bind_sources;
mod cgroup;
mod devices;
mod entry;
mod finalize;
mod host_mounts;
mod idmap;
mod mount_attr;
mod mount_options;
mod mounts;
mod pivot;
mod prepare;
mod secure_join;
#[cfg(test)]
pub(crate) mod tests;

use std::path::PathBuf;

use crate::errno::SysError;

// The lead's process/init calls these; until it is merged nothing in the crate does.
pub use bind_sources::BindSources;
pub(crate) use bind_sources::{open_for as open_bind_source, plain_binds};
pub use devices::reopen_dev_null;
pub use finalize::finalize;
pub use host_mounts::detach_under;
pub use idmap::{open_idmapped, IdmappedMounts};
pub use pivot::enter;
pub use prepare::prepare;

// What `berth check` asks of the same code the mounts use.
pub(crate) use devices::{device_list, needs_setup as needs_dev_setup, node_from_spec};
pub(crate) use idmap::wants_idmap;
pub(crate) use mount_options::MountOptions;
pub(crate) use prepare::root_propagation;
pub(crate) use secure_join::{normalize, open_in_root, open_root, Create};

/// How the container's init is placed, as far as the filesystem is concerned.
#[derive(Debug, Clone, Copy, Default)]
pub struct RootfsOptions<'a> {
    /// The init runs in a new user namespace: devices are bind-mounted, not made, and
    /// locked mount flags are kept on remounts.
    pub in_user_ns: bool,
    /// `--no-pivot`: move the rootfs onto `/` and chroot instead of pivot_root.
    pub no_pivot: bool,
    /// The init has a mount namespace of its own (made or joined). Without one its mounts
    /// are made in the host's namespace: the host's propagation is left alone, the rootfs
    /// is entered with chroot, and `delete` detaches what was mounted (host_mounts.rs).
    pub own_mount_ns: bool,
    /// Idmapped mounts the runtime detached and idmapped before spawning the init
    /// ([`open_idmapped`]); each is attached at its destination instead of a plain bind.
    pub idmapped: Option<&'a IdmappedMounts>,
    /// Bind sources the runtime opened for the init (see bind_sources.rs), bound from
    /// their descriptors.
    pub bind_sources: Option<&'a BindSources>,
}

/// A failure while building the container's filesystem; one line naming what and where.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootfsError {
    /// A spec mount (or one made on its behalf) failed; the text follows runc:
    /// `error mounting "SRC" to rootfs at "DEST": CAUSE`.
    #[error("error mounting {src:?} to rootfs at {dest:?}: {cause}")]
    Mount {
        src: String,
        dest: String,
        cause: Box<RootfsError>,
    },
    /// A syscall on a path: `OP PATH: ERRNO` (`stat /nonexist: no such file or directory`).
    #[error("{op} {}: {errno}", path.display())]
    Path {
        op: &'static str,
        path: PathBuf,
        errno: SysError,
    },
    /// A syscall that has no single path: `CONTEXT: ERRNO`.
    #[error("{context}: {errno}")]
    Sys { context: String, errno: SysError },
    /// A mount option we recognise but do not implement.
    #[error("mount option {0:?} is not supported yet")]
    Unsupported(String),
    /// An idmapped mount that cannot be made as asked.
    #[error("{0}")]
    Idmap(String),
    /// `linux.rootfsPropagation` is not one of the propagation names.
    #[error("invalid rootfs propagation {0:?}")]
    InvalidPropagation(String),
}

impl RootfsError {
    pub(crate) fn path(
        op: &'static str,
        path: impl Into<PathBuf>,
        errno: impl Into<SysError>,
    ) -> Self {
        RootfsError::Path {
            op,
            path: path.into(),
            errno: errno.into(),
        }
    }

    pub(crate) fn sys(context: impl Into<String>, errno: impl Into<SysError>) -> Self {
        RootfsError::Sys {
            context: context.into(),
            errno: errno.into(),
        }
    }

    pub(crate) fn mount(
        src: impl Into<String>,
        dest: impl Into<String>,
        cause: RootfsError,
    ) -> Self {
        RootfsError::Mount {
            src: src.into(),
            dest: dest.into(),
            cause: Box::new(cause),
        }
    }

    /// The errno at the bottom of this error, if there is one.
    #[allow(dead_code)] // used by callers that map errors
    pub fn errno(&self) -> Option<nix::errno::Errno> {
        match self {
            RootfsError::Mount { cause, .. } => cause.errno(),
            RootfsError::Path { errno, .. } | RootfsError::Sys { errno, .. } => Some(errno.0),
            _ => None,
        }
    }
}
