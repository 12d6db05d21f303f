//! Blobs: verified on write, written atomically (tmp + fsync + rename), read by digest.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;

use super::Store;
use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};

impl Store {
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(d.hex())
    }

    pub fn has(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        File::open(self.blob_path(d)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::BlobMissing(d.to_string()),
            _ => Error::Io {
                path: self.blob_path(d),
                source: e,
            },
        })
    }

    pub fn blob_size(&self, d: &Digest) -> Result<u64> {
        let p = self.blob_path(d);
        Ok(fs::metadata(&p).at(&p)?.len())
    }

    /// Read a whole (small) blob and check it still hashes to its name.
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.open_blob(d)?
            .read_to_end(&mut buf)
            .at(self.blob_path(d))?;
        let actual = Digest::of(&buf);
        if &actual != d {
            return Err(Error::DigestMismatch {
                expected: d.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(buf)
    }

    pub fn put_bytes(&self, bytes: &[u8], expected: Option<&Digest>) -> Result<Digest> {
        self.put_reader(bytes, expected, Some(bytes.len() as u64))
            .map(|(d, _)| d)
    }

    /// Copy `r` into the store. With `expected`, the content must hash to it (and have
    /// `size` bytes, when given) or nothing is stored. Returns the digest and size.
    pub fn put_reader(
        &self,
        r: impl Read,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<(Digest, u64)> {
        if let Some(d) = expected {
            if self.has(d) {
                // Drain nothing: the caller may skip reading; content is already verified.
                return Ok((d.clone(), self.blob_size(d)?));
            }
        }
        let tmp = self
            .root
            .join("tmp")
            .join(format!("blob-{}", crate::util::random_hex(8)));
        let result = self.write_tmp(r, &tmp, expected, size);
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    fn write_tmp(
        &self,
        mut r: impl Read,
        tmp: &PathBuf,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<(Digest, u64)> {
        let f = File::create(tmp).at(tmp)?;
        let mut h = Hasher::new(f);
        io::copy(&mut r, &mut h).map_err(|e| Error::Io {
            path: tmp.clone(),
            source: e,
        })?;
        h.flush().at(tmp)?;
        let (f, actual, n) = h.finish();
        if let Some(d) = expected {
            if &actual != d {
                return Err(Error::DigestMismatch {
                    expected: d.to_string(),
                    actual: actual.to_string(),
                });
            }
        }
        if let Some(want) = size {
            if want != n {
                return Err(Error::SizeMismatch {
                    digest: actual.to_string(),
                    expected: want,
                    actual: n,
                });
            }
        }
        f.sync_all().at(tmp)?;
        drop(f);
        let dst = self.blob_path(&actual);
        fs::rename(tmp, &dst).at(&dst)?;
        Ok((actual, n))
    }

    /// Every blob digest in the store.
    pub fn blobs(&self) -> Result<Vec<Digest>> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).at(&dir)? {
            let e = e.at(&dir)?;
            if let Ok(d) = Digest::parse(&format!("sha256:{}", e.file_name().to_string_lossy())) {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Remove blobs no named image (nor any manifest in `also_keep`, e.g. the images of
    /// existing containers) references, and leftovers in tmp/. Returns removed digests.
    pub fn gc(&self, also_keep: &[Digest]) -> Result<Vec<Digest>> {
        let _excl = crate::lock::Lock::exclusive(&self.root.join("lock"))?;
        let mut keep = std::collections::HashSet::new();
        let roots = self
            .images()?
            .into_iter()
            .map(|e| e.digest)
            .chain(also_keep.iter().cloned());
        for m in roots {
            keep.insert(m.clone());
            if let Ok(img) = self.image_by_digest(&m) {
                keep.insert(img.config_digest.clone());
                keep.extend(img.manifest.layers.iter().map(|l| l.digest.clone()));
            }
        }
        let mut removed = Vec::new();
        for d in self.blobs()? {
            if !keep.contains(&d) {
                let p = self.blob_path(&d);
                fs::remove_file(&p).at(&p)?;
                removed.push(d);
            }
        }
        let tmp = self.root.join("tmp");
        for e in fs::read_dir(&tmp).at(&tmp)?.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
        }
        Ok(removed)
    }
}
