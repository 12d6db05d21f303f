//! Layer compression: detected from the magic bytes, so a mislabelled layer still reads.

use std::io::{self, BufRead, BufReader, Read, Write};

use crate::oci;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn parse(s: &str) -> Option<Compression> {
        match s {
            "none" | "plain" | "tar" => Some(Compression::None),
            "gzip" | "gz" => Some(Compression::Gzip),
            "zstd" | "zst" => Some(Compression::Zstd),
            _ => None,
        }
    }
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::None => oci::OCI_LAYER,
            Compression::Gzip => oci::OCI_LAYER_GZIP,
            Compression::Zstd => oci::OCI_LAYER_ZSTD,
        }
    }
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// A reader of the uncompressed tar stream inside `r`, whatever its compression.
pub fn decompress<'a>(r: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(64 * 1024, r);
    let c = Compression::detect(br.fill_buf()?);
    Ok(match c {
        Compression::None => Box::new(br),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(br)?),
    })
}

/// A writer that compresses into `w`; call `finish` on the result.
pub enum Compressor<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    pub fn new(w: W, c: Compression) -> io::Result<Self> {
        Ok(match c {
            Compression::None => Compressor::None(w),
            Compression::Gzip => Compressor::Gzip(flate2::write::GzEncoder::new(
                w,
                flate2::Compression::fast(),
            )),
            Compression::Zstd => Compressor::Zstd(zstd::stream::write::Encoder::new(w, 3)?),
        })
    }
    pub fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(e) => e.finish(),
            Compressor::Zstd(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(w) => w.write(buf),
            Compressor::Zstd(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(w) => w.flush(),
            Compressor::Zstd(w) => w.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all() {
        for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let mut w = Compressor::new(Vec::new(), c).unwrap();
            w.write_all(b"hello layer").unwrap();
            let bytes = w.finish().unwrap();
            assert_eq!(Compression::detect(&bytes), c);
            let mut out = String::new();
            decompress(&bytes[..])
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            assert_eq!(out, "hello layer");
        }
    }
}
