//! Writing resource values: one write(2) per value, errors in runc's words
//! (`failed to write "1000": write /sys/fs/cgroup/.../memory.max: invalid argument`,
//! `openat2 /sys/fs/cgroup/.../memory.max: no such file or directory`).

use std::path::Path;

use super::CgroupError;

pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .map_err(|e| CgroupError::io("openat2", &path, e))?;
    std::io::Write::write_all(&mut f, value.as_bytes()).map_err(|e| CgroupError::Write {
        value: value.to_string(),
        path,
        source: e.into(),
    })
}

/// Writes a number unless it is 0 (the spec's "unset").
pub(crate) fn nonzero(dir: &Path, file: &str, value: i64) -> Result<(), CgroupError> {
    if value != 0 {
        write(dir, file, &value.to_string())?;
    }
    Ok(())
}

pub(crate) fn exists(dir: &Path, file: &str) -> bool {
    dir.join(file).exists()
}
