//! containerd's Checkpoint request and restoring a task created from a checkpoint: the
//! runc shim's options (containerd.runc.v1.CheckpointOptions) as libcontainer's.

use std::path::Path;

use containerd_shim_protos::api::{CheckpointTaskRequest, Empty};
use containerd_shim_protos::shim::oci::CheckpointOptions as Requested;
use libcontainer::{CgroupsMode, CheckpointOptions, CreateOptions, CriuOptions, RestoreOptions};
use protobuf::Message;

use crate::service::{RpcError, Service};

fn invalid(e: impl std::fmt::Display) -> RpcError {
    RpcError::InvalidArgument(e.to_string())
}

fn decode(r: &CheckpointTaskRequest) -> Result<Requested, RpcError> {
    match r.options.as_ref() {
        Some(any) if any.type_url.ends_with("CheckpointOptions") => {
            Requested::parse_from_bytes(&any.value)
                .map_err(|e| RpcError::InvalidArgument(format!("decode {}: {e}", any.type_url)))
        }
        _ => Ok(Requested::new()),
    }
}

fn non_empty(s: &str) -> Option<std::path::PathBuf> {
    (!s.is_empty()).then(|| s.into())
}

impl Service {
    /// Dumps the task's container; with `exit` CRIU ends its processes and the init's
    /// exit is reported as for any exit (containerd then deletes the task).
    pub fn checkpoint(&mut self, r: CheckpointTaskRequest) -> Result<Empty, RpcError> {
        let o = decode(&r)?;
        let mut container = libcontainer::Container::load(&self.root, &r.id)?;
        let image_path = non_empty(&o.image_path)
            .or_else(|| non_empty(&r.path))
            .ok_or_else(|| invalid("checkpoint: no image path"))?;
        let opts = CheckpointOptions {
            criu: CriuOptions {
                criu: "criu".into(),
                image_path,
                work_path: non_empty(&o.work_path),
                tcp_established: o.open_tcp,
                ext_unix_sk: o.external_unix_sockets,
                shell_job: o.terminal,
                file_locks: o.file_locks,
                manage_cgroups_mode: (!o.cgroups_mode.is_empty())
                    .then(|| CgroupsMode::parse(&o.cgroups_mode))
                    .transpose()
                    .map_err(invalid)?,
                empty_ns: CriuOptions::empty_ns_mask(&o.empty_namespaces).map_err(invalid)?,
                ..Default::default()
            },
            leave_running: !o.exit,
            ..Default::default()
        };
        container
            .checkpoint(&opts)
            .map_err(|e| RpcError::Internal(format!("OCI runtime checkpoint failed: {e}")))?;
        Ok(Empty::new())
    }
}

/// What a create from a checkpoint restores with: the stdio, console and cgroup driver a
/// create would have used; CRIU's work files go to the bundle's `criu-work`.
pub fn restore_options(images: &Path, bundle: &Path, create: CreateOptions) -> RestoreOptions {
    RestoreOptions {
        criu: CriuOptions {
            criu: "criu".into(),
            image_path: images.to_path_buf(),
            work_path: Some(bundle.join("criu-work")),
            ..Default::default()
        },
        console: create.console,
        pid_file: None,
        lsm_profile: None,
        lsm_mount_context: None,
        cgroup_driver: create.cgroup_driver,
        stdio: create.stdio,
    }
}
