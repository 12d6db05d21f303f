//! RUN: an overlay mount (the stage's rootfs as the lower dir, a fresh upper dir) as the
//! rootfs of a bundle, run by the `berth` runtime with no network; the upper dir is the
//! step's diff. The mount, the runtime state and the temp dirs are removed on every path.

use std::fs;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

use crate::bundle::{self, RunOptions};
use crate::compress::Compression;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::layer::{BuiltLayer, LayerBuilder};
use crate::oci::{self, Descriptor, ImageConfig, Manifest};
use crate::store::{Image, Store};

use super::layerfs;

pub struct RunSpec<'a> {
    pub args: Vec<String>,
    /// Build-time variables (ARGs) on top of the config's Env.
    pub extra_env: Vec<String>,
    pub config: &'a ImageConfig,
    pub runtime: &'a Path,
}

/// Overlay-mounted rootfs; unmounted on drop.
struct Overlay(PathBuf);

impl Overlay {
    fn mount(lower: &Path, upper: &Path, work: &Path, target: &Path) -> Result<Overlay> {
        let opts = format!(
            "lowerdir={},upperdir={},workdir={}",
            lower.display(),
            upper.display(),
            work.display()
        );
        mount(
            Some("overlay"),
            target,
            Some("overlay"),
            MsFlags::empty(),
            Some(opts.as_str()),
        )
        .map_err(|e| Error::invalid(format!("overlay mount on {}", target.display()), e))?;
        Ok(Overlay(target.to_path_buf()))
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        if umount2(&self.0, MntFlags::empty()).is_err() {
            let _ = umount2(&self.0, MntFlags::MNT_DETACH);
        }
    }
}

/// Run one RUN step over `rootfs`; returns the diff as a stored layer (exit status
/// failures are `Err` with the code).
pub fn run(
    store: &Store,
    rootfs: &Path,
    scratch: &Path,
    spec: &RunSpec,
    compression: Compression,
) -> Result<BuiltLayer> {
    let id = format!("build-{}", crate::util::random_hex(8));
    let dir = scratch.join(&id);
    let (upper, work, bdir) = (dir.join("upper"), dir.join("work"), dir.join("bundle"));
    for d in [&upper, &work, &bdir.join("rootfs")] {
        fs::create_dir_all(d).at(d)?;
    }
    let res = (|| {
        let ov = Overlay::mount(rootfs, &upper, &work, &bdir.join("rootfs"))?;
        let image = fake_image(spec.config);
        let rc = spec.config.config.clone().unwrap_or_default();
        let opts = RunOptions {
            entrypoint: Some(spec.args.clone()),
            cmd: Vec::new(),
            env: spec.extra_env.clone(),
            workdir: rc.working_dir.clone().filter(|w| !w.is_empty()),
            user: rc.user.clone().filter(|u| !u.is_empty()),
            hostname: Some("berth-build".into()),
            terminal: false,
            host_network: false,
            binds: Vec::new(),
            ..Default::default()
        };
        bundle::write_config(&image, &bdir, &opts)?;
        let status = runtime(spec.runtime, store, &id, &bdir);
        drop(ov);
        let code = status?;
        if code != 0 {
            return Err(Error::invalid(
                format!("process {:?}", spec.args.join(" ")),
                format!("did not complete successfully: exit code {code}"),
            ));
        }
        let mut l = LayerBuilder::new(store, compression)?;
        layerfs::upper_to_layer(&mut l, &upper, rootfs)?;
        l.finish(store)
    })();
    let _ = fs::remove_dir_all(&dir);
    res
}

/// `berth --root ROOT/runtime run --bundle B ID`, the process's output on our stderr.
fn runtime(rt: &Path, store: &Store, id: &str, bundle: &Path) -> Result<i32> {
    let root = store.root().join("runtime");
    let out = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::inherit());
    let status = Command::new(rt)
        .arg("--root")
        .arg(&root)
        .arg("run")
        .arg("--bundle")
        .arg(bundle)
        .arg(id)
        .stdin(Stdio::null())
        .stdout(out)
        .status()
        .at(rt);
    let _ = Command::new(rt)
        .arg("--root")
        .arg(&root)
        .args(["delete", "--force", id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    Ok(status?.code().unwrap_or(128 + 9))
}

/// `bundle::write_config` reads an `Image`; the build state is not stored yet.
fn fake_image(config: &ImageConfig) -> Image {
    let d = Digest::of(b"");
    Image {
        manifest_digest: d.clone(),
        manifest: Manifest {
            schema_version: 2,
            media_type: Some(oci::OCI_MANIFEST.into()),
            config: Descriptor::new(oci::OCI_CONFIG, d.clone(), 0),
            layers: Vec::new(),
            annotations: Default::default(),
        },
        config_digest: d,
        config: config.clone(),
    }
}
