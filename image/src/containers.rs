//! Containers made by `berth-image run`: `ROOT/containers/ID/{container.json, bundle/,
//! snapshot.json}`. The runtime (`berth`) owns their process state; this is the image side.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bundle::{self, RunOptions};
use crate::compress::Compression;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::layer::LayerBuilder;
use crate::store::Store;
use crate::{network, snapshot, volumes};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_digest: Digest,
    pub created: String,
    pub args: Vec<String>,
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Anonymous volumes made for the image's VOLUME entries; removed with the container.
    #[serde(default)]
    pub anonymous_volumes: Vec<String>,
    /// How it is networked (None: made before networks existed).
    #[serde(default)]
    pub network: Option<network::Attachment>,
}

impl Container {
    pub fn dir(&self, store: &Store) -> PathBuf {
        store.root().join("containers").join(&self.id)
    }
    pub fn bundle(&self, store: &Store) -> PathBuf {
        self.dir(store).join("bundle")
    }
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        || name.starts_with(['.', '-'])
    {
        return Err(Error::Usage(format!("invalid container name {name:?}")));
    }
    Ok(())
}

/// Make a container: unpack the image into its bundle, give the image's VOLUMEs
/// anonymous volumes, join the network, write config.json, and record it. `vol_specs`
/// are `-v` specs.
pub fn create(
    store: &Store,
    image_ref: &str,
    name: Option<&str>,
    mut opts: RunOptions,
    vol_specs: &[String],
    net: &network::Request,
) -> Result<Container> {
    let image = store.image(image_ref)?;
    let id = crate::util::random_hex(32);
    let name = name
        .map(str::to_string)
        .unwrap_or_else(|| id[..12].to_string());
    check_name(&name)?;
    if list(store)?.iter().any(|c| c.name == name) {
        return Err(Error::Usage(format!(
            "container name {name:?} is already in use"
        )));
    }
    for s in vol_specs {
        opts.binds.push(volumes::parse_spec(store, s)?.0);
    }
    if opts.hostname.is_none() {
        opts.hostname = Some(id[..12].to_string());
    }
    let hostname = opts.hostname.clone().unwrap_or_default();
    let find_shared = |target: &str| -> Result<network::Shared> {
        let t = find(store, target)?;
        Ok(network::Shared {
            join: t.network.as_ref().and_then(|a| a.join.clone()),
            bundle: t.bundle(store),
        })
    };
    let (att, files, _pending) = network::attach(store, &id, &name, &hostname, net, &find_shared)?;
    opts.host_network = att.mode == "host";
    opts.netns = att.join.as_ref().map(|p| p.display().to_string());
    opts.hosts = files.hosts;
    opts.resolv = files.resolv;
    let c = Container {
        id: id.clone(),
        name,
        image: image_ref.to_string(),
        image_digest: image.manifest_digest.clone(),
        created: crate::util::rfc3339(crate::util::now_secs()),
        args: Vec::new(),
        stop_signal: None,
        anonymous_volumes: Vec::new(),
        network: Some(att.clone()),
    };
    let dir = c.dir(store);
    if let Err(e) = fs::create_dir_all(&dir).at(&dir) {
        let _ = network::detach(store, &id, &att);
        return Err(e);
    }
    let res = (|| {
        let bdir = c.bundle(store);
        bundle::unpack_rootfs(store, &image, &bdir.join("rootfs"))?;
        let mut c = c.clone();
        for v in bundle::image_volumes(&image) {
            if opts.binds.iter().any(|b| b.destination == v) {
                continue;
            }
            let (vname, data) = volumes::create_anonymous(store)?;
            c.anonymous_volumes.push(vname);
            opts.binds.push(bundle::BindMount {
                source: data.display().to_string(),
                destination: v,
                readonly: false,
            });
        }
        let info = bundle::write_config(&image, &bdir, &opts)?;
        c.args = info.args;
        c.stop_signal = info.stop_signal;
        snapshot::save(
            &snapshot::take(&bdir.join("rootfs"))?,
            &dir.join("snapshot.json"),
        )?;
        save(store, &c)?;
        Ok(c)
    })();
    if res.is_err() {
        let _ = fs::remove_dir_all(&dir);
        let _ = network::detach(store, &id, &att);
    }
    res
}

fn save(store: &Store, c: &Container) -> Result<()> {
    let p = c.dir(store).join("container.json");
    crate::util::write_atomic(&p, &serde_json::to_vec_pretty(c).unwrap_or_default())
}

pub fn list(store: &Store) -> Result<Vec<Container>> {
    let dir = store.root().join("containers");
    let mut out = Vec::new();
    for e in fs::read_dir(&dir).at(&dir)?.flatten() {
        let p = e.path().join("container.json");
        if let Ok(b) = fs::read(&p) {
            if let Ok(c) = serde_json::from_slice::<Container>(&b) {
                out.push(c);
            }
        }
    }
    out.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
    Ok(out)
}

/// By name, full id or unique id prefix.
pub fn find(store: &Store, key: &str) -> Result<Container> {
    let all = list(store)?;
    if let Some(c) = all.iter().find(|c| c.name == key || c.id == key) {
        return Ok(c.clone());
    }
    let hits: Vec<&Container> = all.iter().filter(|c| c.id.starts_with(key)).collect();
    match hits.as_slice() {
        [c] if key.len() >= 4 => Ok((*c).clone()),
        _ => Err(Error::ContainerNotFound(key.to_string())),
    }
}

/// Remove the container's network, files and anonymous volumes (the runtime state must
/// be gone). A network error is returned after the files are gone (`network prune`
/// finishes the job).
pub fn remove(store: &Store, c: &Container) -> Result<()> {
    let net = c
        .network
        .as_ref()
        .map(|a| network::detach(store, &c.id, a))
        .unwrap_or(Ok(()));
    for v in &c.anonymous_volumes {
        let _ = volumes::remove(store, v);
    }
    let d = c.dir(store);
    fs::remove_dir_all(&d).at(&d)?;
    net
}

/// `commit`: the container's changes since it was made, as one new layer on its image.
pub fn commit(
    store: &Store,
    c: &Container,
    new_name: &str,
    compression: Compression,
) -> Result<Digest> {
    let _w = store.writer_lock()?;
    let image = store.image_by_digest(&c.image_digest)?;
    let dir = c.dir(store);
    let rootfs = c.bundle(store).join("rootfs");
    let old = snapshot::load(&dir.join("snapshot.json"))?;
    let new = snapshot::take(&rootfs)?;
    let (changed, removed) = snapshot::diff(&old, &new);
    let mut l = LayerBuilder::new(store, compression)?;
    for rel in &removed {
        l.whiteout(rel)?;
    }
    for rel in &changed {
        add_path(&mut l, &rootfs, rel)?;
    }
    let layer = l.finish(store)?;
    let d = crate::compose::write_image(
        store,
        Some(&image),
        &[layer],
        image.config.clone(),
        &format!("berth-image commit {}", c.name),
    )?;
    store.tag(new_name, &d)?;
    Ok(d)
}

fn add_path(l: &mut LayerBuilder, rootfs: &Path, rel: &str) -> Result<()> {
    let p = rootfs.join(rel);
    let m = fs::symlink_metadata(&p).at(&p)?;
    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(&m, tar::HeaderMode::Complete);
    let ft = m.file_type();
    use std::os::unix::fs::FileTypeExt;
    if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        let t = fs::read_link(&p).at(&p)?;
        h.set_link_name(&t).at(&p)?;
    } else if ft.is_char_device() || ft.is_block_device() {
        let rdev = m.rdev();
        h.set_device_major(nix::sys::stat::major(rdev) as u32)
            .at(&p)?;
        h.set_device_minor(nix::sys::stat::minor(rdev) as u32)
            .at(&p)?;
    }
    let xattrs: Vec<(String, Vec<u8>)> = xattr::list(&p)
        .map(|names| {
            names
                .filter_map(|n| {
                    let v = xattr::get(&p, &n).ok().flatten()?;
                    Some((n.to_string_lossy().into_owned(), v))
                })
                .collect()
        })
        .unwrap_or_default();
    let name = if ft.is_dir() {
        format!("{rel}/")
    } else {
        rel.to_string()
    };
    if ft.is_file() {
        let f = fs::File::open(&p).at(&p)?;
        l.raw(&mut h, Path::new(&name), &xattrs, f)
    } else {
        l.raw(&mut h, Path::new(&name), &xattrs, std::io::empty())
    }
}
