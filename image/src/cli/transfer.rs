//! pull, push.

use anyhow::Context;
use berth_image::oci::Platform;
use berth_image::registry::{self, Options};
use berth_image::Store;
use clap::Args;

#[derive(Args)]
pub struct RegistryFlags {
    /// Use plain HTTP instead of https
    #[arg(long)]
    insecure: bool,
    /// PEM file of CA certificates to trust for https, besides the system's
    #[arg(long, value_name = "FILE", env = "BERTH_REGISTRY_CA_CERT")]
    ca_cert: Option<std::path::PathBuf>,
    /// USER:PASS for basic auth or the token server
    #[arg(long, env = "BERTH_REGISTRY_CREDS")]
    creds: Option<String>,
    /// No progress on stderr (blobs, bytes and rate; a line per blob when stderr is not a terminal)
    #[arg(short, long)]
    quiet: bool,
}

impl RegistryFlags {
    fn options(&self) -> anyhow::Result<Options> {
        let creds = match &self.creds {
            Some(c) => {
                let (u, p) = c.split_once(':').context("--creds wants USER:PASS")?;
                Some((u.to_string(), p.to_string()))
            }
            None => None,
        };
        Ok(Options {
            insecure: self.insecure,
            ca_cert: self.ca_cert.clone(),
            creds,
            progress: !self.quiet,
            ..Default::default()
        })
    }
}

#[derive(Args)]
pub struct PullArgs {
    #[command(flatten)]
    flags: RegistryFlags,
    /// os/arch[/variant] to pick from a manifest list
    #[arg(long)]
    platform: Option<String>,
    /// registry/repository[:tag|@digest]
    reference: String,
}

#[derive(Args)]
pub struct PushArgs {
    #[command(flatten)]
    flags: RegistryFlags,
    /// Upload blobs in chunks of this many bytes (0: monolithic)
    #[arg(long, default_value_t = 0)]
    chunk_size: u64,
    /// Try a cross-repository mount from this repository first
    #[arg(long)]
    mount_from: Option<String>,
    /// Local image
    image: String,
    /// registry/repository[:tag] (default: the image name)
    reference: Option<String>,
}

pub fn pull(store: &Store, a: PullArgs) -> anyhow::Result<i32> {
    let mut o = a.flags.options()?;
    o.platform = a.platform.as_deref().map(Platform::parse).transpose()?;
    let (name, d) = registry::pull(store, &a.reference, &o)?;
    outln!("{name} {d}");
    Ok(0)
}

pub fn push(store: &Store, a: PushArgs) -> anyhow::Result<i32> {
    let mut o = a.flags.options()?;
    o.chunk_size = a.chunk_size;
    o.mount_from = a.mount_from;
    let target = a.reference.as_deref().unwrap_or(&a.image);
    let d = registry::push(store, &a.image, target, &o)?;
    outln!("{target} {d}");
    Ok(0)
}
