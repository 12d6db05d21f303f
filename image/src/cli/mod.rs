//! The commands: argument structs here, one module per group of commands.

mod build;
mod container;
mod image;
mod network;
mod transfer;

use std::path::{Path, PathBuf};

use berth_image::Store;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum Command {
    /// List images
    #[command(alias = "ls")]
    Images,
    /// Show an image's (or container's) details as JSON
    Inspect { name: String },
    /// Give an image another name
    Tag { source: String, target: String },
    /// Remove image names (blobs go at the next gc)
    Rmi { names: Vec<String> },
    /// Remove blobs no image refers to
    Gc,
    /// Import an OCI layout (dir or tar), a docker-archive, or a flat rootfs tar (NAME needed)
    Import {
        src: PathBuf,
        name: Option<String>,
        /// os/arch[/variant] to pick from multi-platform images
        #[arg(long)]
        platform: Option<String>,
    },
    /// Load a docker-archive or OCI archive (like `docker load -i`)
    Load {
        #[arg(short, long)]
        input: PathBuf,
    },
    /// Write images as an OCI layout (dir/tar) or docker-archive; or a container's rootfs as a tar
    Export {
        names: Vec<String>,
        #[arg(short, long)]
        output: PathBuf,
        /// oci (directory), oci-archive (tar) or docker-archive (tar); ignored for a container
        #[arg(long, default_value = "oci-archive")]
        format: String,
    },
    /// Write images as a docker-archive (like `docker save -o`)
    Save {
        names: Vec<String>,
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Build a busybox image from a static busybox binary (for tests; nothing is pulled)
    Busybox {
        #[arg(default_value = "busybox:latest")]
        name: String,
        #[arg(long, default_value = "/bin/busybox")]
        binary: PathBuf,
        /// gzip, zstd or none
        #[arg(long, default_value = "gzip")]
        compression: String,
    },
    /// Write a ready OCI bundle for IMAGE into DIR
    Bundle {
        image: String,
        dir: PathBuf,
        #[command(flatten)]
        run: container::RunFlags,
        /// Command (replaces the image's CMD)
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cmd: Vec<String>,
    },
    /// Create and run a container with the berth runtime
    Run(container::RunArgs),
    /// List containers
    Ps,
    /// Remove containers
    Rm {
        #[arg(short, long)]
        force: bool,
        names: Vec<String>,
        #[arg(long)]
        runtime: Option<PathBuf>,
    },
    /// Make an image from a container's changes
    Commit {
        container: String,
        image: String,
        #[arg(long, default_value = "gzip")]
        compression: String,
    },
    /// Manage volumes
    #[command(subcommand)]
    Volume(container::VolumeCmd),
    /// Pull an image from a registry v2
    Pull(transfer::PullArgs),
    /// Push an image to a registry v2
    Push(transfer::PushArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Manage networks
    #[command(subcommand)]
    Network(network::NetworkCmd),
}

pub fn run(root: &Path, cmd: Command) -> anyhow::Result<i32> {
    let store = Store::open(root)?;
    match cmd {
        Command::Images => image::images(&store),
        Command::Inspect { name } => image::inspect(&store, &name),
        Command::Tag { source, target } => image::tag(&store, &source, &target),
        Command::Rmi { names } => image::rmi(&store, &names),
        Command::Gc => image::gc(&store),
        Command::Import {
            src,
            name,
            platform,
        } => image::import(&store, &src, name.as_deref(), platform.as_deref()),
        Command::Load { input } => image::import(&store, &input, None, None),
        Command::Export {
            names,
            output,
            format,
        } => image::export(&store, &names, &output, &format),
        Command::Save { names, output } => image::export(&store, &names, &output, "docker-archive"),
        Command::Busybox {
            name,
            binary,
            compression,
        } => image::busybox(&store, &name, &binary, &compression),
        Command::Bundle {
            image,
            dir,
            run,
            cmd,
        } => container::bundle(&store, &image, &dir, &run, cmd),
        Command::Run(a) => container::run(&store, a),
        Command::Ps => container::ps(&store),
        Command::Rm {
            force,
            names,
            runtime,
        } => container::rm(&store, &names, force, runtime.as_deref()),
        Command::Commit {
            container,
            image,
            compression,
        } => container::commit(&store, &container, &image, &compression),
        Command::Volume(v) => container::volume(&store, v),
        Command::Pull(a) => transfer::pull(&store, a),
        Command::Push(a) => transfer::push(&store, a),
        Command::Build(a) => build::build(&store, a),
        Command::Network(n) => network::run(&store, n),
    }
}

pub fn compression(s: &str) -> anyhow::Result<berth_image::compress::Compression> {
    berth_image::compress::Compression::parse(s)
        .ok_or_else(|| anyhow::anyhow!("unknown compression {s:?}: want gzip, zstd or none"))
}
