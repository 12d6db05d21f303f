//! `berth`: runc's command line over libcontainer. Each command lives in its own file
//! under `commands/`; this file parses the global flags and reports errors as runc does.

// Our own C `main` instead of std's wrapper: see process_start.rs for why and what it keeps.
// (Not in the unit-test build, whose `main` is the test harness.)
#![cfg_attr(not(test), no_main)]

mod commands;
mod foreground;
mod logging;
#[cfg_attr(test, allow(dead_code))]
mod process_start;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use commands::*;

/// An OCI container runtime, command-line compatible with runc.
#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version = version_text(),
    disable_version_flag = true,
    long_about = LONG_ABOUT
)]
struct Cli {
    /// Root directory for storage of container state (this should be located in tmpfs)
    /// [default: /run/berth, or $XDG_RUNTIME_DIR/berth when rootless]
    #[arg(long, global = true, env = "BERTH_ROOT")]
    root: Option<PathBuf>,
    /// Set the log file to write berth logs to (default is '/dev/stderr')
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Set the log format ('text' (default), or 'json')
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// Enable debug logging
    #[arg(long, global = true)]
    debug: bool,
    /// Enable systemd cgroup support, expects cgroupsPath to be of form "slice:prefix:name" for e.g. "system.slice:runc:434234"
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    /// Path to the criu binary used for checkpoint and restore
    #[arg(long, global = true, default_value = "criu")]
    criu: PathBuf,
    /// Ignore cgroup permission errors ('true', 'false', or 'auto')
    #[arg(long, hide = true)]
    rootless: Option<String>,
    /// Print how long each step took to stderr (also: BERTH_TRACE=1)
    #[arg(long, global = true)]
    trace: bool,
    /// Print the version
    #[arg(short = 'v', long = "version", action = clap::ArgAction::Version)]
    version: Option<bool>,
    #[command(subcommand)]
    command: Command,
}

// Deferred: only the chosen subcommand's arguments are built (clap otherwise builds all of
// them, with their help texts, on every invocation; see docs/performance.md).
#[derive(Subcommand, Debug)]
#[command(defer = true)]
enum Command {
    /// Create a container
    Create(create::CreateArgs),
    /// Check a bundle against the runtime spec and this host, reporting every problem
    Check(check::CheckArgs),
    /// Execute the user defined process in a created container
    Start(start::StartArgs),
    /// Create and run a container
    Run(run::RunArgs),
    /// Output the state of a container
    State(state::StateArgs),
    /// Kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill(kill::KillArgs),
    /// Delete any resources held by the container often used with detached containers
    Delete(delete::DeleteArgs),
    /// Lists containers started by berth with the given root
    List(list::ListArgs),
    /// Execute new process inside the container
    Exec(exec::ExecArgs),
    /// Pause suspends all processes inside the container
    Pause(pause::PauseArgs),
    /// Resumes all processes that have been previously paused
    Resume(pause::PauseArgs),
    /// Displays the processes running inside a container
    Ps(ps::PsArgs),
    /// Create a new specification file
    Spec(spec::SpecArgs),
    /// Show the enabled features
    Features(features::FeaturesArgs),
    /// Update container resource constraints
    Update(update::UpdateArgs),
    /// Display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events(events::EventsArgs),
    /// Checkpoint a running container
    Checkpoint(checkpoint::CheckpointArgs),
    /// Restore a container from a previous checkpoint
    Restore(checkpoint::RestoreArgs),
}

const LONG_ABOUT: &str = "An OCI container runtime, command-line compatible with runc.

berth runs containers from OCI bundles: a directory holding config.json (see `berth spec`) \
and the root filesystem it names. It takes runc's commands, flags, exit codes, JSON \
outputs and log format, so Docker (a runtime path in daemon.json), containerd's runc-v2 \
shim (BinaryName) and podman (--runtime) can use it in runc's place; containerd can also \
drive it in-process through containerd-shim-berth-v2(8). Container state lives under \
--root (/run/berth by default).";

/// Global settings every command may need.
pub struct Globals {
    pub root: PathBuf,
    /// `--systemd-cgroup`: systemd makes the containers' cgroups.
    pub cgroup_driver: libcontainer::CgroupDriver,
    /// `--criu`: the CRIU binary checkpoint and restore run.
    pub criu: PathBuf,
}

/// runc's rule: `$XDG_RUNTIME_DIR/berth` when XDG_RUNTIME_DIR is set and we are not root
/// (or are root only inside a user namespace, with $USER not "root"); else /run/berth.
fn default_root() -> PathBuf {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty());
    let honor = || {
        if !nix::unistd::geteuid().is_root() {
            return true;
        }
        let in_userns = std::fs::read_to_string("/proc/self/uid_map")
            .map(|s| s.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"])
            .unwrap_or(false);
        in_userns && std::env::var("USER").map_or(true, |u| u != "root")
    };
    match xdg {
        Some(dir) if honor() => {
            let root = PathBuf::from(dir).join("berth");
            // As runc: private, and sticky so that tmpfs cleaners leave it alone.
            if std::fs::create_dir_all(&root).is_ok() {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o1700));
            }
            root
        }
        _ => PathBuf::from("/run/berth"),
    }
}

/// runc's shape after clap's "berth ": "version X", then commit: and spec: lines, which
/// tools (and runc's own tests) read line by line.
fn version_text() -> &'static str {
    concat!(
        "version ",
        env!("CARGO_PKG_VERSION"),
        "\ncommit: ",
        env!("CARGO_PKG_VERSION"),
        "\nspec: ",
        "1.2.1"
    )
}

#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    process_start::prepare();
    run_command()
}

#[cfg_attr(test, allow(dead_code))]
fn run_command() -> ! {
    #[cfg(feature = "docgen")]
    berth_docgen::generate_if_asked(
        <Cli as clap::CommandFactory>::command,
        &berth_docgen::Pages {
            section: "8",
            completions: true,
        },
    );
    let parsed = runc_help_layout(<Cli as clap::CommandFactory>::command())
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                e.exit()
            }
            clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            | clap::error::ErrorKind::MissingSubcommand => {
                // runc without a command prints its help on stdout and exits 0.
                let mut cmd = runc_help_layout(<Cli as clap::CommandFactory>::command());
                print!("{}", cmd.render_help());
                std::process::exit(0);
            }
            clap::error::ErrorKind::InvalidSubcommand => {
                // runc's (urfave/cli's) text and exit code for a command it does not know.
                let name = match e.get(clap::error::ContextKind::InvalidSubcommand) {
                    Some(clap::error::ContextValue::String(s)) => s.clone(),
                    _ => String::new(),
                };
                logging::fatal_with_code(&format!("No help topic for '{name}'"), 3);
            }
            clap::error::ErrorKind::MissingRequiredArgument => {
                // runc's wording: `runc: "create" requires exactly 1 argument(s)`.
                let cmd = std::env::args()
                    .skip(1)
                    .find(|a| !a.starts_with('-'))
                    .unwrap_or_default();
                logging::fatal(&format!("berth: {cmd:?} requires exactly 1 argument(s)"));
            }
            _ => {
                let text = e.to_string();
                let first = text
                    .lines()
                    .next()
                    .unwrap_or("invalid arguments")
                    .trim_start_matches("error: ");
                logging::fatal(first);
            }
        },
    };
    let format = match cli.log_format.as_str() {
        "text" => logging::LogFormat::Text,
        "json" => logging::LogFormat::Json,
        other => logging::fatal(&format!("invalid log-format: {other}")),
    };
    if let Err(e) = logging::init(cli.log.as_deref(), format, cli.debug) {
        logging::fatal(&error_text(&e));
    }
    if cli.trace || std::env::var("BERTH_TRACE").is_ok_and(|v| !v.is_empty() && v != "0") {
        libcontainer::trace::enable();
    }
    let globals = Globals {
        root: cli.root.unwrap_or_else(default_root),
        criu: cli.criu,
        cgroup_driver: if cli.systemd_cgroup {
            libcontainer::CgroupDriver::Systemd
        } else {
            libcontainer::CgroupDriver::Cgroupfs
        },
    };
    let result = match &cli.command {
        Command::Create(a) => create::run(&globals, a),
        Command::Check(a) => check::run(&globals, a),
        Command::Start(a) => start::run(&globals, a),
        Command::Run(a) => run::run(&globals, a),
        Command::State(a) => state::run(&globals, a),
        Command::Kill(a) => kill::run(&globals, a),
        Command::Delete(a) => delete::run(&globals, a),
        Command::List(a) => list::run(&globals, a),
        Command::Exec(a) => exec::run(&globals, a),
        Command::Pause(a) => pause::pause(&globals, a),
        Command::Resume(a) => pause::resume(&globals, a),
        Command::Ps(a) => ps::run(&globals, a),
        Command::Spec(a) => spec::run(a).map(|()| 0),
        Command::Features(a) => features::run(a).map(|()| 0),
        Command::Update(a) => update::run(&globals, a),
        Command::Events(a) => events::run(&globals, a),
        Command::Checkpoint(a) => checkpoint::checkpoint(&globals, a),
        Command::Restore(a) => checkpoint::restore(&globals, a),
    };
    libcontainer::trace::flush();
    match result {
        Ok(code) => std::process::exit(code),
        // runc's exec exits 255 on its own failures, keeping 1..254 for the process's.
        Err(e) if matches!(cli.command, Command::Exec(_)) => {
            logging::fatal_with_code(&error_text(&e), 255)
        }
        Err(e) => logging::fatal(&error_text(&e)),
    }
}

/// Help in runc's layout (urfave/cli's NAME:, USAGE:, COMMANDS:, OPTIONS: sections), which
/// scripts and runc's own tests read: line 2 is "<binary> <command> - <what it does>".
/// The binary's name is the one it was started as, so a berth installed as `runc` says runc.
fn runc_help_layout(cmd: clap::Command) -> clap::Command {
    let bin = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "berth".to_owned());
    let top = format!(
        "NAME:\n   {bin} - Open Container Initiative runtime\n\n{{about}}\n\n\
         USAGE:\n   {{usage}}\n\nCOMMANDS:\n{{subcommands}}\n\nGLOBAL OPTIONS:\n{{options}}"
    );
    // clap (without its "string" feature) names commands with 'static strings; this one
    // lives as long as the process anyway.
    let name: &'static str = Box::leak(bin.clone().into_boxed_str());
    let cmd = cmd.name(name).help_template(top);
    // Each command's template names it; making all of them on every start would read every
    // command's name, spread over the binary's read-only data (RSS, docs/performance.md).
    if !help_may_be_shown() {
        return cmd;
    }
    cmd.mut_subcommands(|sub| {
        let name = sub.get_name().to_owned();
        sub.help_template(format!(
            "NAME:\n   {bin} {name} - {{about}}\n\nUSAGE:\n   {{usage}}\n\n{{after-help}}\
             OPTIONS:\n{{options}}"
        ))
    })
}

/// Whether a command's help may be printed: `help`, `--help`, or `-h` alone or among other
/// short flags (erring on the side of yes costs only the templates).
fn help_may_be_shown() -> bool {
    std::env::args_os().len() <= 1
        || std::env::args_os().skip(1).any(|a| {
            let a = a.as_encoded_bytes();
            a == b"help"
                || a == b"--help"
                || (a.starts_with(b"-") && !a.starts_with(b"--") && a.contains(&b'h'))
        })
}

/// One line for the whole error chain, Go style ("outer: inner: cause"). Library errors
/// already carry their cause in their text, so a cause that the message so far ends with
/// is not repeated.
fn error_text(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.ends_with(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}
