//! Writing layers: a tar stream hashed twice (uncompressed = diff_id, compressed = blob
//! digest) into a temp file, then moved into the store.

use std::fs::File;
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use crate::compress::{Compression, Compressor};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::oci::Descriptor;
use crate::store::Store;

type Sink = Hasher<Compressor<Hasher<BufWriter<File>>>>;

pub struct LayerBuilder {
    tar: tar::Builder<Sink>,
    tmp: PathBuf,
    compression: Compression,
}

/// A layer stored in the store: its descriptor and its diff_id.
#[derive(Clone, Debug)]
pub struct BuiltLayer {
    pub descriptor: Descriptor,
    pub diff_id: Digest,
}

impl LayerBuilder {
    pub fn new(store: &Store, compression: Compression) -> Result<LayerBuilder> {
        let tmp = store
            .root()
            .join("tmp")
            .join(format!("layer-{}", crate::util::random_hex(8)));
        let f = File::create(&tmp).at(&tmp)?;
        let c = Compressor::new(Hasher::new(BufWriter::new(f)), compression).at(&tmp)?;
        let mut tar = tar::Builder::new(Hasher::new(c));
        tar.mode(tar::HeaderMode::Complete);
        Ok(LayerBuilder {
            tar,
            tmp,
            compression,
        })
    }

    fn header(kind: tar::EntryType, mode: u32, uid: u64, gid: u64, mtime: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(mtime);
        h.set_size(0);
        h
    }

    pub fn dir(&mut self, path: &str, mode: u32, uid: u64, gid: u64) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Directory, mode, uid, gid, 0);
        self.tar
            .append_data(
                &mut h,
                format!("{}/", path.trim_end_matches('/')),
                io::empty(),
            )
            .at(&self.tmp)
    }

    pub fn file(&mut self, path: &str, mode: u32, data: impl Read, len: u64) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, mode, 0, 0, 0);
        h.set_size(len);
        self.tar.append_data(&mut h, path, data).at(&self.tmp)
    }

    pub fn symlink(&mut self, path: &str, target: &str) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0, 0, 0);
        self.tar.append_link(&mut h, path, target).at(&self.tmp)
    }

    pub fn hardlink(&mut self, path: &str, target: &str) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Link, 0o644, 0, 0, 0);
        self.tar.append_link(&mut h, path, target).at(&self.tmp)
    }

    /// A whiteout for `path` (`dir/.wh.name`), or an opaque marker with `dir/.wh..wh..opq`.
    pub fn whiteout(&mut self, path: &str) -> Result<()> {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), path),
        };
        self.file(&format!("{dir}.wh.{name}"), 0o600, io::empty(), 0)
    }

    pub fn opaque(&mut self, dir: &str) -> Result<()> {
        self.file(
            &format!("{}/.wh..wh..opq", dir.trim_end_matches('/')),
            0o600,
            io::empty(),
            0,
        )
    }

    /// Append an entry with a full header (used by commit), plus xattrs as PAX records.
    pub fn raw(
        &mut self,
        h: &mut tar::Header,
        path: &Path,
        xattrs: &[(String, Vec<u8>)],
        data: impl Read,
    ) -> Result<()> {
        if !xattrs.is_empty() {
            let recs: Vec<(String, &[u8])> = xattrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), v.as_slice()))
                .collect();
            self.tar
                .append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v)))
                .at(&self.tmp)?;
        }
        if h.entry_type() == tar::EntryType::Symlink || h.entry_type() == tar::EntryType::Link {
            let target = h
                .link_name()
                .ok()
                .flatten()
                .map(|t| t.into_owned())
                .unwrap_or_default();
            self.tar.append_link(h, path, target).at(&self.tmp)
        } else {
            self.tar.append_data(h, path, data).at(&self.tmp)
        }
    }

    /// Close the tar stream and move the blob into the store.
    pub fn finish(self, store: &Store) -> Result<BuiltLayer> {
        let tmp = self.tmp.clone();
        let res = (|| {
            let sink = self.tar.into_inner().at(&tmp)?;
            let (comp, diff_id, _) = sink.finish();
            let inner = comp.finish().at(&tmp)?;
            let (buf, digest, size) = inner.finish();
            buf.into_inner()
                .map_err(|e| e.into_error())
                .and_then(|f| f.sync_all())
                .at(&tmp)?;
            let dst = store.blob_path(&digest);
            std::fs::rename(&tmp, &dst).at(&dst)?;
            Ok(BuiltLayer {
                descriptor: Descriptor::new(self.compression.layer_media_type(), digest, size),
                diff_id,
            })
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        res
    }
}

/// The diff_id (digest of the uncompressed tar) of a stored layer blob.
pub fn diff_id(store: &Store, blob: &Digest) -> Result<Digest> {
    let f = store.open_blob(blob)?;
    let mut r = crate::compress::decompress(f).at(store.blob_path(blob))?;
    let mut h = Hasher::new(io::sink());
    io::copy(&mut r, &mut h).map_err(|e| Error::invalid(format!("layer {blob}"), e))?;
    Ok(h.finish().1)
}
