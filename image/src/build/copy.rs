//! COPY and ADD as layer entries: destination resolution (WORKDIR-relative, trailing `/`,
//! existing directories, symlinks followed inside the rootfs), parent directories, modes
//! and times kept, owners 0:0 unless `--chown`, `--chmod`, heredoc sources, and ADD's
//! extraction of local tar archives (plain, gzip, bzip2, xz, zstd).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use super::context::{Source, SourceTree};
use super::layerfs::{self, Meta};
use crate::error::{Error, IoContext, Result};
use crate::layer::LayerBuilder;

pub struct Plan<'a> {
    pub tree: &'a SourceTree,
    pub sources: Vec<Source>,
    /// Heredoc sources: (name, content).
    pub inline: Vec<(String, String)>,
    /// Absolute destination as written (after WORKDIR joining), maybe ending in `/`.
    pub dest: String,
    pub owner: Option<(u32, u32)>,
    pub chmod: Option<u32>,
    pub extract: bool,
}

/// Write the plan's entries into `l`, resolving the destination in `rootfs`.
pub fn write(l: &mut LayerBuilder, rootfs: &Path, scratch: &Path, p: &Plan) -> Result<()> {
    let count = p.sources.len() + p.inline.len();
    let dest_rel = p.dest.trim_start_matches('/');
    let real = crate::scoped::resolve(rootfs, Path::new(dest_rel), true)?;
    let real_rel = real
        .strip_prefix(rootfs)
        .unwrap_or(Path::new(""))
        .display()
        .to_string();
    let existing_dir = real.is_dir();
    let single_dir_src = count == 1
        && p.sources
            .first()
            .is_some_and(|s| std::fs::metadata(&s.host).is_ok_and(|m| m.is_dir()));
    let into_dir = p.dest.ends_with('/') || existing_dir || single_dir_src;
    if count > 1 && !into_dir {
        return Err(Error::Usage(format!(
            "when copying more than one source the destination {:?} must be a directory and end with a /",
            p.dest
        )));
    }
    // Parents (and the destination directory itself when copying into one).
    let mut parts: Vec<&str> = real_rel.split('/').filter(|s| !s.is_empty()).collect();
    if !into_dir {
        parts.pop();
    }
    let mut acc = String::new();
    for c in parts {
        if !acc.is_empty() {
            acc.push('/');
        }
        acc.push_str(c);
        let host = rootfs.join(&acc);
        if host.is_dir() {
            layerfs::entry(l, &host, &acc, Meta::default())?;
        } else if single_dir_src && acc == real_rel {
            // A new destination for one directory takes that directory's metadata.
            let src = &p.sources[0].host;
            let m = Meta {
                owner: Some(p.owner.unwrap_or((0, 0))),
                chmod: p.chmod,
                follow: true,
            };
            layerfs::entry(l, src, &acc, m)?;
        } else {
            let (u, g) = p.owner.unwrap_or((0, 0));
            l.dir(&acc, 0o755, u as u64, g as u64)?;
        }
    }
    let target = |name: &str| -> String {
        if into_dir {
            join(&real_rel, name)
        } else {
            real_rel.clone()
        }
    };
    let meta = Meta {
        owner: Some(p.owner.unwrap_or((0, 0))),
        chmod: p.chmod,
        follow: false,
    };
    for (name, content) in &p.inline {
        let mode = p.chmod.unwrap_or(0o644);
        let (u, g) = p.owner.unwrap_or((0, 0));
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_uid(u as u64);
        h.set_gid(g as u64);
        h.set_mtime(crate::util::now_secs());
        h.set_size(content.len() as u64);
        l.raw(&mut h, Path::new(&target(name)), &[], content.as_bytes())?;
    }
    for s in &p.sources {
        let m = std::fs::metadata(&s.host).at(&s.host)?;
        let base = Path::new(&s.rel)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if m.is_dir() {
            // A directory's contents are copied, not the directory itself.
            for (host, sub) in p.tree.walk(s) {
                layerfs::entry(l, &host, &join(&real_rel, &sub), meta)?;
            }
        } else if p.extract && extract(l, &s.host, &real_rel, p.owner, scratch)? {
            continue;
        } else {
            layerfs::entry(
                l,
                &s.host,
                &target(&base),
                Meta {
                    follow: true,
                    ..meta
                },
            )?;
        }
    }
    Ok(())
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Archive {
    Plain,
    Gzip,
    Bzip2,
    Xz,
    Zstd,
}

fn sniff(head: &[u8]) -> Option<Archive> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Archive::Gzip)
    } else if head.starts_with(b"BZh") {
        Some(Archive::Bzip2)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Archive::Xz)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some(Archive::Zstd)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(Archive::Plain)
    } else {
        None
    }
}

/// A reader of the decompressed stream (xz is decoded to a temp file first: lzma-rs has
/// no streaming reader).
fn open(path: &Path, kind: Archive, scratch: &Path) -> Result<Box<dyn Read>> {
    let f = BufReader::new(File::open(path).at(path)?);
    Ok(match kind {
        Archive::Plain => Box::new(f),
        Archive::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(f)),
        Archive::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(f)),
        Archive::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(f).at(path)?),
        Archive::Xz => {
            let tmp = scratch.join(format!("xz-{}", crate::util::random_hex(6)));
            let res = (|| {
                let mut out = io::BufWriter::new(File::create(&tmp).at(&tmp)?);
                let mut input = f;
                lzma_rs::xz_decompress(&mut input, &mut out)
                    .map_err(|e| Error::invalid(path.display().to_string(), e))?;
                drop(out);
                File::open(&tmp).at(&tmp)
            })();
            let _ = std::fs::remove_file(&tmp);
            Box::new(BufReader::new(res?))
        }
    })
}

/// If `path` is a tar archive (maybe compressed), write its entries under `dest_rel` and
/// return true; otherwise false (ADD then copies it as a file).
fn extract(
    l: &mut LayerBuilder,
    path: &Path,
    dest_rel: &str,
    owner: Option<(u32, u32)>,
    scratch: &Path,
) -> Result<bool> {
    let mut br = BufReader::new(File::open(path).at(path)?);
    let head = br.fill_buf().at(path)?.to_vec();
    let Some(kind) = sniff(&head) else {
        return Ok(false);
    };
    // A compressed file that is not a tar inside is copied as it is.
    let mut probe = open(path, kind, scratch)?;
    let mut block = vec![0u8; 512];
    if probe.read_exact(&mut block).is_err() || &block[257..262] != b"ustar" {
        return Ok(false);
    }
    drop(probe);
    let mut ar = tar::Archive::new(open(path, kind, scratch)?);
    let what = path.display().to_string();
    for e in ar.entries().map_err(|e| Error::invalid(&what, e))? {
        let mut e = e.map_err(|e| Error::invalid(&what, e))?;
        let raw = e.path_bytes().into_owned();
        let rel = crate::scoped::clean_entry_path(&raw)?;
        let rel = rel.display().to_string();
        if rel.is_empty() {
            continue;
        }
        let mut h = e.header().clone();
        // Owners from the archive (0 when the field is unreadable) unless --chown.
        let (u, g) = owner.unwrap_or((h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32));
        h.set_uid(u as u64);
        h.set_gid(g as u64);
        h.set_mtime(h.mtime().unwrap_or(0));
        h.set_mode(h.mode().unwrap_or(0o644));
        let kind = h.entry_type();
        if kind == tar::EntryType::Link {
            let t = e
                .link_name_bytes()
                .map(|b| crate::scoped::clean_entry_path(&b))
                .transpose()?
                .unwrap_or_default();
            h.set_link_name(join(dest_rel, &t.display().to_string()))
                .at(path)?;
        }
        let name = join(dest_rel, &rel);
        let name = if kind == tar::EntryType::Directory {
            format!("{name}/")
        } else {
            name
        };
        if kind == tar::EntryType::XGlobalHeader || kind == tar::EntryType::XHeader {
            continue;
        }
        l.raw(&mut h, Path::new(&name), &[], &mut e)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8]), Some(Archive::Gzip));
        assert_eq!(sniff(b"BZh91AY"), Some(Archive::Bzip2));
        assert_eq!(
            sniff(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0]),
            Some(Archive::Xz)
        );
        assert_eq!(sniff(b"hello"), None);
    }
}
