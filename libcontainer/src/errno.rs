//! The errno type every error of the library carries, shown as Go shows it. Its own
//! module so that the modules whose errors `error.rs` gathers (cgroups, rootfs, seccomp)
//! use it without importing the gathering module back.

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
