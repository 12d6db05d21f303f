//! `restore`: make a container from CRIU images. The id, state record and cgroup are
//! made as `create` makes them; CRIU, placed in the cgroup first, then rebuilds the
//! processes, their namespaces and mounts, and berth records the restored init.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use rust_criu::rust_criu_protobuf::rpc::{Cgroup_root, Criu_req_type, Inherit_fd};

use super::checkpoint::{criu_config_file, ext_mount, open_dir, shared_opts};
use super::create::{hook_state, prepare, write_pid_file, ContainerBuilder, Prepared, Undo};
use super::{read_stat, Container};
use crate::criu::{self, Conversation, CriuError, Notify, Request, RestoreOptions, Streams};
use crate::error::{Error, Result};
use crate::hooks;
use crate::spec::ContainerConfig;
use crate::state::{self, DirLock, Record, StateRoot, Status};

impl ContainerBuilder {
    /// Restores container `id` of this builder's bundle from the images of
    /// `opts.criu.image_path`; on return its init runs.
    pub fn restore(mut self, opts: RestoreOptions) -> Result<Container> {
        let config = match self.config.take() {
            Some(config) => config,
            None => self.read_config()?,
        };
        opts.console
            .check(config.process().terminal() == Some(true))?;
        // The images must be there (their stdio record first); CRIU's work directory is
        // made if missing.
        let descriptors = criu::read_descriptors(&opts.criu.image_path)?;
        criu::check_version(&opts.criu.criu)?;
        self.options.cgroup_driver = opts.cgroup_driver;
        let dir = StateRoot::new(&self.root).reserve(&self.id)?;
        let mut undo = Undo::new(dir.clone(), None);
        let _lock = DirLock::acquire(&dir).map_err(|e| Error::path(&dir, e))?;
        let prepared = prepare(&self, &config, &dir, &mut undo)?;
        let record = restore_into(&config, &dir, prepared, &opts, &descriptors, &mut undo)?;
        undo.disarm();
        Ok(Container { dir, record })
    }
}

fn restore_into(
    config: &ContainerConfig,
    dir: &Path,
    prepared: Prepared,
    opts: &RestoreOptions,
    descriptors: &[String],
    undo: &mut Undo,
) -> Result<Record> {
    let spec = &config.spec;
    let image_dir = open_dir(&opts.criu.image_path)?;
    let work_dir = opts.criu.work_path.as_deref().map(open_dir).transpose()?;
    let root = CriuRoot::bind(dir.join("criu-root"), &config.rootfs)?;
    criu::make_restore_mountpoints(spec, &config.rootfs, &config.bundle)?;

    let mut o = shared_opts(&opts.criu, &image_dir, work_dir.as_ref());
    o.set_log_file("restore.log".into());
    o.set_evasive_devices(true);
    o.set_rst_sibling(true);
    o.set_root(root.path.display().to_string());
    if let Some(file) = criu_config_file(spec) {
        o.set_config_file(file);
    }
    if let Some(profile) = &opts.lsm_profile {
        o.set_lsm_profile(profile.clone());
    }
    if let Some(context) = &opts.lsm_mount_context {
        o.set_lsm_mount_context(context.clone());
    }
    o.ext_mnt = criu::restore_mounts(spec, &config.bundle)
        .into_iter()
        .map(ext_mount)
        .collect();
    let mut inherit: Vec<RawFd> = vec![image_dir.as_raw_fd()];
    inherit.extend(work_dir.as_ref().map(|d| d.as_raw_fd()));
    // Namespaces joined by path were recorded as external: CRIU gets them open.
    let joined = joined_namespaces(config)?;
    for (key, fd) in &joined {
        o.inherit_fd.push(inherit_fd(key, fd.as_raw_fd()));
        inherit.push(fd.as_raw_fd());
    }
    // The init's stdio pipes (and streams outside the container) are rebuilt from
    // CRIU's stdio: ours, or the caller's.
    for (fd, link) in descriptors.iter().enumerate() {
        if criu::is_inherited(link) {
            o.inherit_fd.push(inherit_fd(link, fd as RawFd));
        }
    }

    let log = opts.criu.log_dir().join("restore.log");
    let conversation = Conversation::start(
        &opts.criu.criu,
        Criu_req_type::RESTORE,
        log,
        &inherit,
        Streams::Given(&opts.stdio),
    )?;
    let criu_pid = conversation.pid();
    prepared.place(criu_pid, false)?;
    o.cg_root = cgroup_roots(criu_pid)?;

    let mut record = prepared.record;
    let console = opts.console.open()?;
    let mut hook_error = None;
    let resp = conversation.run(
        Request {
            kind: Criu_req_type::RESTORE,
            opts: Some(o),
        },
        &mut |n: Notify| match n.script.as_str() {
            // Namespaces exist, nothing runs yet: runc's point for the runtime's hooks.
            "setup-namespaces" => {
                let mut state = hook_state(&record, Status::Creating);
                state.pid = n.pid;
                let hooks = spec.hooks().as_ref();
                hooks::run(
                    "prestart",
                    hooks.and_then(|h| h.prestart().as_ref()),
                    &state,
                )
                .and_then(|()| {
                    hooks::run(
                        "createRuntime",
                        hooks.and_then(|h| h.create_runtime().as_ref()),
                        &state,
                    )
                })
                .map_err(|e| {
                    let text = e.to_string();
                    hook_error = Some(e);
                    CriuError::Options(text)
                })
            }
            "post-restore" => {
                record.pid = n.pid;
                undo.set_pid(n.pid);
                Ok(())
            }
            "orphan-pts-master" => match (&console, n.fd) {
                (Some(socket), Some(master)) => {
                    crate::tty::send_fd(socket.as_raw_fd(), "/dev/ptmx", master.as_raw_fd())
                        .map_err(|e| CriuError::Options(e.to_string()))
                }
                _ => Ok(()),
            },
            _ => Ok(()),
        },
    );
    if let Some(e) = hook_error {
        return Err(e.into());
    }
    let resp = resp?;
    if record.pid == 0 {
        record.pid = resp.restore.pid();
        undo.set_pid(record.pid);
    }
    drop(root);
    record.start_time = read_stat(record.pid).map(|(_, t)| t).unwrap_or(0);
    record.creator = 0;
    state::write_record(dir, &record)?;
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, record.pid)?;
    }
    Ok(record)
}

fn inherit_fd(key: &str, fd: RawFd) -> Inherit_fd {
    let mut i = Inherit_fd::new();
    i.set_key(key.to_string());
    i.set_fd(fd);
    i
}

/// Namespaces the config joins by path, opened, with the names the dump gave them.
fn joined_namespaces(config: &ContainerConfig) -> Result<Vec<(&'static str, OwnedFd)>> {
    criu::joined_namespaces(&config.spec)
        .iter()
        .map(|j| {
            let fd = nix::fcntl::open(
                j.path,
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .map_err(|e| Error::path(j.path, e))?;
            Ok((j.key, fd))
        })
        .collect()
}

/// Where CRIU is in each hierarchy once placed in the container's cgroup: the roots it
/// restores the container's cgroups under.
fn cgroup_roots(pid: i32) -> Result<Vec<Cgroup_root>> {
    let path = format!("/proc/{pid}/cgroup");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::path(&path, e))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(dir)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        for controller in controllers.split(',') {
            let mut root = Cgroup_root::new();
            if !controller.is_empty() {
                root.set_ctrl(controller.to_string());
            }
            root.set_path(dir.to_string());
            out.push(root);
        }
    }
    Ok(out)
}

/// The rootfs bound (recursively) onto a directory of the container's state: CRIU
/// wants its root to be a mount point whose parent is not overmounted.
struct CriuRoot {
    path: PathBuf,
}

impl CriuRoot {
    fn bind(path: PathBuf, rootfs: &Path) -> std::result::Result<CriuRoot, CriuError> {
        std::fs::create_dir(&path)
            .map_err(|e| CriuError::sys(format!("mkdir {}", path.display()), e))?;
        let root = CriuRoot { path };
        mount(
            Some(rootfs),
            &root.path,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .map_err(|e| {
            CriuError::sys(
                format!("bind {} on {}", rootfs.display(), root.path.display()),
                e,
            )
        })?;
        Ok(root)
    }
}

impl Drop for CriuRoot {
    fn drop(&mut self) {
        let _ = umount2(&self.path, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.path);
    }
}
