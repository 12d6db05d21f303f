//! `berth-image`: images, bundles and containers for the Berth runtime.

mod cli;

use std::path::PathBuf;

use clap::Parser;

#[derive(Parser)]
#[command(
    name = "berth-image",
    version,
    about = "OCI images and bundles for the Berth runtime"
)]
pub struct Cli {
    /// Image store root
    #[arg(long, global = true, env = "BERTH_IMAGE_ROOT", default_value = berth_image::store::DEFAULT_ROOT)]
    root: PathBuf,
    #[command(subcommand)]
    cmd: cli::Command,
}

fn main() {
    let cli = Cli::parse();
    match cli::run(&cli.root, cli.cmd) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            let chain: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("berth-image: {}", chain.join(": "));
            std::process::exit(1);
        }
    }
}
