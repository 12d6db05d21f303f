//! `descriptors.json` in the image directory: what the init's stdio was at checkpoint
//! time (runc's file of the same name and format, a JSON array of the `/proc/<pid>/fd`
//! link texts of fds 0–2). A restore hands its own stdio to CRIU for each entry that
//! was a pipe, so the restored process writes where the restoring caller reads.
//!
//! A stream on a file the container cannot see (the shim's fifos under
//! /run/containerd) cannot be dumped by path: it is declared external to CRIU as
//! `file[<mnt_id>:<inode>]` (hex, CRIU's key) and recorded under that key, which a restore
//! hands its own stream for, as for a pipe. runc records the path there and fails.

use std::path::Path;

use super::CriuError;
use crate::utils::write_atomic;

pub(crate) const DESCRIPTORS_FILE: &str = "descriptors.json";

/// Writes the record of `pid`'s stdio; returns the CRIU `external` entries it needs.
pub(crate) fn write_descriptors(image_dir: &Path, pid: i32) -> Result<Vec<String>, CriuError> {
    let visible = container_mount_ids(pid);
    let mut external = Vec::new();
    let links: Vec<String> = (0..3)
        .map(|fd| {
            let link = std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "/dev/null".into());
            match outside_file_key(pid, fd, &link, &visible) {
                Some(key) => {
                    external.push(key.clone());
                    key
                }
                None => link,
            }
        })
        .collect();
    let path = image_dir.join(DESCRIPTORS_FILE);
    let data = serde_json::to_vec(&links).map_err(|e| CriuError::Options(e.to_string()))?;
    write_atomic(&path, &data)
        .map_err(|e| CriuError::sys(format!("write {}", path.display()), e))?;
    Ok(external)
}

/// Whether a restore hands its own stream over for this record entry.
pub(crate) fn is_inherited(entry: &str) -> bool {
    entry.contains("pipe:") || entry.starts_with("file[")
}

/// The mount ids of `pid`'s mount namespace.
fn container_mount_ids(pid: i32) -> Vec<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/mountinfo"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// CRIU's key for fd `fd` of `pid` when it is a file on a mount outside the container.
fn outside_file_key(pid: i32, fd: i32, link: &str, visible: &[u64]) -> Option<String> {
    if !link.starts_with('/') {
        return None; // pipe:, socket:, anon_inode:
    }
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    let mnt_id: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("mnt_id:"))?
        .trim()
        .parse()
        .ok()?;
    if visible.contains(&mnt_id) {
        return None;
    }
    let ino = std::os::unix::fs::MetadataExt::ino(
        &std::fs::metadata(format!("/proc/{pid}/fd/{fd}")).ok()?,
    );
    Some(format!("file[{mnt_id:x}:{ino:x}]"))
}

/// The stdio links of the checkpointed init. Required, as runc requires it: images
/// without it were not made by a runtime, and runc's text says which file is missing.
pub(crate) fn read_descriptors(image_dir: &Path) -> Result<Vec<String>, CriuError> {
    let path = image_dir.join(DESCRIPTORS_FILE);
    match std::fs::read(&path) {
        Ok(data) => serde_json::from_slice(&data)
            .map_err(|e| CriuError::Options(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CriuError::Options(format!(
            "open {}: no such file or directory",
            path.display()
        ))),
        Err(e) => Err(CriuError::sys(format!("open {}", path.display()), e)),
    }
}
