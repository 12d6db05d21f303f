//! The build cache: `ROOT/build-cache/KEY.json`, one file per step. A key is the sha256 of
//! the parent step's key, the instruction as it will run (variables expanded, shell and
//! flags included) and, for COPY/ADD, a digest of the copied files' contents; so a changed
//! file invalidates its COPY and everything after it. A hit whose layer blob was garbage
//! collected is a miss.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::layer::BuiltLayer;
use crate::oci::Descriptor;
use crate::store::Store;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// The layer the step made (None for config-only steps).
    pub layer: Option<(Descriptor, Digest)>,
    /// When the step first ran: reused so an all-cached rebuild gives the same image.
    pub created: String,
}

pub struct Cache {
    dir: PathBuf,
    read: bool,
}

pub fn key(parent: &str, step: &str) -> String {
    let mut h = Sha256::new();
    h.update(parent.as_bytes());
    h.update(b"\n");
    h.update(step.as_bytes());
    hex::encode(h.finalize())
}

impl Cache {
    /// `read` false is `--no-cache`: nothing is looked up, results are still recorded.
    pub fn open(store: &Store, read: bool) -> Cache {
        let dir = store.root().join("build-cache");
        let _ = std::fs::create_dir_all(&dir);
        Cache { dir, read }
    }

    pub fn get(&self, store: &Store, key: &str) -> Option<Entry> {
        if !self.read {
            return None;
        }
        let b = std::fs::read(self.dir.join(format!("{key}.json"))).ok()?;
        let e: Entry = serde_json::from_slice(&b).ok()?;
        match &e.layer {
            Some((d, _)) if !store.has(&d.digest) => None,
            _ => Some(e),
        }
    }

    pub fn put(&self, key: &str, layer: Option<&BuiltLayer>, created: &str) {
        let e = Entry {
            layer: layer.map(|l| (l.descriptor.clone(), l.diff_id.clone())),
            created: created.to_string(),
        };
        let p = self.dir.join(format!("{key}.json"));
        // The cache is an optimisation: failing to record is not a build failure.
        let _ = crate::util::write_atomic(&p, &serde_json::to_vec(&e).unwrap_or_default());
    }
}
