//! Apply a layer (a tar stream, any compression) onto a rootfs directory: whiteouts and
//! opaque directories, hard links, symlinks, device nodes and fifos, ownership, modes,
//! xattrs and mtimes. Entry names with `..` are refused; every path is resolved inside
//! the rootfs (`scoped`), so a symlink in the image can never send a write outside it.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::time::TimeSpec;
use tar::EntryType;

use crate::compress::decompress;
use crate::error::{Error, IoContext, Result};
use crate::scoped::{clean_entry_path, resolve};

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE: &str = ".wh..wh..opq";

#[derive(Clone, Debug)]
pub struct UnpackOptions {
    /// chown entries to their uid/gid (needs root); otherwise they belong to the caller.
    pub preserve_owner: bool,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions {
            preserve_owner: nix::unistd::geteuid().is_root(),
        }
    }
}

/// Apply one layer to `root`. `what` names the layer in errors.
pub fn apply_layer(root: &Path, layer: impl Read, what: &str, opts: &UnpackOptions) -> Result<()> {
    let io_err = |e: io::Error| Error::invalid(format!("layer {what}"), e);
    let mut ar = tar::Archive::new(decompress(layer).map_err(io_err)?);
    let mut created: HashSet<PathBuf> = HashSet::new();
    let mut dir_times: Vec<(PathBuf, u64)> = Vec::new();
    for entry in ar.entries().map_err(io_err)? {
        let mut entry = entry.map_err(io_err)?;
        let raw = entry.path_bytes().into_owned();
        let rel = clean_entry_path(&raw)?;
        let Some(name) = rel.file_name().map(|n| n.to_os_string()) else {
            continue; // the root itself
        };
        let parent_rel = rel.parent().unwrap_or(Path::new(""));
        let parent = resolve(root, parent_rel, true)?;
        let name_b = name.as_bytes();
        if name_b.starts_with(WHITEOUT_PREFIX.as_bytes()) {
            if name_b == OPAQUE.as_bytes() {
                if parent.is_dir() {
                    clear_opaque(&parent, parent_rel, &created)?;
                }
            } else if !name_b.starts_with(b".wh..wh.") {
                let victim = parent.join(std::ffi::OsStr::from_bytes(&name_b[4..]));
                remove_any(&victim)?;
            }
            continue;
        }
        fs::create_dir_all(&parent).at(&parent)?;
        let dst = parent.join(&name);
        let h = entry.header().clone();
        let kind = h.entry_type();
        let mode = h.mode().map_err(io_err)? & 0o7777;
        let existing = fs::symlink_metadata(&dst).ok();
        match kind {
            EntryType::Directory => {
                if existing.as_ref().is_some_and(|m| !m.is_dir()) {
                    remove_any(&dst)?;
                }
                if existing.as_ref().is_none_or(|m| !m.is_dir()) {
                    fs::create_dir(&dst).at(&dst)?;
                }
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                remove_any_existing(&dst, existing.as_ref())?;
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .custom_flags(libc::O_NOFOLLOW)
                    .mode(0o600)
                    .open(&dst)
                    .at(&dst)?;
                io::copy(&mut entry, &mut f)
                    .map_err(|e| Error::invalid(format!("layer {what}: {}", rel.display()), e))?;
            }
            EntryType::Symlink => {
                remove_any_existing(&dst, existing.as_ref())?;
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_entry(&rel, "symlink without a target"))?;
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &dst).at(&dst)?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| unsafe_entry(&rel, "hard link without a target"))?;
                let trel = clean_entry_path(&target)?;
                let src = resolve(root, &trel, false)?;
                let sm = fs::symlink_metadata(&src).map_err(|_| {
                    unsafe_entry(
                        &rel,
                        &format!("hard link target {} missing", trel.display()),
                    )
                })?;
                if sm.is_dir() {
                    return Err(unsafe_entry(&rel, "hard link to a directory"));
                }
                if src != dst {
                    remove_any_existing(&dst, existing.as_ref())?;
                    fs::hard_link(&src, &dst).at(&dst)?;
                }
                created.insert(rel);
                continue; // a hard link shares the target's metadata
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                remove_any_existing(&dst, existing.as_ref())?;
                let sflag = match kind {
                    EntryType::Char => SFlag::S_IFCHR,
                    EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let major = h.device_major().ok().flatten().unwrap_or(0);
                let minor = h.device_minor().ok().flatten().unwrap_or(0);
                mknod(
                    &dst,
                    sflag,
                    Mode::from_bits_truncate(0o600),
                    makedev(major.into(), minor.into()),
                )
                .map_err(|e| Error::Io {
                    path: dst.clone(),
                    source: e.into(),
                })?;
            }
            // PAX/GNU headers are folded into entries by `tar`; anything else is skipped.
            _ => continue,
        }
        created.insert(rel.clone());
        let is_link = kind == EntryType::Symlink;
        if opts.preserve_owner {
            let uid = h.uid().map_err(io_err)? as u32;
            let gid = h.gid().map_err(io_err)? as u32;
            std::os::unix::fs::lchown(&dst, Some(uid), Some(gid)).at(&dst)?;
        }
        if let Some(exts) = entry.pax_extensions().map_err(io_err)? {
            for ext in exts {
                let ext = ext.map_err(io_err)?;
                if let Some(attr) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    let attr = std::ffi::OsStr::from_bytes(attr);
                    xattr::set(&dst, attr, ext.value_bytes()).map_err(|e| Error::Io {
                        path: dst.clone(),
                        source: e,
                    })?;
                }
            }
        }
        if !is_link {
            fs::set_permissions(&dst, fs::Permissions::from_mode(mode)).at(&dst)?;
        }
        let mtime = h.mtime().unwrap_or(0);
        if kind == EntryType::Directory {
            dir_times.push((dst, mtime));
        } else {
            set_mtime(&dst, mtime)?;
        }
    }
    for (d, t) in dir_times.into_iter().rev() {
        set_mtime(&d, t)?;
    }
    Ok(())
}

fn unsafe_entry(rel: &Path, reason: &str) -> Error {
    Error::Unsafe {
        path: rel.display().to_string(),
        reason: reason.into(),
    }
}

fn set_mtime(p: &Path, secs: u64) -> Result<()> {
    let t = TimeSpec::new(secs as i64, 0);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        p,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| Error::Io {
        path: p.into(),
        source: e.into(),
    })
}

fn remove_any_existing(p: &Path, existing: Option<&fs::Metadata>) -> Result<()> {
    match existing {
        Some(m) if m.is_dir() => fs::remove_dir_all(p).at(p),
        Some(_) => fs::remove_file(p).at(p),
        None => Ok(()),
    }
}

/// Remove a file, link or directory tree; absent is fine.
pub fn remove_any(p: &Path) -> Result<()> {
    let m = fs::symlink_metadata(p).ok();
    remove_any_existing(p, m.as_ref())
}

/// An opaque directory hides everything the lower layers put in it: remove what this
/// layer did not create (recursively, so a directory re-listed here loses lower content).
fn clear_opaque(dir: &Path, dir_rel: &Path, created: &HashSet<PathBuf>) -> Result<()> {
    for e in fs::read_dir(dir).at(dir)? {
        let e = e.at(dir)?;
        let rel = dir_rel.join(e.file_name());
        let p = e.path();
        if !created.contains(&rel) {
            remove_any(&p)?;
        } else if e.file_type().at(&p)?.is_dir() {
            clear_opaque(&p, &rel, created)?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "unpack_tests.rs"]
mod tests;
