//! docker-archive: the `docker save` / `docker load` format. A tar with `manifest.json`
//! (`[{Config, RepoTags, Layers}]`), the config JSON and one uncompressed `layer.tar` per
//! layer. Both the classic (`HEX/layer.tar`) and the newer OCI-in-archive layouts load.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::compress::{self, Compression};
use crate::digest::{Digest, Hasher};
use crate::error::{Error, IoContext, Result};
use crate::layout::Imported;
use crate::oci::{self, Descriptor, ImageConfig, Manifest};
use crate::scoped::{clean_entry_path, resolve};
use crate::sink::Sink;
use crate::store::Store;

#[derive(Serialize, Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// `docker load`: import every image in a docker-archive tar.
pub fn load(store: &Store, archive: &Path) -> Result<Vec<Imported>> {
    let _w = store.writer_lock()?;
    let tmp = store.temp_dir("docker-load")?;
    let dir = tmp.path();
    crate::sink::extract_plain(archive, dir)?;
    let mp = dir.join("manifest.json");
    let entries: Vec<Entry> = oci::parse(
        &format!("{}: manifest.json", archive.display()),
        &fs::read(&mp).map_err(|_| {
            Error::invalid(
                archive.display().to_string(),
                "no manifest.json: not a docker-archive",
            )
        })?,
    )?;
    let mut out = Vec::new();
    for e in &entries {
        let inside = |rel: &str| -> Result<std::path::PathBuf> {
            resolve(dir, &clean_entry_path(rel.as_bytes())?, true)
        };
        let cpath = inside(&e.config)?;
        let cbytes = fs::read(&cpath).at(&cpath)?;
        let config: ImageConfig =
            oci::parse(&format!("{}: {}", archive.display(), e.config), &cbytes)?;
        if config.rootfs.diff_ids.len() != e.layers.len() {
            return Err(Error::invalid(
                format!("{}: {}", archive.display(), e.config),
                format!(
                    "{} layers listed but {} diff_ids",
                    e.layers.len(),
                    config.rootfs.diff_ids.len()
                ),
            ));
        }
        let cdigest = store.put_bytes(&cbytes, None)?;
        let mut layers = Vec::new();
        for (rel, want) in e.layers.iter().zip(&config.rootfs.diff_ids) {
            let lp = inside(rel)?;
            let head = {
                let mut b = [0u8; 4];
                let mut f = File::open(&lp).at(&lp)?;
                let n = io::Read::read(&mut f, &mut b).at(&lp)?;
                b[..n].to_vec()
            };
            let c = Compression::detect(&head);
            let got = hash_uncompressed(&lp)?;
            if &got != want {
                return Err(Error::DigestMismatch {
                    expected: want.to_string(),
                    actual: format!("{got} (layer {rel})"),
                });
            }
            let (d, size) = store.put_reader(File::open(&lp).at(&lp)?, None, None)?;
            layers.push(Descriptor::new(c.layer_media_type(), d, size));
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(oci::OCI_MANIFEST.into()),
            config: Descriptor::new(oci::OCI_CONFIG, cdigest, cbytes.len() as u64),
            layers,
            annotations: BTreeMap::new(),
        };
        let digest = store.put_image(&manifest)?;
        let mut names = Vec::new();
        for t in e.repo_tags.iter().flatten() {
            // Docker and podman write normalized names; keep the short form.
            let t = ["docker.io/library/", "docker.io/", "localhost/"]
                .iter()
                .find_map(|p| t.strip_prefix(p))
                .unwrap_or(t);
            names.push(store.tag(t, &digest)?);
        }
        out.push(Imported { names, digest });
    }
    Ok(out)
}

fn hash_uncompressed(p: &Path) -> Result<Digest> {
    let f = File::open(p).at(p)?;
    let mut r = compress::decompress(f).at(p)?;
    let mut h = Hasher::new(io::sink());
    io::copy(&mut r, &mut h).at(p)?;
    Ok(h.finish().1)
}

/// `docker save`: write the images (names or ids) as a docker-archive tar at `dst`.
pub fn save(store: &Store, images: &[String], dst: &Path) -> Result<()> {
    let mut sink = Sink::tar(dst)?;
    match write_archive(store, images, &mut sink) {
        Ok(()) => sink.finish(),
        Err(e) => {
            sink.abort();
            Err(e)
        }
    }
}

fn write_archive(store: &Store, images: &[String], sink: &mut Sink) -> Result<()> {
    let tmp = store.temp_dir("docker-save")?;
    let mut entries = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut written = std::collections::HashSet::new();
    for name in images {
        let img = store.image(name)?;
        let cfg_name = format!("{}.json", img.config_digest.hex());
        if written.insert(cfg_name.clone()) {
            let b = store.read_blob(&img.config_digest)?;
            sink.bytes(&cfg_name, &b)?;
        }
        let mut layers = Vec::new();
        for (l, diff) in img.manifest.layers.iter().zip(&img.config.rootfs.diff_ids) {
            let rel = format!("{}/layer.tar", diff.hex());
            if written.insert(rel.clone()) {
                // docker-archive layers are uncompressed: decompress to a temp file first
                // (the tar header needs the size), checking the diff_id on the way.
                let tp = tmp.path().join(diff.hex());
                let src = store.open_blob(&l.digest)?;
                let mut r = compress::decompress(src).at(store.blob_path(&l.digest))?;
                let mut h = Hasher::new(File::create(&tp).at(&tp)?);
                io::copy(&mut r, &mut h).at(&tp)?;
                let (_, got, len) = h.finish();
                if &got != diff {
                    return Err(Error::DigestMismatch {
                        expected: diff.to_string(),
                        actual: format!("{got} (layer {})", l.digest),
                    });
                }
                sink.mkdir(diff.hex())?;
                sink.bytes(&format!("{}/VERSION", diff.hex()), b"1.0")?;
                sink.file(&rel, File::open(&tp).at(&tp)?, len)?;
                let _ = fs::remove_file(&tp);
            }
            layers.push(rel);
        }
        let mut tags = Vec::new();
        if let Ok(r) = crate::reference::Reference::parse(name) {
            if r.digest.is_none() && store.resolve(&r.store_name()).is_ok() {
                tags.push(r.store_name());
                let repo = match &r.registry {
                    Some(reg) => format!("{reg}/{}", r.repository),
                    None => r.repository.clone(),
                };
                if let Some(top) = img.config.rootfs.diff_ids.last() {
                    repositories
                        .entry(repo)
                        .or_default()
                        .insert(r.tag_or_latest().into(), top.hex().into());
                }
            }
        }
        entries.push(Entry {
            config: cfg_name,
            repo_tags: Some(tags),
            layers,
        });
    }
    sink.bytes(
        "manifest.json",
        &serde_json::to_vec(&entries).unwrap_or_default(),
    )?;
    sink.bytes(
        "repositories",
        &serde_json::to_vec(&repositories).unwrap_or_default(),
    )
}
