//! Man pages and shell completions made from a binary's own clap `Command`, so they cannot
//! drift from the flags it parses. A binary calls [`generate`] only when it is built with
//! its `docgen` feature, which the installed release build never has (`make docs`).

use std::fs;
use std::io;
use std::path::Path;

use clap::Command;
use clap_complete::Shell;

/// The environment variable naming the directory a docgen build writes into, instead of
/// doing its usual work.
pub const OUT_ENV: &str = "BERTH_DOCGEN_OUT";

/// The date the pages carry (the Makefile gives the last commit's, so that a rebuild of the
/// same commit makes the same pages).
pub const DATE_ENV: &str = "BERTH_DOCGEN_DATE";

/// Which man section a binary's pages go in, and whether it gets shell completions (a
/// binary only containerd runs does not).
pub struct Pages {
    pub section: &'static str,
    pub completions: bool,
}

/// When `BERTH_DOCGEN_OUT` is set: writes the docs of `cmd()` there and ends the process
/// (exit 1, one line on stderr, if that fails). Otherwise returns and the binary goes on.
pub fn generate_if_asked(cmd: impl FnOnce() -> Command, pages: &Pages) {
    let Some(out) = std::env::var_os(OUT_ENV) else {
        return;
    };
    let cmd = cmd();
    let name = cmd.get_name().to_string();
    match generate(cmd, pages, out.as_ref()) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("{name}: writing the docs to {}: {e}", out.to_string_lossy());
            std::process::exit(1);
        }
    }
}

/// Writes `OUT/man/<name>.<section>` for the command and each visible subcommand
/// (`berth-create.8`), and `OUT/completions/{bash/<name>,zsh/_<name>,fish/<name>.fish}`.
pub fn generate(cmd: Command, pages: &Pages, out: &Path) -> io::Result<()> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let man = out.join("man");
    fs::create_dir_all(&man)?;
    write_pages(cmd.clone(), pages.section, &man)?;
    if pages.completions {
        let name = cmd.get_name().to_string();
        for (shell, dir, file) in [
            (Shell::Bash, "bash", name.clone()),
            (Shell::Zsh, "zsh", format!("_{name}")),
            (Shell::Fish, "fish", format!("{name}.fish")),
        ] {
            let dir = out.join("completions").join(dir);
            fs::create_dir_all(&dir)?;
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, &name, &mut text);
            fs::write(dir.join(file), text)?;
        }
    }
    Ok(())
}

fn write_pages(cmd: Command, section: &str, dir: &Path) -> io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub.clone(), section, dir)?;
    }
    let source = format!("Berth {}", env!("CARGO_PKG_VERSION"));
    clap_mangen::Man::new(cmd)
        .section(section)
        .date(std::env::var(DATE_ENV).unwrap_or_default())
        .manual("Berth Manual")
        .source(source)
        .generate_to(dir)?;
    Ok(())
}
