//! What a caller asks of a checkpoint or a restore: runc's flags, as values.

use std::os::fd::RawFd;
use std::path::PathBuf;

use rust_criu::rust_criu_protobuf::rpc::Criu_cg_mode;

use super::CriuError;
use crate::container::Console;

/// `--manage-cgroups-mode`: how CRIU treats the container's cgroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupsMode {
    Soft,
    Full,
    Strict,
    Ignore,
}

impl CgroupsMode {
    pub fn parse(text: &str) -> Result<CgroupsMode, CriuError> {
        match text {
            "soft" => Ok(CgroupsMode::Soft),
            "full" => Ok(CgroupsMode::Full),
            "strict" => Ok(CgroupsMode::Strict),
            "ignore" => Ok(CgroupsMode::Ignore),
            // runc's text, which does not name the value.
            _ => Err(CriuError::Options("Invalid manage cgroups mode".into())),
        }
    }

    pub(crate) fn rpc(self) -> Criu_cg_mode {
        match self {
            CgroupsMode::Soft => Criu_cg_mode::SOFT,
            CgroupsMode::Full => Criu_cg_mode::FULL,
            CgroupsMode::Strict => Criu_cg_mode::STRICT,
            CgroupsMode::Ignore => Criu_cg_mode::IGNORE,
        }
    }
}

/// The options `checkpoint` and `restore` share.
#[derive(Debug, Default, Clone)]
pub struct CriuOptions {
    /// The CRIU binary (`--criu`; a bare name is looked up in PATH).
    pub criu: PathBuf,
    /// Where the images are (default `./checkpoint`, as runc).
    pub image_path: PathBuf,
    /// Where CRIU writes its log and work files (default: the image path).
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub lazy_pages: bool,
    pub manage_cgroups_mode: Option<CgroupsMode>,
    /// CLONE_NEW* flags of namespaces CRIU creates empty instead of restoring.
    pub empty_ns: u32,
    pub auto_dedup: bool,
}

impl CriuOptions {
    /// runc's `--empty-ns` names (containerd's `empty_namespaces`) as clone flags.
    pub fn empty_ns_mask<S: AsRef<str>>(names: &[S]) -> Result<u32, CriuError> {
        let mut mask = 0;
        for name in names {
            mask |= match name.as_ref() {
                "network" => libc::CLONE_NEWNET,
                "pid" => libc::CLONE_NEWPID,
                "mount" => libc::CLONE_NEWNS,
                "ipc" => libc::CLONE_NEWIPC,
                "uts" => libc::CLONE_NEWUTS,
                "user" => libc::CLONE_NEWUSER,
                other => {
                    return Err(CriuError::Options(format!(
                        "namespace {other:?} is not supported"
                    )))
                }
            } as u32;
        }
        Ok(mask)
    }

    /// Where CRIU's log goes: the work path when given, else the image path.
    pub(crate) fn log_dir(&self) -> &std::path::Path {
        self.work_path.as_deref().unwrap_or(&self.image_path)
    }
}

#[derive(Debug, Default, Clone)]
pub struct CheckpointOptions {
    pub criu: CriuOptions,
    /// Images of an earlier pre-dump, relative to the image path.
    pub parent_path: Option<PathBuf>,
    pub leave_running: bool,
    /// `--pre-dump`: memory only; the container keeps running.
    pub pre_dump: bool,
    /// `--page-server ADDRESS:PORT`.
    pub page_server: Option<(String, i32)>,
    /// `--status-fd`: CRIU writes `\0` there once lazy pages are served.
    pub status_fd: Option<RawFd>,
}

impl CheckpointOptions {
    /// Parses runc's `--page-server` value, `ADDRESS:PORT`.
    pub fn parse_page_server(text: &str) -> Result<(String, i32), CriuError> {
        let bad =
            || CriuError::Options("Use --page-server ADDRESS:PORT to specify page server".into());
        let (addr, port) = text.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if addr.is_empty() {
            return Err(bad());
        }
        Ok((addr.to_string(), i32::from(port)))
    }
}

#[derive(Debug, Default)]
pub struct RestoreOptions {
    pub criu: CriuOptions,
    /// Where the pty master of a restored terminal goes.
    pub console: Console,
    pub pid_file: Option<PathBuf>,
    /// `TYPE:NAME`, e.g. `apparmor:unconfined`.
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
    pub cgroup_driver: crate::cgroups::Driver,
    /// The restored process's stdin, stdout and stderr (the shim's fifos); by default ours.
    pub stdio: crate::process::stdio::Stdio,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_server_needs_address_and_port() {
        assert_eq!(
            CheckpointOptions::parse_page_server("10.0.0.1:27").unwrap(),
            ("10.0.0.1".to_string(), 27)
        );
        for bad in ["10.0.0.1", ":27", "a:b", "a:70000"] {
            assert!(CheckpointOptions::parse_page_server(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cgroups_modes_are_runcs() {
        assert_eq!(CgroupsMode::parse("strict").unwrap(), CgroupsMode::Strict);
        assert!(CgroupsMode::parse("hard").is_err());
    }
}
