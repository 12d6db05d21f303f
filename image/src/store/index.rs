//! The index of image names: `images.json`, rewritten atomically under `index.lock`.

use std::collections::BTreeMap;
use std::fs;

use serde::{Deserialize, Serialize};

use super::Store;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::lock::Lock;
use crate::reference::Reference;

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ImageEntry {
    pub name: String,
    pub digest: Digest,
}

#[derive(Default, Serialize, Deserialize)]
struct IndexFile {
    images: BTreeMap<String, Digest>,
}

impl Store {
    fn load_index(&self) -> Result<IndexFile> {
        let p = self.root.join("images.json");
        match fs::read(&p) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|e| Error::json(p.display().to_string(), e))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(IndexFile::default()),
            Err(e) => Err(Error::Io { path: p, source: e }),
        }
    }

    fn update_index(&self, f: impl FnOnce(&mut IndexFile) -> Result<()>) -> Result<()> {
        let _l = Lock::exclusive(&self.root.join("index.lock"))?;
        let mut idx = self.load_index()?;
        f(&mut idx)?;
        let p = self.root.join("images.json");
        crate::util::write_atomic(&p, &serde_json::to_vec_pretty(&idx).unwrap_or_default())
    }

    /// Point `name` (normalized to `repo:tag`) at a manifest already in the store.
    pub fn tag(&self, name: &str, manifest: &Digest) -> Result<String> {
        let name = Reference::parse(name)?.store_name();
        if !self.has(manifest) {
            return Err(Error::BlobMissing(manifest.to_string()));
        }
        let n = name.clone();
        self.update_index(|i| {
            i.images.insert(n, manifest.clone());
            Ok(())
        })?;
        Ok(name)
    }

    /// Remove a name; the blobs stay until `gc`.
    pub fn untag(&self, name: &str) -> Result<Digest> {
        let key = Reference::parse(name)
            .map(|r| r.store_name())
            .unwrap_or_else(|_| name.to_string());
        let mut removed = None;
        self.update_index(|i| {
            removed = i.images.remove(&key);
            Ok(())
        })?;
        removed.ok_or_else(|| Error::ImageNotFound(name.to_string()))
    }

    pub fn images(&self) -> Result<Vec<ImageEntry>> {
        Ok(self
            .load_index()?
            .images
            .into_iter()
            .map(|(name, digest)| ImageEntry { name, digest })
            .collect())
    }

    /// A name (`repo[:tag]`), a manifest digest, or a unique prefix (>= 4 hex digits) of a
    /// manifest or config digest -> manifest digest.
    pub fn resolve(&self, s: &str) -> Result<Digest> {
        let idx = self.load_index()?;
        if let Ok(r) = Reference::parse(s) {
            if let Some(d) = &r.digest {
                if self.has(d) {
                    return Ok(d.clone());
                }
            }
            if let Some(d) = idx.images.get(&r.store_name()) {
                return Ok(d.clone());
            }
        }
        if let Ok(d) = Digest::parse(s) {
            if self.has(&d) {
                return Ok(d);
            }
        }
        let prefix = s.strip_prefix("sha256:").unwrap_or(s);
        if prefix.len() >= 4 && prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut hits: Vec<Digest> = Vec::new();
            for d in idx.images.values() {
                let cfg = self.image_by_digest(d).map(|i| i.config_digest).ok();
                let matches =
                    d.hex().starts_with(prefix) || cfg.is_some_and(|c| c.hex().starts_with(prefix));
                if matches && !hits.contains(d) {
                    hits.push(d.clone());
                }
            }
            if hits.len() == 1 {
                return Ok(hits.remove(0));
            }
        }
        Err(Error::ImageNotFound(s.to_string()))
    }
}
