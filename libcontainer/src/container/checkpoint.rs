//! `checkpoint`: dump a running container's processes with CRIU. Unless asked to leave
//! it running (`--leave-running`, `--pre-dump`), CRIU kills the processes once they are
//! dumped and the caller deletes the container, as runc does; a failed dump leaves it
//! running.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use oci_spec::runtime::Spec;
use rust_criu::rust_criu_protobuf::rpc::{
    Criu_opts, Criu_page_server_info, Criu_req_type, Ext_mount_map,
};

use super::Container;
use crate::criu::{
    self, CheckpointOptions, Conversation, CriuError, CriuOptions, Request, Streams,
};
use crate::error::{Error, Result};
use crate::state::Status;

/// The annotation naming a CRIU configuration file (runc's; CRIU's settings there win
/// over the RPC's).
const CRIU_CONFIG_ANNOTATION: &str = "org.criu.config";

impl Container {
    pub fn checkpoint(&mut self, opts: &CheckpointOptions) -> Result<()> {
        let _lock = self.lock()?;
        self.reload()?;
        let status = self.status();
        if !matches!(status, Status::Running | Status::Paused) {
            return Err(Error::Config(format!(
                "Container cannot be checkpointed in {status} state"
            )));
        }
        criu::check_version(&opts.criu.criu)?;
        let spec = self.spec()?;
        let image_dir = open_dir(&opts.criu.image_path)?;
        let work_dir = opts.criu.work_path.as_deref().map(open_dir).transpose()?;

        let mut o = shared_opts(&opts.criu, &image_dir, work_dir.as_ref());
        o.set_log_file("dump.log".into());
        if let Some(file) = criu_config_file(&spec) {
            o.set_config_file(file);
        }
        o.set_root(self.record.rootfs.display().to_string());
        o.set_pid(self.record.pid);
        // CRIU freezes through the cgroup rather than by ptrace alone: tasks of a cgroup
        // that is already frozen (a paused container: containerd pauses before it
        // checkpoints) never reach a ptrace stop. runc passes the same.
        if let Some(dir) = self.cgroup().and_then(|c| c.freezer_dir()) {
            o.set_freeze_cgroup(dir.display().to_string());
        }
        o.set_leave_running(opts.leave_running || opts.pre_dump);
        if let Some(parent) = &opts.parent_path {
            o.set_parent_img(parent.display().to_string());
            o.set_track_mem(true);
        }
        if opts.pre_dump {
            o.set_track_mem(true);
        }
        if let Some((address, port)) = &opts.page_server {
            let mut ps = Criu_page_server_info::new();
            ps.set_address(address.clone());
            ps.set_port(*port);
            o.ps = protobuf::MessageField::some(ps);
        }
        let mut inherit: Vec<RawFd> = vec![image_dir.as_raw_fd()];
        inherit.extend(work_dir.as_ref().map(|d| d.as_raw_fd()));
        if let Some(fd) = opts.status_fd {
            o.set_status_fd(fd);
            inherit.push(fd);
        }
        o.external = external_namespaces(&spec)?;
        if !opts.pre_dump {
            o.ext_mnt = criu::dump_mounts(&spec, self.record.pid)
                .into_iter()
                .map(ext_mount)
                .collect();
            let outside = criu::write_descriptors(&opts.criu.image_path, self.record.pid)?;
            o.external.extend(outside);
        }
        let kind = if opts.pre_dump {
            Criu_req_type::PRE_DUMP
        } else {
            Criu_req_type::DUMP
        };
        let log = opts.criu.log_dir().join("dump.log");
        let conversation =
            Conversation::start(&opts.criu.criu, kind, log, &inherit, Streams::Null)?;
        conversation.run(
            Request {
                kind,
                opts: Some(o),
            },
            &mut |_| Ok(()),
        )?;
        Ok(())
    }
}

/// The options a dump and a restore set alike.
pub(super) fn shared_opts(
    c: &CriuOptions,
    image_dir: &OwnedFd,
    work_dir: Option<&OwnedFd>,
) -> Criu_opts {
    let mut o = Criu_opts::new();
    o.set_images_dir_fd(image_dir.as_raw_fd());
    if let Some(work) = work_dir {
        o.set_work_dir_fd(work.as_raw_fd());
    }
    o.set_log_level(4);
    o.set_manage_cgroups(true);
    o.set_notify_scripts(true);
    o.set_shell_job(c.shell_job);
    o.set_tcp_established(c.tcp_established);
    o.set_ext_unix_sk(c.ext_unix_sk);
    o.set_file_locks(c.file_locks);
    o.set_empty_ns(c.empty_ns);
    o.set_orphan_pts_master(true);
    o.set_auto_dedup(c.auto_dedup);
    o.set_lazy_pages(c.lazy_pages);
    if let Some(mode) = c.manage_cgroups_mode {
        o.set_manage_cgroups_mode(mode.rpc());
    }
    o
}

pub(super) fn criu_config_file(spec: &Spec) -> Option<String> {
    spec.annotations()
        .as_ref()?
        .get(CRIU_CONFIG_ANNOTATION)
        .cloned()
}

pub(super) fn ext_mount((key, val): criu::ExtMount) -> Ext_mount_map {
    let mut m = Ext_mount_map::new();
    m.set_key(key);
    m.set_val(val);
    m
}

/// `net[<inode>]:extRootNetNS` for each namespace joined by path (criu/namespaces.rs).
fn external_namespaces(spec: &Spec) -> Result<Vec<String>> {
    criu::joined_namespaces(spec)
        .iter()
        .map(|j| {
            let meta = std::fs::metadata(j.path).map_err(|e| Error::path(j.path, e))?;
            Ok(format!("{}[{}]:{}", j.kind, meta.ino(), j.key))
        })
        .collect()
}

/// Opens (making it and its parents, mode 0700, as runc does) a directory CRIU works in.
pub(super) fn open_dir(path: &Path) -> std::result::Result<OwnedFd, CriuError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new()
        .mode(0o700)
        .recursive(true)
        .create(path)
    {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(CriuError::sys(format!("mkdir {}", path.display()), e)),
    }
    nix::fcntl::open(
        path,
        nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| CriuError::sys(format!("open {}", path.display()), e))
}
