//! Image → runtime bundle: unpack the layers into `DIR/rootfs` and write `DIR/config.json`
//! from the image config and the run options, as `docker run` would.

pub mod command;
pub mod spec;
pub mod user;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::error::{Error, IoContext, Result};
use crate::store::{Image, Store};
use crate::unpack::{apply_layer, UnpackOptions};
pub use spec::BindMount;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What `run`/`bundle` may override.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// None: the image's; Some(empty): `--entrypoint ""`.
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Vec<String>,
    /// `KEY=VALUE`, or `KEY` to copy from this process's environment.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    pub hostname: Option<String>,
    pub terminal: bool,
    pub host_network: bool,
    /// Join this network namespace (a pinned one) instead of getting a new one.
    pub netns: Option<String>,
    /// `/etc/hosts` and `/etc/resolv.conf` contents (None: the defaults).
    pub hosts: Option<String>,
    pub resolv: Option<String>,
    /// Bind mounts, already resolved (`volumes` turns `-v` specs into these).
    pub binds: Vec<BindMount>,
}

/// What was written, for the caller's records.
#[derive(Clone, Debug)]
pub struct BundleInfo {
    pub args: Vec<String>,
    pub stop_signal: Option<String>,
    /// Image VOLUME paths not covered by a bind mount (the caller may give them volumes).
    pub image_volumes: Vec<String>,
}

/// Unpack `image` into `dir/rootfs`. On error the rootfs is removed.
pub fn unpack_rootfs(store: &Store, image: &Image, rootfs: &Path) -> Result<()> {
    let res = (|| {
        fs::create_dir_all(rootfs).at(rootfs)?;
        let opts = UnpackOptions::default();
        for l in &image.manifest.layers {
            let f = store.open_blob(&l.digest)?;
            apply_layer(rootfs, f, l.digest.as_str(), &opts)?;
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_dir_all(rootfs);
    }
    res
}

/// Image VOLUME paths, sorted.
pub fn image_volumes(image: &Image) -> Vec<String> {
    image
        .config
        .config
        .as_ref()
        .and_then(|c| c.volumes.as_ref())
        .map(|v| v.keys().cloned().collect())
        .unwrap_or_default()
}

/// Write `dir/config.json` for `image` (whose rootfs is already at `dir/rootfs`).
pub fn write_config(image: &Image, dir: &Path, opts: &RunOptions) -> Result<BundleInfo> {
    let rootfs = dir.join("rootfs");
    let rc = image.config.config.clone().unwrap_or_default();
    let args = command::merge(
        rc.entrypoint.as_deref(),
        rc.cmd.as_deref(),
        opts.entrypoint.as_deref(),
        &opts.cmd,
    )?;
    let user_spec = opts.user.clone().or(rc.user.clone()).unwrap_or_default();
    let user = user::resolve(&rootfs, &user_spec)?;
    let hostname = opts.hostname.clone().unwrap_or_else(|| "berth".into());
    let env = merge_env(
        rc.env.as_deref().unwrap_or_default(),
        &opts.env,
        &hostname,
        &user.home,
        opts.terminal,
    );
    let cwd = opts
        .workdir
        .clone()
        .or(rc.working_dir.clone())
        .filter(|w| !w.is_empty())
        .unwrap_or_else(|| "/".into());
    if !cwd.starts_with('/') {
        return Err(Error::Usage(format!(
            "working directory {cwd:?} is not absolute"
        )));
    }
    // Create the working directory and mount points inside the rootfs (scoped).
    for p in std::iter::once(&cwd).chain(opts.binds.iter().map(|b| &b.destination)) {
        let target = crate::scoped::resolve(&rootfs, Path::new(p.trim_start_matches('/')), true)?;
        if !target.exists() {
            let is_file = opts
                .binds
                .iter()
                .any(|b| &b.destination == p && Path::new(&b.source).is_file());
            if is_file {
                if let Some(parent) = target.parent() {
                    fs::create_dir_all(parent).at(parent)?;
                }
                fs::write(&target, b"").at(&target)?;
            } else {
                fs::create_dir_all(&target).at(&target)?;
            }
        }
    }
    let mut binds = opts.binds.clone();
    binds.extend(network_files(dir, &hostname, opts)?);
    let mut annotations = serde_json::Map::new();
    if let Some(s) = &rc.stop_signal {
        annotations.insert("org.opencontainers.image.stopSignal".into(), json!(s));
    }
    for (k, v) in rc.labels.iter().flatten() {
        annotations.insert(k.clone(), Value::String(v.clone()));
    }
    let mut spec = spec::build(&spec::SpecInput {
        args: args.clone(),
        env,
        cwd,
        user: &user,
        hostname,
        terminal: opts.terminal,
        host_network: opts.host_network,
        binds: &binds,
        annotations,
    });
    if let (Some(path), Some(ns)) = (&opts.netns, spec["linux"]["namespaces"].as_array_mut()) {
        for n in ns.iter_mut().filter(|n| n["type"] == "network") {
            n["path"] = json!(path);
        }
    }
    let cp = dir.join("config.json");
    crate::util::write_atomic(&cp, &serde_json::to_vec_pretty(&spec).unwrap_or_default())?;
    let covered: Vec<&str> = opts.binds.iter().map(|b| b.destination.as_str()).collect();
    Ok(BundleInfo {
        args,
        stop_signal: rc.stop_signal.clone(),
        image_volumes: image_volumes(image)
            .into_iter()
            .filter(|v| !covered.contains(&v.as_str()))
            .collect(),
    })
}

/// `hostname`, `hosts` and `resolv.conf` in the bundle, bind-mounted over /etc.
fn network_files(dir: &Path, hostname: &str, opts: &RunOptions) -> Result<Vec<BindMount>> {
    let mut out = Vec::new();
    let host_network = opts.host_network;
    let resolv = opts
        .resolv
        .clone()
        .unwrap_or_else(|| fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
    let files: [(&str, String); 3] = [
        ("hostname", format!("{hostname}\n")),
        (
            "hosts",
            if let Some(h) = &opts.hosts {
                h.clone()
            } else if host_network {
                fs::read_to_string("/etc/hosts").unwrap_or_default()
            } else {
                format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t{hostname}\n")
            },
        ),
        ("resolv.conf", resolv),
    ];
    for (name, content) in files {
        let p = dir.join(name);
        fs::write(&p, content).at(&p)?;
        out.push(BindMount {
            source: p.display().to_string(),
            destination: format!("/etc/{name}"),
            readonly: false,
        });
    }
    Ok(out)
}

fn merge_env(
    image: &[String],
    overrides: &[String],
    hostname: &str,
    home: &str,
    terminal: bool,
) -> Vec<String> {
    let mut env: Vec<(String, String)> = Vec::new();
    let set = |kv: &str, env: &mut Vec<(String, String)>| {
        let (k, v) = match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => match std::env::var(kv) {
                Ok(v) => (kv.to_string(), v),
                Err(_) => return,
            },
        };
        match env.iter_mut().find(|(ek, _)| *ek == k) {
            Some(e) => e.1 = v,
            None => env.push((k, v)),
        }
    };
    set(&format!("PATH={DEFAULT_PATH}"), &mut env);
    set(&format!("HOSTNAME={hostname}"), &mut env);
    if terminal {
        set("TERM=xterm", &mut env);
    }
    for kv in image.iter().chain(overrides) {
        set(kv, &mut env);
    }
    if !env.iter().any(|(k, _)| k == "HOME") {
        env.push(("HOME".into(), home.into()));
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Unpack and configure in one step: `berth-image bundle IMAGE DIR`. `dir` must not
/// exist or be empty; on error what was created is removed.
pub fn create(store: &Store, image: &Image, dir: &Path, opts: &RunOptions) -> Result<BundleInfo> {
    let fresh = !dir.exists();
    if !fresh && fs::read_dir(dir).at(dir)?.next().is_some() {
        return Err(Error::invalid(
            dir.display().to_string(),
            "bundle directory is not empty",
        ));
    }
    let res = unpack_rootfs(store, image, &dir.join("rootfs"))
        .and_then(|_| write_config(image, dir, opts));
    if res.is_err() {
        let _ = if fresh {
            fs::remove_dir_all(dir)
        } else {
            clear_dir(dir)
        };
    }
    res
}

fn clear_dir(dir: &Path) -> std::io::Result<()> {
    for e in fs::read_dir(dir)? {
        let p: PathBuf = e?.path();
        crate::unpack::remove_any(&p).map_err(std::io::Error::other)?;
    }
    Ok(())
}
