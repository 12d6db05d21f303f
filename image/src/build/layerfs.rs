//! Files on disk → layer tar entries: one path with its metadata (`entry`), and an
//! overlayfs upper directory → a layer diff (`upper_to_layer`): a 0/0 character device is
//! a deletion (`.wh.NAME`), a directory with `trusted.overlay.opaque=y` is opaque
//! (`.wh..wh..opq`).

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::error::{IoContext, Result};
use crate::layer::LayerBuilder;

/// Ownership and mode overrides for `entry`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Meta {
    pub owner: Option<(u32, u32)>,
    pub chmod: Option<u32>,
    /// Follow a symlink at `host` (COPY's named sources).
    pub follow: bool,
}

/// Append `host` as layer path `rel` (no leading `/`).
pub fn entry(l: &mut LayerBuilder, host: &Path, rel: &str, meta: Meta) -> Result<()> {
    let m = if meta.follow {
        fs::metadata(host)
    } else {
        fs::symlink_metadata(host)
    }
    .at(host)?;
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(&m, tar::HeaderMode::Complete);
    let ft = m.file_type();
    if let Some((u, g)) = meta.owner {
        h.set_uid(u as u64);
        h.set_gid(g as u64);
    }
    let _ = h.set_username("");
    let _ = h.set_groupname("");
    if let Some(mode) = meta.chmod {
        if !ft.is_symlink() {
            h.set_mode(mode);
        }
    }
    if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        let t = fs::read_link(host).at(host)?;
        h.set_link_name(&t).at(host)?;
    } else if ft.is_char_device() || ft.is_block_device() {
        let rdev = m.rdev();
        h.set_device_major(nix::sys::stat::major(rdev) as u32)
            .at(host)?;
        h.set_device_minor(nix::sys::stat::minor(rdev) as u32)
            .at(host)?;
    }
    let xattrs: Vec<(String, Vec<u8>)> = xattr::list(host)
        .map(|names| {
            names
                .filter_map(|n| {
                    let name = n.to_string_lossy().into_owned();
                    if name.starts_with("trusted.overlay.") {
                        return None;
                    }
                    let v = xattr::get(host, &n).ok().flatten()?;
                    Some((name, v))
                })
                .collect()
        })
        .unwrap_or_default();
    let name = if ft.is_dir() {
        format!("{}/", rel.trim_end_matches('/'))
    } else {
        rel.to_string()
    };
    if ft.is_file() {
        let f = fs::File::open(host).at(host)?;
        l.raw(&mut h, Path::new(&name), &xattrs, f)
    } else {
        l.raw(&mut h, Path::new(&name), &xattrs, std::io::empty())
    }
}

/// Paths the runtime creates as mount points; dropped from a RUN's diff when they are new
/// and empty, as Docker does.
const MOUNT_POINTS: &[&str] = &[
    "etc/hostname",
    "etc/hosts",
    "etc/resolv.conf",
    "proc",
    "sys",
    "dev",
];

/// Write the changes recorded in an overlay `upper` dir (over `lower`) into `l`.
/// Returns the number of entries written.
pub fn upper_to_layer(l: &mut LayerBuilder, upper: &Path, lower: &Path) -> Result<usize> {
    let mut n = 0;
    let entries = walkdir::WalkDir::new(upper)
        .min_depth(1)
        .sort_by_file_name();
    for e in entries {
        let e = e.map_err(|e| crate::Error::invalid(upper.display().to_string(), e))?;
        let rel = e
            .path()
            .strip_prefix(upper)
            .unwrap_or(e.path())
            .display()
            .to_string();
        let m = fs::symlink_metadata(e.path()).at(e.path())?;
        let ft = m.file_type();
        if MOUNT_POINTS.contains(&rel.as_str()) && fs::symlink_metadata(lower.join(&rel)).is_err() {
            let empty = if ft.is_dir() {
                fs::read_dir(e.path())
                    .map(|mut d| d.next().is_none())
                    .unwrap_or(false)
            } else {
                m.len() == 0
            };
            if empty {
                continue;
            }
        }
        if ft.is_char_device() && m.rdev() == 0 {
            l.whiteout(&rel)?;
            n += 1;
            continue;
        }
        entry(l, e.path(), &rel, Meta::default())?;
        n += 1;
        if ft.is_dir() {
            let opaque = xattr::get(e.path(), "trusted.overlay.opaque")
                .ok()
                .flatten()
                .is_some_and(|v| v == b"y");
            if opaque {
                l.opaque(&rel)?;
            }
        }
    }
    Ok(n)
}
