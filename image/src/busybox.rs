//! Build a small busybox image from the host's static busybox (Debian's busybox-static):
//! used by tests and demos, since nothing can be pulled from the internet here.

use std::fs::File;
use std::path::Path;
use std::process::Command;

use crate::compress::Compression;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::layer::LayerBuilder;
use crate::oci::{ImageConfig, RunConfig};
use crate::store::Store;

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
user:x:1000:1000:user:/home/user:/bin/sh\n\
nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
pub const GROUP: &str = "root:x:0:\nuser:x:1000:\nextra:x:2000:user\nnogroup:x:65534:\n";

/// Store a one-layer busybox image built from `busybox` (a static binary) and name it.
pub fn build(
    store: &Store,
    busybox: &Path,
    name: &str,
    compression: Compression,
) -> Result<Digest> {
    let _w = store.writer_lock()?;
    let out = Command::new(busybox).arg("--list").output().at(busybox)?;
    if !out.status.success() {
        return Err(Error::invalid(
            busybox.display().to_string(),
            "`--list` failed",
        ));
    }
    let applets = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut l = LayerBuilder::new(store, compression)?;
    for d in [
        "bin", "etc", "dev", "proc", "sys", "root", "home", "usr", "usr/bin", "var", "run",
    ] {
        l.dir(d, 0o755, 0, 0)?;
    }
    l.dir("tmp", 0o1777, 0, 0)?;
    l.dir("home/user", 0o755, 1000, 1000)?;
    let f = File::open(busybox).at(busybox)?;
    let len = f.metadata().at(busybox)?.len();
    l.file("bin/busybox", 0o755, f, len)?;
    for a in applets
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        l.symlink(&format!("bin/{a}"), "busybox")?;
    }
    l.file("etc/passwd", 0o644, PASSWD.as_bytes(), PASSWD.len() as u64)?;
    l.file("etc/group", 0o644, GROUP.as_bytes(), GROUP.len() as u64)?;
    let layer = l.finish(store)?;
    let config = ImageConfig {
        config: Some(RunConfig {
            env: Some(vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
            ]),
            cmd: Some(vec!["sh".into()]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let d = crate::compose::write_image(store, None, &[layer], config, "berth-image busybox")?;
    store.tag(name, &d)?;
    Ok(d)
}
