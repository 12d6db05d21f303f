//! Scratch entry point for the `cli` branch: wires `spec`, `features` and logging so
//! they can be built and tried. The lead's main.rs replaces this file.

mod commands {
    pub mod features;
    pub mod spec;
}
mod logging;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "berth")]
struct Cli {
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    #[arg(long, global = true)]
    debug: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Spec(commands::spec::SpecArgs),
    Features(commands::features::FeaturesArgs),
}

fn main() {
    let cli = Cli::parse();
    let format = match cli.log_format.parse::<logging::LogFormat>() {
        Ok(f) => f,
        Err(e) => logging::fatal(&e.to_string()),
    };
    if let Err(e) = logging::init(cli.log.as_deref(), format, cli.debug) {
        logging::fatal(&format!("{e:#}"));
    }
    log::debug!("command: {:?}", cli.command);
    let result = match &cli.command {
        Command::Spec(args) => commands::spec::run(args),
        Command::Features(args) => commands::features::run(args),
    };
    if let Err(e) = result {
        logging::fatal(&format!("{e:#}"));
    }
}
