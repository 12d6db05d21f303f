//! Bind sources opened by the runtime for a container with a user namespace of its own.
//!
//! The init makes the mounts from inside that namespace, where the container's root is
//! some unprivileged host uid that may not reach a source (a directory only the host's
//! root may enter, on the way to it). So the init asks the runtime, still host root, to
//! open each bind source for it, through `/proc/<init>/root`: the descriptor then names a
//! mount of the init's own mount namespace, which a bind from `/proc/self/fd/N` needs, and
//! the path walk needs no search permission of the init. runc does the same (its mount
//! source descriptors).

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use oci_spec::runtime::Spec;

use super::idmap::wants_idmap;
use super::mount_options::MountOptions;

/// Descriptors of bind sources, by index in `spec.mounts()`.
#[derive(Debug, Default)]
pub struct BindSources {
    fds: Vec<(usize, OwnedFd)>,
}

impl BindSources {
    pub(crate) fn insert(&mut self, index: usize, fd: OwnedFd) {
        self.fds.push((index, fd));
    }

    /// The opened source of `spec.mounts()[index]`, if the runtime opened one.
    pub(crate) fn get(&self, index: usize) -> Option<RawFd> {
        self.fds
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, fd)| fd.as_raw_fd())
    }
}

/// The plain (not idmapped) bind mounts of `spec`, by index, with their sources made
/// absolute (a relative source is relative to the bundle, as in runc).
pub(crate) fn plain_binds(spec: &Spec, bundle: &Path) -> Vec<(usize, PathBuf)> {
    let mut out = Vec::new();
    for (index, m) in spec.mounts().iter().flatten().enumerate() {
        let opts = MountOptions::of(m);
        if !opts.is_bind() || wants_idmap(m, &opts) {
            continue;
        }
        if let Some(src) = m.source().as_deref() {
            out.push((index, bundle.join(src)));
        }
    }
    out
}

/// Runtime side: opens `source` as the process `pid` sees it (`O_PATH`), walking as host
/// root. None when it cannot be opened: the init then binds by path and reports the
/// failure as for any bind.
pub(crate) fn open_for(pid: i32, source: &Path) -> Option<OwnedFd> {
    let seen = PathBuf::from(format!("/proc/{pid}/root")).join(source.strip_prefix("/").ok()?);
    open(&seen, OFlag::O_PATH | OFlag::O_CLOEXEC, Mode::empty()).ok()
}
