//! `descriptors.json` in the image directory: what the init's stdio was at checkpoint
//! time (runc's file of the same name and format, a JSON array of the `/proc/<pid>/fd`
//! link texts of fds 0–2). A restore hands its own stdio to CRIU for each entry that
//! was a pipe, so the restored process writes where the restoring caller reads.

use std::path::Path;

use super::CriuError;
use crate::utils::write_atomic;

pub(crate) const DESCRIPTORS_FILE: &str = "descriptors.json";

pub(crate) fn write_descriptors(image_dir: &Path, pid: i32) -> Result<(), CriuError> {
    let links: Vec<String> = (0..3)
        .map(|fd| {
            std::fs::read_link(format!("/proc/{pid}/fd/{fd}"))
                .map(|l| l.to_string_lossy().into_owned())
                .unwrap_or_else(|_| "/dev/null".into())
        })
        .collect();
    let path = image_dir.join(DESCRIPTORS_FILE);
    let data = serde_json::to_vec(&links).map_err(|e| CriuError::Options(e.to_string()))?;
    write_atomic(&path, &data).map_err(|e| CriuError::sys(format!("write {}", path.display()), e))
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
