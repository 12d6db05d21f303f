//! OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/...`), as a directory or a
//! tar of one: import into the store and export from it. Multi-platform indexes are
//! narrowed to one platform on import.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::oci::{self, Descriptor, Index, Manifest, Platform};
use crate::sink::Sink;
use crate::store::Store;

pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Clone, Debug, Default)]
pub struct ImportOptions {
    /// Name for the imported image(s); a name without a tag takes the layout's tag.
    pub name: Option<String>,
    /// Platform to pick from multi-platform indexes (default: this machine's).
    pub platform: Option<Platform>,
}

/// An image brought into the store: the names it got and its manifest digest.
#[derive(Clone, Debug)]
pub struct Imported {
    pub names: Vec<String>,
    pub digest: Digest,
}

/// Import from an OCI layout directory or a tar of one.
pub fn import(store: &Store, src: &Path, opts: &ImportOptions) -> Result<Vec<Imported>> {
    let _w = store.writer_lock()?;
    if src.is_dir() {
        import_dir(store, src, opts)
    } else {
        let tmp = store.temp_dir("oci-import")?;
        crate::sink::extract_plain(src, tmp.path())?;
        import_dir(store, tmp.path(), opts)
    }
}

fn blob_file(dir: &Path, d: &Digest) -> PathBuf {
    dir.join("blobs/sha256").join(d.hex())
}

/// Copy a blob from a layout into the store, verifying digest and size.
pub(crate) fn copy_blob(store: &Store, dir: &Path, desc: &Descriptor) -> Result<()> {
    if store.has(&desc.digest) {
        return Ok(());
    }
    let p = blob_file(dir, &desc.digest);
    let f = File::open(&p).at(&p)?;
    store.put_reader(f, Some(&desc.digest), Some(desc.size))?;
    Ok(())
}

fn import_dir(store: &Store, dir: &Path, opts: &ImportOptions) -> Result<Vec<Imported>> {
    let lp = dir.join("oci-layout");
    let layout: serde_json::Value = oci::parse(&lp.display().to_string(), &fs::read(&lp).at(&lp)?)?;
    if layout.get("imageLayoutVersion").and_then(|v| v.as_str()) != Some("1.0.0") {
        return Err(Error::invalid(
            lp.display().to_string(),
            "imageLayoutVersion is not 1.0.0",
        ));
    }
    let ip = dir.join("index.json");
    let index: Index = oci::parse(&ip.display().to_string(), &fs::read(&ip).at(&ip)?)?;
    let platform = opts.platform.clone().unwrap_or_else(Platform::host);
    let mut out = Vec::new();
    for desc in &index.manifests {
        let Some(digest) = import_desc(store, dir, desc, &platform, 0)? else {
            continue;
        };
        let mut names = Vec::new();
        if let Some(n) = name_for(desc, opts) {
            names.push(store.tag(&n, &digest)?);
        }
        out.push(Imported { names, digest });
    }
    if out.is_empty() {
        return Err(Error::invalid(
            ip.display().to_string(),
            format!(
                "no image for platform {}/{}",
                platform.os, platform.architecture
            ),
        ));
    }
    Ok(out)
}

fn name_for(desc: &Descriptor, opts: &ImportOptions) -> Option<String> {
    let tag = desc.annotations.get(oci::ANNOTATION_REF_NAME);
    let full = desc.annotations.get(CONTAINERD_NAME);
    match (&opts.name, tag, full) {
        (Some(n), Some(t), _) if !n.contains(':') && !t.contains([':', '/']) => {
            Some(format!("{n}:{t}"))
        }
        (Some(n), _, _) => Some(n.clone()),
        (None, _, Some(f)) => Some(f.clone()),
        (None, Some(t), None) if t.contains([':', '/']) => Some(t.clone()),
        // A bare tag and no name to hang it on: the image is stored unnamed.
        _ => None,
    }
}

/// Import the manifest a descriptor names (choosing a platform in an index); returns the
/// stored manifest's digest, or None if an index has nothing for `platform`.
fn import_desc(
    store: &Store,
    dir: &Path,
    desc: &Descriptor,
    platform: &Platform,
    depth: u32,
) -> Result<Option<Digest>> {
    if depth > 4 {
        return Err(Error::invalid(
            desc.digest.to_string(),
            "indexes nested too deep",
        ));
    }
    let p = blob_file(dir, &desc.digest);
    let bytes = fs::read(&p).at(&p)?;
    let actual = Digest::of(&bytes);
    if actual != desc.digest {
        return Err(Error::DigestMismatch {
            expected: desc.digest.to_string(),
            actual: actual.to_string(),
        });
    }
    let mt = oci::sniff_media_type(&bytes).unwrap_or_else(|| desc.media_type.clone());
    if oci::is_index(&mt) {
        let idx: Index = oci::parse(&format!("index {}", desc.digest), &bytes)?;
        let Some(pick) = pick_platform(&idx, platform) else {
            return Ok(None);
        };
        return import_desc(store, dir, pick, platform, depth + 1);
    }
    if !oci::is_manifest(&mt) {
        return Err(Error::invalid(
            desc.digest.to_string(),
            format!("unsupported media type {mt}"),
        ));
    }
    let m: Manifest = oci::parse(&format!("manifest {}", desc.digest), &bytes)?;
    copy_blob(store, dir, &m.config)?;
    for l in &m.layers {
        copy_blob(store, dir, l)?;
    }
    store.put_bytes(&bytes, Some(&desc.digest))?;
    // Check the config parses and agrees with the manifest.
    store.image_by_digest(&desc.digest)?;
    Ok(Some(desc.digest.clone()))
}

/// The manifest in an index for `platform` (a descriptor without a platform matches).
pub fn pick_platform<'a>(idx: &'a Index, platform: &Platform) -> Option<&'a Descriptor> {
    idx.manifests
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| platform.matches(p)))
        .or_else(|| idx.manifests.iter().find(|d| d.platform.is_none()))
}

/// Export images (by name or id) as an OCI layout to `dst` (a directory, or a tar file
/// when `as_tar`).
pub fn export(store: &Store, images: &[String], dst: &Path, as_tar: bool) -> Result<()> {
    let mut sink = if as_tar {
        Sink::tar(dst)?
    } else {
        Sink::dir(dst)?
    };
    match write_layout(store, images, &mut sink) {
        Ok(()) => sink.finish(),
        Err(e) => {
            sink.abort();
            Err(e)
        }
    }
}

fn write_layout(store: &Store, images: &[String], sink: &mut Sink) -> Result<()> {
    sink.bytes("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    sink.mkdir("blobs")?;
    sink.mkdir("blobs/sha256")?;
    let mut written = std::collections::HashSet::new();
    let mut manifests = Vec::new();
    for name in images {
        let img = store.image(name)?;
        let mut blobs = vec![img.manifest_digest.clone(), img.config_digest.clone()];
        blobs.extend(img.manifest.layers.iter().map(|l| l.digest.clone()));
        for d in blobs {
            if written.insert(d.clone()) {
                let f = store.open_blob(&d)?;
                let len = store.blob_size(&d)?;
                sink.file(&format!("blobs/sha256/{}", d.hex()), f, len)?;
            }
        }
        let mut desc = Descriptor::new(
            img.manifest.media_type(),
            img.manifest_digest.clone(),
            store.blob_size(&img.manifest_digest)?,
        );
        if let Ok(r) = crate::reference::Reference::parse(name) {
            if r.digest.is_none() && store.resolve(&r.store_name()).is_ok() {
                desc.annotations
                    .insert(oci::ANNOTATION_REF_NAME.into(), r.tag_or_latest().into());
                desc.annotations
                    .insert(CONTAINERD_NAME.into(), r.store_name());
            }
        }
        manifests.push(desc);
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": oci::OCI_INDEX,
        "manifests": manifests,
    });
    sink.bytes(
        "index.json",
        &serde_json::to_vec(&index).unwrap_or_default(),
    )
}
