//! bundle, run, ps, rm, commit, volume.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};
use berth_image::bundle::{self, RunOptions};
use berth_image::{containers, network, volumes, Store};
use clap::{Args, Subcommand};

#[derive(Args, Clone, Default)]
pub struct RunFlags {
    /// Set an environment variable (KEY=VALUE, or KEY to copy ours)
    #[arg(short = 'e', long = "env")]
    env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long)]
    workdir: Option<String>,
    /// User: name|uid[:group|gid]
    #[arg(short = 'u', long)]
    user: Option<String>,
    /// Replace the image's ENTRYPOINT (and drop its CMD); "" clears it
    #[arg(long)]
    entrypoint: Option<String>,
    /// Bind mount or named volume: SRC:DST[:ro]
    #[arg(short = 'v', long = "volume")]
    volumes: Vec<String>,
    /// Allocate a terminal
    #[arg(short = 't', long)]
    tty: bool,
    #[arg(long)]
    hostname: Option<String>,
    /// bridge (default for run), none, host, container:NAME, or a network's name
    /// (`bundle` takes none, its default, or host)
    #[arg(long)]
    network: Option<String>,
    /// Publish a port: [ip:]hostPort:containerPort[/tcp|udp] (run only)
    #[arg(short = 'p', long = "publish")]
    publish: Vec<String>,
}

impl RunFlags {
    fn options(&self, cmd: Vec<String>) -> anyhow::Result<RunOptions> {
        let host_network = match self.network.as_deref().unwrap_or("none") {
            "host" => true,
            "none" => false,
            n => bail!("bundle: network {n:?} needs a container (use run): want none or host"),
        };
        if !self.publish.is_empty() {
            bail!("bundle: -p needs a container (use run)");
        }
        Ok(RunOptions {
            entrypoint: self.entrypoint.as_ref().map(|e| {
                if e.is_empty() {
                    vec![]
                } else {
                    vec![e.clone()]
                }
            }),
            cmd,
            env: self.env.clone(),
            workdir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            terminal: self.tty,
            host_network,
            binds: Vec::new(),
            ..Default::default()
        })
    }

    /// `run`'s network request: bridge unless told otherwise.
    fn network(&self) -> anyhow::Result<network::Request> {
        let mode = network::Mode::parse(self.network.as_deref().unwrap_or("bridge"))?;
        let ports = self
            .publish
            .iter()
            .map(|p| network::PortMap::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(network::Request { mode, ports })
    }
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    flags: RunFlags,
    /// Remove the container when it exits
    #[arg(long)]
    rm: bool,
    /// Run in the background
    #[arg(short = 'd', long)]
    detach: bool,
    #[arg(long)]
    name: Option<String>,
    /// The berth binary (default: next to berth-image, then PATH)
    #[arg(long)]
    runtime: Option<PathBuf>,
    image: String,
    /// Command (replaces the image's CMD)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    cmd: Vec<String>,
}

#[derive(Subcommand)]
pub enum VolumeCmd {
    Create { name: String },
    Ls,
    Rm { names: Vec<String> },
}

pub fn bundle(
    store: &Store,
    image: &str,
    dir: &Path,
    flags: &RunFlags,
    cmd: Vec<String>,
) -> anyhow::Result<i32> {
    let img = store.image(image)?;
    let mut opts = flags.options(cmd)?;
    for s in &flags.volumes {
        opts.binds.push(volumes::parse_spec(store, s)?.0);
    }
    let info = bundle::create(store, &img, dir, &opts)?;
    outln!("{}", dir.display());
    if !info.image_volumes.is_empty() {
        eprintln!(
            "note: image VOLUMEs {:?} are plain directories in this bundle (use run for volumes)",
            info.image_volumes
        );
    }
    Ok(0)
}

/// The berth runtime: `--runtime`, else `berth` next to this binary, else on PATH.
pub(super) fn runtime(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        let p = dir.join("berth");
        if p.is_file() {
            return Ok(p);
        }
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join("berth");
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("berth runtime not found next to berth-image or on PATH; use --runtime PATH")
}

fn runtime_root(store: &Store) -> PathBuf {
    store.root().join("runtime")
}

pub fn run(store: &Store, a: RunArgs) -> anyhow::Result<i32> {
    let rt = runtime(a.runtime.as_deref())?;
    let net = a.flags.network()?;
    let mut flags = a.flags.clone();
    flags.network = None;
    flags.publish.clear();
    let opts = flags.options(a.cmd.clone())?;
    let c = containers::create(
        store,
        &a.image,
        a.name.as_deref(),
        opts,
        &a.flags.volumes,
        &net,
    )?;
    let mut cmd = Command::new(&rt);
    cmd.arg("--root").arg(runtime_root(store)).arg("run");
    if a.detach {
        cmd.arg("--detach");
    }
    cmd.arg("--bundle").arg(c.bundle(store)).arg(&c.id);
    let status = cmd
        .status()
        .with_context(|| format!("running {}", rt.display()))?;
    let code = status.code().unwrap_or(128 + 9);
    if a.detach {
        outln!("{}", c.id);
    } else if a.rm {
        let _ = Command::new(&rt)
            .arg("--root")
            .arg(runtime_root(store))
            .args(["delete", "--force", &c.id])
            .output();
        containers::remove(store, &c)?;
    }
    Ok(code)
}

fn state(store: &Store, rt: Option<&Path>, id: &str) -> String {
    let Ok(rt) = runtime(rt) else {
        return "unknown".into();
    };
    let out = Command::new(rt)
        .arg("--root")
        .arg(runtime_root(store))
        .args(["state", id])
        .output();
    match out {
        Ok(o) if o.status.success() => serde_json::from_slice::<serde_json::Value>(&o.stdout)
            .ok()
            .and_then(|v| v.get("status").and_then(|s| s.as_str()).map(String::from))
            .unwrap_or_else(|| "unknown".into()),
        _ => "exited".into(),
    }
}

pub fn ps(store: &Store) -> anyhow::Result<i32> {
    outln!(
        "{:<14} {:<20} {:<24} {:<10} COMMAND",
        "CONTAINER ID",
        "NAME",
        "IMAGE",
        "STATUS"
    );
    for c in containers::list(store)? {
        outln!(
            "{:<14} {:<20} {:<24} {:<10} {}",
            &c.id[..12],
            c.name,
            c.image,
            state(store, None, &c.id),
            c.args.join(" ")
        );
    }
    Ok(0)
}

pub fn rm(store: &Store, names: &[String], force: bool, rt: Option<&Path>) -> anyhow::Result<i32> {
    for n in names {
        let c = containers::find(store, n)?;
        let st = state(store, rt, &c.id);
        if st == "running" && !force {
            bail!("container {n} is running: stop it or use --force");
        }
        if st != "exited" {
            let rt = runtime(rt)?;
            let out = Command::new(&rt)
                .arg("--root")
                .arg(runtime_root(store))
                .args(["delete", "--force", &c.id])
                .output()
                .with_context(|| format!("running {}", rt.display()))?;
            if !out.status.success() {
                bail!(
                    "berth delete {}: {}",
                    c.id,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
        containers::remove(store, &c)?;
        outln!("{}", c.name);
    }
    Ok(0)
}

pub fn commit(
    store: &Store,
    container: &str,
    image: &str,
    compression: &str,
) -> anyhow::Result<i32> {
    let c = containers::find(store, container)?;
    let d = containers::commit(store, &c, image, super::compression(compression)?)?;
    outln!("{d}");
    Ok(0)
}

pub fn volume(store: &Store, v: VolumeCmd) -> anyhow::Result<i32> {
    match v {
        VolumeCmd::Create { name } => {
            volumes::create(store, &name)?;
            outln!("{name}");
        }
        VolumeCmd::Ls => {
            outln!("VOLUME NAME");
            for n in volumes::list(store)? {
                outln!("{n}");
            }
        }
        VolumeCmd::Rm { names } => {
            for n in names {
                volumes::remove(store, &n)?;
                outln!("{n}");
            }
        }
    }
    Ok(0)
}
