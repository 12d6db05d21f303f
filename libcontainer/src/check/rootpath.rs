//! Looking at paths inside the rootfs as the container will see them: resolved in the
//! rootfs (symlinks included) with the same lookup the mounts use.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::stat::{fstat, FileStat, SFlag};

use crate::rootfs::{open_in_root, open_root, Create};

/// `stat` of `path` inside `rootfs`, following symlinks inside it.
pub(super) fn stat_in(rootfs: &Path, path: &Path) -> Result<FileStat, Errno> {
    let root = open_root(rootfs)?;
    let fd = open_in_root(root.as_fd(), path, Create::Nothing)?;
    fstat(fd.as_fd())
}

pub(super) fn is_dir(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

/// What execve accepts, as Go's LookPath judges it: not a directory, some x bit.
pub(super) fn is_executable(st: &FileStat) -> bool {
    !is_dir(st) && st.st_mode & 0o111 != 0
}

/// The program `name` resolves to in `rootfs` with `path_var` (the container's PATH)
/// and working directory `cwd`, as the init's LookPath will find it.
pub(super) fn look_path(rootfs: &Path, name: &str, path_var: &str, cwd: &Path) -> Option<PathBuf> {
    let found = |p: &Path| stat_in(rootfs, p).is_ok_and(|st| is_executable(&st));
    if name.contains('/') {
        let p = cwd.join(name);
        return found(&p).then_some(p);
    }
    path_var
        .split(':')
        .map(|dir| cwd.join(if dir.is_empty() { "." } else { dir }).join(name))
        .find(|p| found(p))
}
