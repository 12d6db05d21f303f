//! Helpers for this crate's unit tests (compiled only for them): private temp
//! directories removed on drop.

use std::path::{Path, PathBuf};

pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn tempdir(what: &str) -> TempDir {
    let p = std::env::temp_dir().join(format!("berth-image-{what}-{}", crate::util::random_hex(6)));
    std::fs::create_dir_all(&p).unwrap();
    TempDir(p)
}
