//! A record of a rootfs right after it was made (inode and ctime per path), so `commit`
//! can find what changed since without an overlay upper dir: the kernel bumps ctime on
//! every change, and nothing can set it back.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Stamp {
    pub ino: u64,
    pub ctime: i64,
    pub ctime_nsec: i64,
}

pub type Snapshot = BTreeMap<String, Stamp>;

pub fn take(rootfs: &Path) -> Result<Snapshot> {
    let mut out = Snapshot::new();
    for e in walkdir::WalkDir::new(rootfs).min_depth(1) {
        let e = e.map_err(|e| Error::invalid(rootfs.display().to_string(), e))?;
        let m = e
            .metadata()
            .map_err(|e| Error::invalid(e.to_string(), "stat failed"))?;
        let rel = e.path().strip_prefix(rootfs).unwrap_or(e.path());
        out.insert(
            rel.display().to_string(),
            Stamp {
                ino: m.ino(),
                ctime: m.ctime(),
                ctime_nsec: m.ctime_nsec(),
            },
        );
    }
    Ok(out)
}

pub fn save(snap: &Snapshot, path: &Path) -> Result<()> {
    crate::util::write_atomic(path, &serde_json::to_vec(snap).unwrap_or_default())
}

pub fn load(path: &Path) -> Result<Snapshot> {
    let b = fs::read(path).at(path)?;
    serde_json::from_slice(&b).map_err(|e| Error::json(path.display().to_string(), e))
}

/// Paths changed or added since `old`, and paths removed (only the topmost of a removed
/// tree), both sorted.
pub fn diff(old: &Snapshot, new: &Snapshot) -> (Vec<String>, Vec<String>) {
    let changed: Vec<String> = new
        .iter()
        .filter(|(p, s)| old.get(*p) != Some(s))
        .map(|(p, _)| p.clone())
        .collect();
    let mut removed: Vec<String> = Vec::new();
    for p in old.keys().filter(|p| !new.contains_key(*p)) {
        if !removed.iter().any(|r| p.starts_with(&format!("{r}/"))) {
            removed.push(p.clone());
        }
    }
    (changed, removed)
}
