//! The library's one error type. Each module has its own `thiserror` enum; they roll up
//! here, with the container id, path or field added where it is known.
//!
//! Texts follow runc's where clients match them (dockerd maps "executable file not
//! found" to exit 127, containerd shows them to users).

use std::path::PathBuf;

pub use crate::errno::SysError;
use crate::state::StateError;
use crate::status::Status;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("container does not exist")]
    NotExist { id: String },
    #[error("container with given ID already exists")]
    Exists { id: String },
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId { id: String, reason: &'static str },
    /// The operation needs a running container (or, for `kill --all`, any live one).
    #[error("container not running")]
    NotRunning { id: String, found: Status },
    #[error("container not running or created: {found}")]
    NotRunningOrCreated { id: String, found: Status },
    #[error("container not paused")]
    NotPaused { id: String, found: Status },
    /// `start` of a container that is not `created`.
    #[error("{}", start_refusal(*.found))]
    CannotStart { id: String, found: Status },
    /// `delete` (without force) of a container that is not stopped.
    #[error("cannot delete container {id} that is not stopped: {found}")]
    NotStopped { id: String, found: Status },
    /// `exec` into a container that is neither running nor created.
    #[error("{}", exec_refusal(*.found))]
    CannotExec { id: String, found: Status },
    /// The container runs without a cgroup of its own (rootless without delegation).
    #[error("container has no cgroup")]
    NoCgroup { id: String },
    /// The configuration asks for something that cannot be done as written.
    #[error("{0}")]
    Config(String),
    /// The runtime and a container process disagreed on the sync protocol.
    #[error("{0}")]
    Protocol(String),
    /// Setting the process's capabilities failed (the caps crate's text).
    #[error("{0}")]
    Capabilities(String),
    /// Applying an LSM label (AppArmor profile) failed.
    #[error("{0}")]
    Lsm(String),
    #[error("encode {what}: {source}")]
    Encode {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    State(StateError),
    #[error(transparent)]
    Cgroup(#[from] crate::cgroups::CgroupError),
    #[error(transparent)]
    Rootfs(#[from] crate::rootfs::RootfsError),
    #[error(transparent)]
    Hook(#[from] crate::hooks::HookError),
    #[error(transparent)]
    Signal(#[from] crate::signal::SignalError),
    #[error(transparent)]
    Seccomp(#[from] crate::seccomp::SeccompError),
    #[error(transparent)]
    Criu(#[from] crate::criu::CriuError),
    /// The container's init (or an exec'd process) failed before it could run the user
    /// program; the text is what the child reported.
    #[error("unable to start container process: {0}")]
    Start(String),
    /// The program to run cannot be executed; Go's exec.LookPath wording.
    #[error("exec: {name:?}: {reason}")]
    Exec { name: String, reason: String },
    /// A failure inside the container's init, before the user program runs.
    #[error("error during container init: {0}")]
    Init(Box<Error>),
    #[error("{context}: {source}")]
    Sys { context: String, source: SysError },
    #[error("{}: {source}", path.display())]
    Path { path: PathBuf, source: SysError },
}

/// runc's texts for a `start` the state forbids.
fn start_refusal(found: Status) -> &'static str {
    match found {
        Status::Stopped => "cannot start a container that has stopped",
        Status::Creating => "cannot start a container that is still being created",
        Status::Created | Status::Running | Status::Paused => {
            "cannot start an already running container"
        }
    }
}

/// runc's texts for an `exec` the state forbids.
fn exec_refusal(found: Status) -> String {
    match found {
        Status::Paused => {
            "cannot exec in a paused container (use --ignore-paused to override)".into()
        }
        other => format!("cannot exec in a {other} container"),
    }
}

impl Error {
    /// The container refused the operation because of its state (the shim answers
    /// FailedPrecondition for these).
    pub fn is_wrong_state(&self) -> bool {
        matches!(
            self,
            Error::NotRunning { .. }
                | Error::NotRunningOrCreated { .. }
                | Error::NotPaused { .. }
                | Error::CannotStart { .. }
                | Error::NotStopped { .. }
                | Error::CannotExec { .. }
                | Error::NoCgroup { .. }
        )
    }

    pub(crate) fn sys(context: impl Into<String>, source: impl Into<SysError>) -> Self {
        Error::Sys {
            context: context.into(),
            source: source.into(),
        }
    }

    pub(crate) fn path(path: impl Into<PathBuf>, source: impl Into<SysError>) -> Self {
        Error::Path {
            path: path.into(),
            source: source.into(),
        }
    }
}

/// Adds a context string to a syscall-level result.
pub(crate) trait SysContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: Into<SysError>> SysContext<T> for std::result::Result<T, E> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::sys(context(), e))
    }
}

/// A state error, except that a taken id is runc's "already exists".
impl From<StateError> for Error {
    fn from(e: StateError) -> Self {
        match e {
            StateError::Exists { id } => Error::Exists { id },
            e => Error::State(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_state_errors_read_as_runc_and_are_typed() {
        let id = || "c1".to_string();
        let cases = [
            (
                Error::CannotStart {
                    id: id(),
                    found: Status::Stopped,
                },
                "cannot start a container that has stopped",
            ),
            (
                Error::CannotStart {
                    id: id(),
                    found: Status::Creating,
                },
                "cannot start a container that is still being created",
            ),
            (
                Error::CannotStart {
                    id: id(),
                    found: Status::Paused,
                },
                "cannot start an already running container",
            ),
            (
                Error::NotStopped {
                    id: id(),
                    found: Status::Running,
                },
                "cannot delete container c1 that is not stopped: running",
            ),
            (
                Error::CannotExec {
                    id: id(),
                    found: Status::Paused,
                },
                "cannot exec in a paused container (use --ignore-paused to override)",
            ),
            (
                Error::CannotExec {
                    id: id(),
                    found: Status::Stopped,
                },
                "cannot exec in a stopped container",
            ),
            (
                Error::NotRunningOrCreated {
                    id: id(),
                    found: Status::Paused,
                },
                "container not running or created: paused",
            ),
            (
                Error::NotPaused {
                    id: id(),
                    found: Status::Running,
                },
                "container not paused",
            ),
            (
                Error::NotRunning {
                    id: id(),
                    found: Status::Stopped,
                },
                "container not running",
            ),
            (Error::NoCgroup { id: id() }, "container has no cgroup"),
        ];
        for (e, text) in cases {
            assert_eq!(e.to_string(), text);
            assert!(e.is_wrong_state(), "{e}");
        }
        assert!(!Error::Config("x".into()).is_wrong_state());
        assert!(!Error::NotExist { id: id() }.is_wrong_state());
    }
}
