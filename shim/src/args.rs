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
            if name == "debug" {
                args.debug = inline.as_deref() != Some("false");
                continue;
            }
            // Flags that are actions of their own (Go's shim library reads them so).
            let flag_action = match name.as_str() {
                "info" => Some("info"),
                "version" | "v" => Some("version"),
                _ => None,
            };
            if let Some(act) = flag_action {
                if inline.as_deref() != Some("false") {
                    action = Some(act.to_string());
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
