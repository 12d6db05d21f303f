//! The command line containerd gives a shim: Go-style flags (`-namespace ns`,
//! `--address=/run/containerd/containerd.sock`, `-debug`) and an optional action,
//! `start` or `delete`; no action means "serve" (the long-running shim).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ArgsError {
    #[error("flag -{0} needs a value")]
    MissingValue(String),
    #[error("unknown flag -{0}")]
    UnknownFlag(String),
    #[error("unknown action {0:?} (want start or delete)")]
    UnknownAction(String),
    #[error("flag -{0} is required")]
    Required(&'static str),
}

/// One flag the shim accepts. The parser knows a flag only if it is in [`FLAGS`], and the
/// man page (the `docgen` feature) is made from the same table.
pub struct Flag {
    pub name: &'static str,
    /// The value's placeholder; `None` for a switch.
    pub value: Option<&'static str>,
    #[cfg_attr(not(feature = "docgen"), allow(dead_code))]
    pub help: &'static str,
}

#[rustfmt::skip]
pub const FLAGS: &[Flag] = &[
    Flag { name: "namespace", value: Some("NS"), help: "containerd namespace of the task (required)" },
    Flag { name: "id", value: Some("ID"), help: "the task's id (required by start and delete)" },
    Flag { name: "address", value: Some("PATH"), help: "containerd's gRPC socket; the shim's own socket is named after it" },
    Flag { name: "publish-binary", value: Some("PATH"), help: "the binary that publishes task events to containerd (containerd itself)" },
    Flag { name: "bundle", value: Some("DIR"), help: "the task's bundle (default: the working directory)" },
    Flag { name: "socket", value: Some("ADDRESS"), help: "internal: the socket the long-running shim serves, passed by `start`" },
    Flag { name: "containerd-binary", value: Some("PATH"), help: "accepted and unused (containerd 1.6 passes it)" },
    Flag { name: "ttrpc-address", value: Some("PATH"), help: "accepted and unused (containerd 1.6 passes it)" },
    Flag { name: "debug", value: None, help: "log at debug level to the task's log" },
    Flag { name: "info", value: None, help: "print the RuntimeInfo protobuf containerd 2 asks for, and exit" },
    Flag { name: "version", value: None, help: "print the version, and exit (also -v)" },
    Flag { name: "v", value: None, help: "print the version, and exit" },
];

/// The shim's command line for its man page: Go-style flags take one dash or two.
#[cfg(feature = "docgen")]
pub fn command() -> clap::Command {
    // -v is described under --version.
    let flags = FLAGS.iter().filter(|f| f.name != "v").map(|f| {
        let arg = clap::Arg::new(f.name).long(f.name).help(f.help);
        match f.value {
            Some(v) => arg.value_name(v),
            None => arg.action(clap::ArgAction::SetTrue),
        }
    });
    clap::Command::new("containerd-shim-berth-v2")
        .about("containerd runtime-v2 shim for Berth (io.containerd.berth.v2)")
        .long_about(
            "The shim containerd starts for a task whose runtime is io.containerd.berth.v2. \
             `start` forks the long-running shim (or finds the one serving the task's group) \
             and prints its ttrpc address; with no action the shim serves containerd's Task \
             API over that socket, running containers in-process through libcontainer; \
             `delete` cleans up after a shim that died. Flags take one dash or two, as Go's \
             flag package reads them. Users do not run this binary: containerd does.",
        )
        .disable_version_flag(true)
        .disable_help_flag(true)
        .args(flags)
        .arg(
            clap::Arg::new("action")
                .value_name("ACTION")
                .value_parser(["start", "delete"])
                .help("start or delete; none: serve"),
        )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Delete,
    Serve,
    /// `-info`: containerd 2.x asks for the RuntimeInfo protobuf (introspection).
    Info,
    /// `-version` / `-v`: the shim's version, as runc-v2 prints it.
    Version,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub action: Action,
    pub namespace: String,
    pub id: String,
    /// containerd's grpc address, used by the publish binary and to name our socket.
    pub address: String,
    pub publish_binary: PathBuf,
    pub bundle: Option<PathBuf>,
    pub debug: bool,
    /// Only for the long-running shim: the group whose containers it serves.
    pub socket: Option<String>,
}

impl Args {
    pub fn parse(argv: impl IntoIterator<Item = String>) -> Result<Args, ArgsError> {
        let mut args = Args {
            action: Action::Serve,
            namespace: String::new(),
            id: String::new(),
            address: String::new(),
            publish_binary: PathBuf::from("containerd"),
            bundle: None,
            debug: false,
            socket: None,
        };
        let mut it = argv.into_iter();
        let mut action = None;
        while let Some(arg) = it.next() {
            let Some(flag) = arg.strip_prefix('-') else {
                action = Some(arg);
                continue;
            };
            let flag = flag.strip_prefix('-').unwrap_or(flag);
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (flag.to_string(), None),
            };
            let Some(spec) = FLAGS.iter().find(|f| f.name == name) else {
                return Err(ArgsError::UnknownFlag(name));
            };
            if spec.value.is_none() {
                // A switch: `-x`, or Go's `-x=false`. info and version are actions of
                // their own (Go's shim library reads them so).
                let on = inline.as_deref() != Some("false");
                match name.as_str() {
                    "debug" => args.debug = on,
                    "info" if on => action = Some("info".to_string()),
                    "version" | "v" if on => action = Some("version".to_string()),
                    _ => {}
                }
                continue;
            }
            let value = match inline {
                Some(v) => v,
                None => it.next().ok_or(ArgsError::MissingValue(name.clone()))?,
            };
            match name.as_str() {
                "namespace" => args.namespace = value,
                "id" => args.id = value,
                "address" => args.address = value,
                "publish-binary" => args.publish_binary = PathBuf::from(value),
                "bundle" => args.bundle = Some(PathBuf::from(value)),
                "socket" => args.socket = Some(value),
                // Accepted and unused: containerd 1.6 may pass these.
                "containerd-binary" | "ttrpc-address" => {}
                _ => return Err(ArgsError::UnknownFlag(name)),
            }
        }
        args.action = match action.as_deref() {
            None => Action::Serve,
            Some("start") => Action::Start,
            Some("delete") => Action::Delete,
            Some("info") => Action::Info,
            Some("version") => Action::Version,
            Some(other) => return Err(ArgsError::UnknownAction(other.to_string())),
        };
        if matches!(args.action, Action::Info | Action::Version) {
            return Ok(args);
        }
        if args.namespace.is_empty() {
            return Err(ArgsError::Required("namespace"));
        }
        if args.id.is_empty() && args.action != Action::Serve {
            return Err(ArgsError::Required("id"));
        }
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, ArgsError> {
        Args::parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn containerd_start_line() {
        let a = parse("-namespace default -address /run/c.sock -publish-binary /usr/bin/containerd -id web start").unwrap();
        assert_eq!(a.action, Action::Start);
        assert_eq!(a.namespace, "default");
        assert_eq!(a.id, "web");
        assert_eq!(a.address, "/run/c.sock");
        assert_eq!(a.publish_binary, PathBuf::from("/usr/bin/containerd"));
    }

    /// The man page lists FLAGS; the parser must take every one of them, and no other.
    #[test]
    fn every_documented_flag_is_accepted() {
        for f in FLAGS {
            let line = match f.value {
                Some(_) => format!("-namespace ns -{} x", f.name),
                None => format!("-namespace ns -{}", f.name),
            };
            assert!(parse(&line).is_ok(), "-{} rejected", f.name);
        }
        assert_eq!(
            parse("-namespace ns -nosuch x"),
            Err(ArgsError::UnknownFlag("nosuch".into()))
        );
    }

    #[test]
    fn go_flag_forms() {
        let a = parse("--namespace=k8s.io -debug -id x -bundle /b delete").unwrap();
        assert_eq!(a.action, Action::Delete);
        assert!(a.debug);
        assert_eq!(a.bundle, Some(PathBuf::from("/b")));
    }

    #[test]
    fn info_and_version_need_no_namespace() {
        assert_eq!(parse("-info").unwrap().action, Action::Info);
        assert_eq!(parse("--version").unwrap().action, Action::Version);
        assert_eq!(parse("-v").unwrap().action, Action::Version);
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            parse("-namespace"),
            Err(ArgsError::MissingValue("namespace".into()))
        );
        assert_eq!(
            parse("-namespace a -id x stop"),
            Err(ArgsError::UnknownAction("stop".into()))
        );
        assert_eq!(parse("-id x start"), Err(ArgsError::Required("namespace")));
        assert!(matches!(
            parse("-namespace a -bogus 1"),
            Err(ArgsError::UnknownFlag(_))
        ));
    }
}
