//! `berth-image`: images, bundles and containers for the Berth runtime.

/// `println!` for the commands' output, except that a reader who has gone away (`berth-image
/// images | head`) ends the program quietly instead of making it panic. SIGPIPE stays
/// ignored, as Rust sets it, so that a registry or network peer that hangs up is an error
/// to report rather than a silent death.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::write_stdout_line(format_args!($($arg)*))
    };
}

mod cli;

fn write_stdout_line(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("berth-image: writing to stdout: {e}");
        std::process::exit(1);
    }
}

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
    #[cfg(feature = "docgen")]
    berth_docgen::generate_if_asked(
        <Cli as clap::CommandFactory>::command,
        &berth_docgen::Pages {
            section: "1",
            completions: true,
        },
    );
    let cli = Cli::parse();
    match cli::run(&cli.root, cli.cmd) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // Causes whose text the outer message already ends with are not repeated.
            let mut line = String::new();
            for cause in e.chain().map(|c| c.to_string()) {
                if line.is_empty() {
                    line = cause;
                } else if !line.ends_with(&cause) {
                    line = format!("{line}: {cause}");
                }
            }
            eprintln!("berth-image: {line}");
            std::process::exit(1);
        }
    }
}
