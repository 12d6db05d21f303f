//! Opening (and creating) paths inside the rootfs without ever leaving it.
//!
//! Every lookup is an `openat2(RESOLVE_IN_ROOT)` relative to an `O_PATH` fd of the
//! rootfs, so symlinks (absolute or `..`-laden) resolve as if the rootfs were `/`
//! (CVE-2021-30465). Missing components are created with `mkdirat` in the parent that
//! the same kind of lookup returned; a dangling symlink is followed by re-resolving its
//! target inside the root.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{openat, openat2, readlinkat, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{fstatat, mkdirat, Mode, SFlag};

/// What to do when the last component does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Create {
    /// Fail with ENOENT.
    Nothing,
    /// Create a directory (and all missing parents).
    Dir,
    /// Create an empty regular file (parents as directories).
    File,
}

/// Symlinks followed while creating, like the kernel's MAXSYMLINKS.
const MAX_SYMLINKS: usize = 40;

/// Opens `path` (absolute or relative, always taken relative to `root`) as an `O_PATH`
/// fd, resolving it inside `root`, creating what is missing as `create` says.
pub(crate) fn open_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    create: Create,
) -> Result<OwnedFd, Errno> {
    let mut path = normalize(path);
    let mut symlinks = 0;
    loop {
        match open_path(root, &path) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) if create != Create::Nothing => {}
            Err(e) => return Err(e),
        }
        let comps = components(&path);
        let (missing, parent) = first_missing(root, &comps)?;
        let name = comps[missing].as_path();
        let rest = join(&comps[missing + 1..]);
        match fstatat(
            parent.as_fd(),
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(st) if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFLNK => {
                // A dangling symlink: continue from its target, still inside the root.
                let target = PathBuf::from(readlinkat(parent.as_fd(), name)?);
                let base = if target.is_absolute() {
                    target
                } else {
                    join(&comps[..missing]).join(target)
                };
                path = normalize(&base.join(rest));
                symlinks += 1;
                if symlinks > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
            }
            Ok(_) => {
                // It exists now (a race, or a non-directory in the middle): let the
                // next lookup report it.
            }
            Err(Errno::ENOENT) => {
                let last = missing + 1 == comps.len();
                if last && create == Create::File {
                    let flags = OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_WRONLY
                        | OFlag::O_CLOEXEC
                        | OFlag::O_NOFOLLOW;
                    match openat(parent.as_fd(), name, flags, Mode::from_bits_truncate(0o644)) {
                        Ok(_) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(e),
                    }
                } else {
                    match mkdirat(parent.as_fd(), name, Mode::from_bits_truncate(0o755)) {
                        Ok(()) | Err(Errno::EEXIST) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            Err(e) => return Err(e),
        }
        // Each pass creates a component or follows a symlink; a non-directory in the
        // middle ends as ENOTDIR in the next lookup.
    }
}

/// Opens the parent directory of `path` inside `root` (creating it if asked) and
/// returns it with the final component's name.
pub(crate) fn open_parent_in_root(
    root: BorrowedFd<'_>,
    path: &Path,
    create: Create,
) -> Result<(OwnedFd, PathBuf), Errno> {
    let comps = components(&normalize(path));
    let Some((name, parents)) = comps.split_last() else {
        return Err(Errno::EINVAL);
    };
    if name.as_os_str() == ".." {
        return Err(Errno::EINVAL);
    }
    let parent_create = if create == Create::Nothing {
        Create::Nothing
    } else {
        Create::Dir
    };
    let parent = open_in_root(root, &join(parents), parent_create)?;
    Ok((parent, name.clone()))
}

/// `/proc/self/fd/N` for an fd: the name mount(2) is given for a resolved target.
pub(crate) fn proc_fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// An `O_PATH` fd of the container root (or any directory) to resolve under.
pub(crate) fn open_root(path: &Path) -> Result<OwnedFd, Errno> {
    nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
}

fn open_path(root: BorrowedFd<'_>, path: &Path) -> Result<OwnedFd, Errno> {
    let how = OpenHow::new()
        .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let rel = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    loop {
        match openat2(root, rel, how) {
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// Index of the first component that does not resolve, with an `O_PATH` fd of the
/// prefix before it. Probes from the longest prefix down: a prefix resolves only if every
/// shorter one does, and usually only the last component is missing, so one lookup
/// finds it where a scan from the root costs a lookup (and a close) per component.
fn first_missing(root: BorrowedFd<'_>, comps: &[PathBuf]) -> Result<(usize, OwnedFd), Errno> {
    for i in (0..comps.len()).rev() {
        match open_path(root, &join(&comps[..i])) {
            Ok(fd) => return Ok((i, fd)),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
    }
    // Only for no components at all, which the caller's lookup of "." never misses.
    Err(Errno::ENOENT)
}

/// A path relative to the root: no root, no `.`, no empty components. `..` is kept (the
/// kernel clamps it at the root).
pub(crate) fn normalize(path: &Path) -> PathBuf {
    join(&components(path))
}

fn components(path: &Path) -> Vec<PathBuf> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(PathBuf::from(s)),
            Component::ParentDir => Some(PathBuf::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

fn join(comps: &[PathBuf]) -> PathBuf {
    comps.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_strips_root_and_dots() {
        assert_eq!(normalize(Path::new("/a/./b//c/")), PathBuf::from("a/b/c"));
        assert_eq!(normalize(Path::new("/")), PathBuf::new());
        assert_eq!(normalize(Path::new("../x")), PathBuf::from("../x"));
    }

    #[test]
    fn creates_inside_root_through_symlinks() {
        let tmp = crate::rootfs::tests::TempDir::new("sj");
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        // Absolute and relative escapes, both dangling inside the root.
        std::os::unix::fs::symlink(&outside, root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../outside", root.join("rel")).unwrap();
        let rfd = open_root(&root).unwrap();
        open_in_root(rfd.as_fd(), Path::new("/abs/sub"), Create::Dir).unwrap();
        open_in_root(rfd.as_fd(), Path::new("/rel/file"), Create::File).unwrap();
        let inner = root.join(outside.strip_prefix("/").unwrap());
        assert!(inner.join("sub").is_dir());
        assert!(!outside.join("sub").exists());
        assert!(root.join("outside/file").is_file());
        assert!(!outside.join("file").exists());
        assert_eq!(
            open_in_root(rfd.as_fd(), Path::new("/nope"), Create::Nothing).unwrap_err(),
            Errno::ENOENT
        );
        // A file in the middle of the path.
        std::fs::write(root.join("f"), b"").unwrap();
        assert_eq!(
            open_in_root(rfd.as_fd(), Path::new("/f/x"), Create::Dir).unwrap_err(),
            Errno::ENOTDIR
        );
    }
}
