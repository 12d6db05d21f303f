//! containerd-shim-berth-v2: containerd's runtime-v2 shim over libcontainer, in-process.
//! `start` and `delete` are short-lived; without an action the binary is the
//! long-running, single-threaded shim that serves the Task API over ttrpc.

mod args;
mod checkpoint;
mod console;
mod delete;
mod events;
mod idle;
mod info;
mod logbinary;
mod metrics;
mod mount;
mod options;
mod process;
mod relay;
mod serve;
mod service;
mod start;
mod stdio;
mod task;
mod wire;

use args::{Action, Args};

/// Log lines go to stderr, which `start` points at containerd's `log` fifo.
struct StderrLog(log::LevelFilter);

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.0
    }

    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            eprintln!("berth-shim {}: {}", r.level(), r.args());
        }
    }

    fn flush(&self) {}
}

fn main() {
    #[cfg(feature = "docgen")]
    berth_docgen::generate_if_asked(
        args::command,
        &berth_docgen::Pages {
            section: "8",
            completions: false,
        },
    );
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("containerd-shim-berth-v2: {e}");
            std::process::exit(2);
        }
    };
    let level = if args.debug {
        log::LevelFilter::Debug
    } else {
        log::LevelFilter::Warn
    };
    let logger: &'static StderrLog = Box::leak(Box::new(StderrLog(level)));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
    let result = match args.action {
        Action::Start => start::run(&args),
        Action::Delete => delete::run(&args),
        Action::Serve => serve::run(&args),
        Action::Info => info::run_info(),
        Action::Version => info::run_version(),
    };
    if let Err(e) = result {
        eprintln!("containerd-shim-berth-v2: {e:#}");
        std::process::exit(1);
    }
}
