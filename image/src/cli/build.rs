//! build.

use std::path::PathBuf;

use berth_image::build::{self, BuildOptions, Output};
use berth_image::Store;
use clap::Args;

#[derive(Args)]
pub struct BuildArgs {
    /// Name the image (repeatable)
    #[arg(short = 't', long = "tag")]
    tags: Vec<String>,
    /// The Dockerfile (default: CONTEXT/Dockerfile)
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// KEY=VALUE, or KEY to take our environment's value (repeatable)
    #[arg(long = "build-arg")]
    build_args: Vec<String>,
    /// Build up to this stage
    #[arg(long)]
    target: Option<String>,
    /// Do not use the build cache
    #[arg(long)]
    no_cache: bool,
    /// Also write the image: type=oci|docker,dest=PATH (repeatable)
    #[arg(long = "output", short = 'o')]
    outputs: Vec<String>,
    /// The berth binary for RUN steps (default: next to berth-image, then PATH)
    #[arg(long)]
    runtime: Option<PathBuf>,
    /// Layer compression: gzip, zstd or none
    #[arg(long, default_value = "gzip")]
    compression: String,
    /// Only print the image id
    #[arg(short, long)]
    quiet: bool,
    /// The build context directory
    context: PathBuf,
}

pub fn build(store: &Store, a: BuildArgs) -> anyhow::Result<i32> {
    let outputs = a
        .outputs
        .iter()
        .map(|o| Output::parse(o))
        .collect::<Result<Vec<_>, _>>()?;
    let opts = BuildOptions {
        context: a.context,
        dockerfile: a.file,
        tags: a.tags,
        build_args: a.build_args,
        target: a.target,
        no_cache: a.no_cache,
        outputs,
        runtime: super::container::runtime(a.runtime.as_deref()).ok(),
        compression: super::compression(&a.compression)?,
        quiet: a.quiet,
    };
    let r = build::build(store, &opts)?;
    if !a.quiet {
        eprintln!("cache: {} hits, {} misses", r.cache_hits, r.cache_misses);
    }
    outln!("{}", r.manifest_digest);
    Ok(0)
}
