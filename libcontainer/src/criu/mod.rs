//! Checkpoint and restore through CRIU: berth talks to `criu swrk` over its RPC socket
//! with CRIU's own protobuf messages (the rust-criu crate's `rpc.proto`), and gives CRIU
//! what it cannot find alone: the container's external mounts, its cgroup, its stdio
//! pipes and the console. The container side (state, cgroup, hooks) is in
//! `container/checkpoint.rs` and `container/restore.rs`.

mod descriptors;
mod mounts;
mod namespaces;
mod options;
mod swrk;

pub(crate) use descriptors::{is_inherited, read_descriptors, write_descriptors};
pub(crate) use mounts::{dump_mounts, make_restore_mountpoints, restore_mounts, ExtMount};
pub(crate) use namespaces::joined_namespaces;
pub use options::{CgroupsMode, CheckpointOptions, CriuOptions, RestoreOptions};
pub(crate) use swrk::{check_version, Conversation, Notify, Request, Streams};

use std::path::PathBuf;

/// Oldest CRIU berth drives (runc asks for 3.0 as well; swrk's fd-passing and
/// `orphan_pts_master` need it).
pub(crate) const MIN_VERSION: u32 = 30000;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CriuError {
    /// criu is not installed or not on PATH.
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    #[error("criu {found} is too old: berth needs {need} or newer")]
    TooOld { found: String, need: String },
    /// CRIU answered a request with failure; its log says why.
    #[error("criu failed: type {kind} errno {errno}{}; log file: {}", cause.as_ref().map(|c| format!(": {c}")).unwrap_or_default(), log.display())]
    Failed {
        kind: &'static str,
        errno: i32,
        cause: Option<String>,
        log: PathBuf,
    },
    /// CRIU exited (or broke the protocol) before answering.
    #[error("criu {kind}: {reason}; log file: {}", log.display())]
    Broken {
        kind: &'static str,
        reason: String,
        log: PathBuf,
    },
    #[error("{context}: {source}")]
    Sys {
        context: String,
        source: crate::errno::SysError,
    },
    #[error("{0}")]
    Options(String),
}

impl CriuError {
    pub(crate) fn sys(
        context: impl Into<String>,
        source: impl Into<crate::errno::SysError>,
    ) -> Self {
        CriuError::Sys {
            context: context.into(),
            source: source.into(),
        }
    }
}
