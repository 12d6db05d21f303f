//! Where an export goes: a directory, or a tar file written to a temp name and renamed
//! into place when complete (so a failed export leaves no partial archive).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

pub enum Sink {
    Dir(PathBuf),
    Tar {
        builder: tar::Builder<BufWriter<File>>,
        tmp: PathBuf,
        dst: PathBuf,
    },
}

impl Sink {
    pub fn dir(p: &Path) -> Result<Sink> {
        fs::create_dir_all(p).at(p)?;
        Ok(Sink::Dir(p.into()))
    }

    pub fn tar(dst: &Path) -> Result<Sink> {
        let name = dst
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dst.with_file_name(format!(".{name}.{}", crate::util::random_hex(4)));
        let f = File::create(&tmp).at(&tmp)?;
        let mut builder = tar::Builder::new(BufWriter::new(f));
        builder.mode(tar::HeaderMode::Deterministic);
        Ok(Sink::Tar {
            builder,
            tmp,
            dst: dst.into(),
        })
    }

    pub fn mkdir(&mut self, rel: &str) -> Result<()> {
        match self {
            Sink::Dir(d) => {
                let p = d.join(rel);
                fs::create_dir_all(&p).at(&p)
            }
            Sink::Tar { builder, tmp, .. } => {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                builder
                    .append_data(
                        &mut h,
                        format!("{}/", rel.trim_end_matches('/')),
                        io::empty(),
                    )
                    .at(tmp.as_path())
            }
        }
    }

    pub fn file(&mut self, rel: &str, mut data: impl Read, len: u64) -> Result<()> {
        match self {
            Sink::Dir(d) => {
                let p = d.join(rel);
                if let Some(parent) = p.parent() {
                    fs::create_dir_all(parent).at(parent)?;
                }
                let mut f = File::create(&p).at(&p)?;
                io::copy(&mut data, &mut f).at(&p)?;
                Ok(())
            }
            Sink::Tar { builder, tmp, .. } => {
                let mut h = tar::Header::new_ustar();
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o644);
                h.set_size(len);
                builder.append_data(&mut h, rel, data).at(tmp.as_path())
            }
        }
    }

    pub fn bytes(&mut self, rel: &str, b: &[u8]) -> Result<()> {
        self.file(rel, b, b.len() as u64)
    }

    pub fn finish(self) -> Result<()> {
        match self {
            Sink::Dir(_) => Ok(()),
            Sink::Tar { builder, tmp, dst } => {
                let res = (|| {
                    let w = builder.into_inner().at(&tmp)?;
                    let f = w.into_inner().map_err(|e| e.into_error()).at(&tmp)?;
                    f.sync_all().at(&tmp)?;
                    fs::rename(&tmp, &dst).at(&dst)
                })();
                if res.is_err() {
                    let _ = fs::remove_file(&tmp);
                }
                res
            }
        }
    }

    pub fn abort(self) {
        if let Sink::Tar { tmp, .. } = self {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Unpack an archive of plain files (an OCI layout or docker-archive tar) into `dir`.
/// `tar` itself refuses entries that would land outside `dir`.
pub fn extract_plain(archive: &Path, dir: &Path) -> Result<()> {
    let f = File::open(archive).at(archive)?;
    let r = crate::compress::decompress(f).at(archive)?;
    let mut ar = tar::Archive::new(r);
    ar.set_preserve_permissions(false);
    ar.set_overwrite(true);
    ar.unpack(dir)
        .map_err(|e| crate::error::Error::invalid(archive.display().to_string(), e))
}
