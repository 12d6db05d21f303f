//! The content-addressed store under one root directory:
//!
//! ```text
//! ROOT/blobs/sha256/HEX   content, named by its verified digest (write to tmp/, fsync, rename)
//! ROOT/tmp/               partial writes; never read as content
//! ROOT/images.json        the index: image name (repo:tag) -> manifest digest
//! ROOT/lock               shared by writers, exclusive for gc (so gc never races an import)
//! ROOT/index.lock         exclusive around read-modify-write of images.json
//! ROOT/containers/ROOT/volumes/   see `containers` and `volumes`
//! ```

mod blobs;
mod index;

pub use index::ImageEntry;

use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::lock::Lock;
use crate::oci::{self, ImageConfig, Manifest};

pub const DEFAULT_ROOT: &str = "/var/lib/berth";

#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

/// An image in the store: its name (if reached by one), manifest and config.
#[derive(Clone, Debug)]
pub struct Image {
    pub manifest_digest: Digest,
    pub manifest: Manifest,
    pub config_digest: Digest,
    pub config: ImageConfig,
}

impl Store {
    /// Open (creating if needed) the store at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Store> {
        let root = root.into();
        for d in ["blobs/sha256", "tmp", "containers", "volumes"] {
            let p = root.join(d);
            std::fs::create_dir_all(&p).at(&p)?;
        }
        Ok(Store { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Held by every command that writes blobs and then names them, so `gc` waits.
    pub fn writer_lock(&self) -> Result<Lock> {
        Lock::shared(&self.root.join("lock"))
    }

    /// A fresh private directory under ROOT/tmp, removed when the guard drops.
    pub fn temp_dir(&self, what: &str) -> Result<TempDir> {
        let p = self
            .root
            .join("tmp")
            .join(format!("{what}-{}", crate::util::random_hex(8)));
        std::fs::create_dir_all(&p).at(&p)?;
        Ok(TempDir(p))
    }

    /// Load and check an image by name, id prefix or manifest digest.
    pub fn image(&self, name_or_id: &str) -> Result<Image> {
        let d = self.resolve(name_or_id)?;
        self.image_by_digest(&d)
    }

    pub fn image_by_digest(&self, manifest_digest: &Digest) -> Result<Image> {
        let bytes = self.read_blob(manifest_digest)?;
        let manifest: Manifest = oci::parse(&format!("manifest {manifest_digest}"), &bytes)?;
        let config_digest = manifest.config.digest.clone();
        let cbytes = self.read_blob(&config_digest)?;
        let config: ImageConfig = oci::parse(&format!("config {config_digest}"), &cbytes)?;
        if config.rootfs.diff_ids.len() != manifest.layers.len() {
            return Err(Error::invalid(
                format!("image {manifest_digest}"),
                format!(
                    "{} layers but {} diff_ids in the config",
                    manifest.layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            ));
        }
        Ok(Image {
            manifest_digest: manifest_digest.clone(),
            manifest,
            config_digest,
            config,
        })
    }

    /// Store a manifest + config that point at layers already in the store; returns the
    /// manifest digest. Refuses a manifest whose blobs are missing.
    pub fn put_image(&self, manifest: &Manifest) -> Result<Digest> {
        for d in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if !self.has(&d.digest) {
                return Err(Error::BlobMissing(d.digest.to_string()));
            }
        }
        self.put_bytes(&oci::to_vec(manifest), None)
    }
}

/// A directory removed (recursively) when dropped.
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
