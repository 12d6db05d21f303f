//! images, inspect, tag, rmi, gc, import/load, export/save, busybox.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context};
use berth_image::oci::Platform;
use berth_image::{archive, busybox as bb, compose, containers, layout, Store};
use serde_json::json;

pub fn images(store: &Store) -> anyhow::Result<i32> {
    outln!("{:<40} {:<14} {:>10}  CREATED", "NAME", "IMAGE ID", "SIZE");
    for e in store.images()? {
        match store.image_by_digest(&e.digest) {
            Ok(img) => {
                let size: u64 = img.manifest.layers.iter().map(|l| l.size).sum();
                outln!(
                    "{:<40} {:<14} {:>10}  {}",
                    e.name,
                    img.config_digest.short(),
                    human(size),
                    img.config.created.as_deref().unwrap_or("-")
                );
            }
            Err(err) => outln!("{:<40} (broken: {err})", e.name),
        }
    }
    Ok(0)
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1}MB", n as f64 / 1048576.0),
        n if n >= 1 << 10 => format!("{:.1}kB", n as f64 / 1024.0),
        n => format!("{n}B"),
    }
}

pub fn inspect(store: &Store, name: &str) -> anyhow::Result<i32> {
    let v = match store.image(name) {
        Ok(img) => {
            let tags: Vec<String> = store
                .images()?
                .into_iter()
                .filter(|e| e.digest == img.manifest_digest)
                .map(|e| e.name)
                .collect();
            json!({
                "Id": img.config_digest,
                "Digest": img.manifest_digest,
                "RepoTags": tags,
                "Created": img.config.created,
                "Architecture": img.config.architecture,
                "Os": img.config.os,
                "Config": img.config.config,
                "RootFS": img.config.rootfs,
                "Layers": img.manifest.layers,
            })
        }
        Err(berth_image::Error::ImageNotFound(_)) => {
            let c = containers::find(store, name)
                .with_context(|| format!("no image or container {name:?}"))?;
            serde_json::to_value(&c)?
        }
        Err(e) => return Err(e.into()),
    };
    outln!("{}", serde_json::to_string_pretty(&v)?);
    Ok(0)
}

pub fn tag(store: &Store, source: &str, target: &str) -> anyhow::Result<i32> {
    let d = store.resolve(source)?;
    store.tag(target, &d)?;
    Ok(0)
}

pub fn rmi(store: &Store, names: &[String]) -> anyhow::Result<i32> {
    for n in names {
        let d = store.untag(n)?;
        outln!("Untagged: {n} ({d})");
    }
    Ok(0)
}

pub fn gc(store: &Store) -> anyhow::Result<i32> {
    let in_use: Vec<_> = containers::list(store)?
        .into_iter()
        .map(|c| c.image_digest)
        .collect();
    let removed = store.gc(&in_use)?;
    for d in &removed {
        outln!("deleted {d}");
    }
    outln!("{} blobs removed", removed.len());
    Ok(0)
}

/// What an archive or directory holds, from its first entries.
enum Kind {
    OciLayout,
    DockerArchive,
    Flat,
}

fn sniff(src: &Path) -> anyhow::Result<Kind> {
    if src.is_dir() {
        if src.join("oci-layout").exists() {
            return Ok(Kind::OciLayout);
        }
        if src.join("manifest.json").exists() {
            bail!(
                "{}: docker-archive directories are not supported; tar it",
                src.display()
            );
        }
        bail!("{}: not an OCI layout (no oci-layout file)", src.display());
    }
    let f = File::open(src).with_context(|| src.display().to_string())?;
    let r = berth_image::compress::decompress(f)?;
    let mut ar = tar::Archive::new(r);
    for e in ar.entries().with_context(|| src.display().to_string())? {
        let e = e.with_context(|| format!("{}: not a readable tar", src.display()))?;
        let p = e.path_bytes();
        let p = String::from_utf8_lossy(&p);
        match p.trim_start_matches("./") {
            "oci-layout" => return Ok(Kind::OciLayout),
            "manifest.json" => return Ok(Kind::DockerArchive),
            _ => {}
        }
    }
    Ok(Kind::Flat)
}

pub fn import(
    store: &Store,
    src: &Path,
    name: Option<&str>,
    platform: Option<&str>,
) -> anyhow::Result<i32> {
    let imported = match sniff(src)? {
        Kind::OciLayout => layout::import(
            store,
            src,
            &layout::ImportOptions {
                name: name.map(Into::into),
                platform: platform.map(Platform::parse).transpose()?,
            },
        )?,
        Kind::DockerArchive => {
            let mut v = archive::load(store, src)?;
            if let (Some(n), Some(first)) = (name, v.first_mut()) {
                first.names.push(store.tag(n, &first.digest)?);
            }
            v
        }
        Kind::Flat => {
            let Some(n) = name else {
                bail!("{}: a flat rootfs tar needs a NAME", src.display());
            };
            let d = import_flat(store, src)?;
            vec![layout::Imported {
                names: vec![store.tag(n, &d)?],
                digest: d,
            }]
        }
    };
    for i in imported {
        if i.names.is_empty() {
            outln!("Loaded image: {}", i.digest);
        }
        for n in i.names {
            outln!("Loaded image: {n}");
        }
    }
    Ok(0)
}

/// `docker import`: a flat rootfs tar becomes a one-layer image with an empty config.
fn import_flat(store: &Store, src: &Path) -> anyhow::Result<berth_image::Digest> {
    let _w = store.writer_lock()?;
    let mut head = [0u8; 4];
    let n = File::open(src)?.read(&mut head)?;
    let c = berth_image::compress::Compression::detect(&head[..n]);
    let (digest, size) = store.put_reader(File::open(src)?, None, None)?;
    let diff_id = berth_image::layer::diff_id(store, &digest)?;
    let layer = berth_image::layer::BuiltLayer {
        descriptor: berth_image::oci::Descriptor::new(c.layer_media_type(), digest, size),
        diff_id,
    };
    Ok(compose::write_image(
        store,
        None,
        &[layer],
        Default::default(),
        "berth-image import",
    )?)
}

pub fn export(store: &Store, names: &[String], out: &Path, format: &str) -> anyhow::Result<i32> {
    if names.is_empty() {
        bail!("export: name at least one image or container");
    }
    if names.len() == 1
        && matches!(
            store.image(&names[0]),
            Err(berth_image::Error::ImageNotFound(_))
        )
    {
        let c = containers::find(store, &names[0])?;
        return export_rootfs(&c.bundle(store).join("rootfs"), out);
    }
    match format {
        "oci" => layout::export(store, names, out, false)?,
        "oci-archive" => layout::export(store, names, out, true)?,
        "docker-archive" => archive::save(store, names, out)?,
        f => bail!("unknown format {f:?}: want oci, oci-archive or docker-archive"),
    }
    Ok(0)
}

fn export_rootfs(rootfs: &Path, out: &Path) -> anyhow::Result<i32> {
    let f = File::create(out).with_context(|| out.display().to_string())?;
    let mut b = tar::Builder::new(std::io::BufWriter::new(f));
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    b.append_dir_all(".", rootfs)
        .with_context(|| format!("{}: writing {}", rootfs.display(), out.display()))?;
    b.into_inner()?;
    Ok(0)
}

pub fn busybox(store: &Store, name: &str, binary: &Path, compression: &str) -> anyhow::Result<i32> {
    let d = bb::build(store, binary, name, super::compression(compression)?)?;
    outln!("{name} {d}");
    Ok(0)
}
