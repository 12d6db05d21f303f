//! The library's one error type. Each module has its own `thiserror` enum; they roll up
//! here, with the container id, path or field added where it is known.
//!
//! Texts follow runc's where clients match them (dockerd maps "executable file not
//! found" to exit 127, containerd shows them to users).

use std::path::PathBuf;

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
    #[error("{0}")]
    InvalidState(String),
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
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

/// An errno shown the way Go (and so runc) prints it: lower-case strerror text, so that
/// clients that match runc's messages ("no such file or directory") keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{}", errno_text(*.0))]
pub struct SysError(pub nix::errno::Errno);

impl From<nix::errno::Errno> for SysError {
    fn from(e: nix::errno::Errno) -> Self {
        SysError(e)
    }
}

impl From<std::io::Error> for SysError {
    fn from(e: std::io::Error) -> Self {
        SysError(nix::errno::Errno::from_raw(
            e.raw_os_error().unwrap_or(libc::EIO),
        ))
    }
}

pub(crate) fn errno_text(e: nix::errno::Errno) -> String {
    let text = e.desc();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => format!("errno {}", e as i32),
    }
}

impl Error {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errno_reads_like_go() {
        assert_eq!(
            errno_text(nix::errno::Errno::ENOENT),
            "no such file or directory"
        );
        assert_eq!(
            errno_text(nix::errno::Errno::EPERM),
            "operation not permitted"
        );
    }
}
