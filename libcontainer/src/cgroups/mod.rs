//! Cgroup placement: find the layout (v1, hybrid, v2) once, resolve `linux.cgroupsPath` as
//! runc does, create the container's cgroup in every hierarchy, move processes into it,
//! list its processes, freeze it, and remove it again.
//!
//! Files: `layout` (mountinfo and /proc/self/cgroup), `resolve` (cgroupsPath → one
//! directory per hierarchy), `fs` (cgroupfs file operations), `v1` and `v2` (what differs
//! between the versions), `apply_v1`/`apply_v2` and `convert` (linux.resources), `set`
//! (writes with runc's error text), `devices` (v1 lists, v2 eBPF filter), `stats`
//! (usage as one typed struct) and `oom` (OOM notification).
//!
//! A [`Cgroup`] is resolved once, at create time, and stored in the container's state
//! file; later commands (kill --all, pause, delete) use the stored directories.
//!
//! Two drivers sit behind the one [`Cgroup`] type: cgroupfs (berth makes the
//! directories) and systemd (`systemd/`: a transient unit owns them, made with the init's
//! pid in `add_init`, given new properties in `update`, stopped in `destroy`). Everything
//! else — processes, freezing, stats, OOM, the resource files — is cgroupfs for both, so
//! the rest of the library never asks which driver it has.
//!
//! INTERFACE CONTRACT (the rest of the library calls only this):
//!
//! ```ignore
//! #[derive(Debug, thiserror::Error)] #[non_exhaustive] pub enum CgroupError { .. }
//! #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)] pub struct Cgroup { .. }
//! impl Cgroup {
//!     pub fn resolve(cgroups_path: Option<&std::path::Path>, id: &str, driver: Driver) -> Result<Cgroup, CgroupError>;
//!     pub fn create(&self) -> Result<(), CgroupError>;
//!     pub(crate) fn add_init(&self, pid: i32, in_target: bool, setup: &InitSetup) -> Result<(), CgroupError>;
//!     pub(crate) fn apply(&self, resources: &LinuxResources, devices: Option<&[Rule]>) -> Result<(), CgroupError>;
//!     pub(crate) fn update(&self, resources: &LinuxResources) -> Result<(), CgroupError>;
//!     pub fn add_process(&self, pid: i32) -> Result<(), CgroupError>;
//!     pub fn pids(&self) -> Result<Vec<i32>, CgroupError>;
//!     pub fn freeze(&self) -> Result<(), CgroupError>;
//!     pub fn thaw(&self) -> Result<(), CgroupError>;
//!     pub fn is_frozen(&self) -> Result<bool, CgroupError>;
//!     pub fn destroy(&self) -> Result<(), CgroupError>;
//!     pub fn path(&self) -> &std::path::Path;
//! }
//! ```

mod apply_v1;
mod apply_v2;
mod convert;
pub(crate) mod devices;
mod fs;
mod layout;
mod oom;
mod resolve;
mod set;
mod stats;
pub(crate) use stats::hugepage_sizes;
mod systemd;
mod v1;
mod v2;

pub use oom::{OomEvent, OomWatcher};
pub use stats::{
    Blkio, BlkioEntry, Cpu, CpuSet, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Stats, Throttling,
};

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxRdma, LinuxResources};
use serde::{Deserialize, Serialize};

use crate::errno::SysError;
use devices::Rule;
use layout::Mode;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    #[error("cgroup: no cgroup hierarchy is mounted (none in /proc/self/mountinfo)")]
    NoHierarchies,
    #[error("cgroup: the {controller} hierarchy is not mounted; refusing to run without it")]
    MissingController { controller: &'static str },
    #[error(
        "cgroupsPath {}: systemd-style \"slice:prefix:name\" paths need the systemd cgroup driver (--systemd-cgroup)",
        path.display()
    )]
    SystemdPath { path: PathBuf },
    /// A cgroupsPath the systemd driver cannot use, in runc's words.
    #[error("{0}")]
    SystemdSyntax(String),
    #[error("systemd not running on this host, cannot use systemd cgroups manager")]
    SystemdNotRunning,
    #[error("unable to {op} unit {unit:?}: {reason}")]
    Systemd {
        op: &'static str,
        unit: String,
        reason: String,
    },
    #[error("cgroupsPath {}: {reason}", path.display())]
    InvalidPath { path: PathBuf, reason: &'static str },
    #[error("cgroup hierarchy {}: cannot find our own cgroup: {reason}", hierarchy.display())]
    OwnCgroup { hierarchy: PathBuf, reason: String },
    #[error("{}: malformed line {line:?}", file.display())]
    Parse { file: PathBuf, line: String },
    /// A failed cgroupfs operation, printed as Go does: `mkdir /sys/fs/cgroup/x: <errno>`.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: SysError,
    },
    #[error("cgroup {}: {reason}", path.display())]
    Freezer { path: PathBuf, reason: String },
    /// A resource value the kernel refused, in runc's words.
    #[error("failed to write {value:?}: write {}: {source}", path.display())]
    Write {
        value: String,
        path: PathBuf,
        source: SysError,
    },
    /// A resource that cannot be applied here (missing controller, invalid value).
    #[error("{0}")]
    Resource(String),
    #[error("failed to remove cgroup paths {paths:?}: {source}")]
    Remove {
        paths: Vec<PathBuf>,
        source: Box<CgroupError>,
    },
}

impl CgroupError {
    /// A cgroup error that means "not ours to manage" in rootless mode.
    pub(crate) fn is_permission_denied(&self) -> bool {
        matches!(self, CgroupError::Io { source, .. }
            if matches!(source.0, nix::errno::Errno::EACCES | nix::errno::Errno::EPERM | nix::errno::Errno::EROFS))
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, e: std::io::Error) -> Self {
        CgroupError::Io {
            op,
            path: path.into(),
            source: e.into(),
        }
    }
}

/// Who creates and owns the container's cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Driver {
    /// Berth, through cgroupfs (runc's default).
    #[default]
    Cgroupfs,
    /// systemd, as a transient unit (`--systemd-cgroup`).
    Systemd,
    /// The calling user's systemd instance (`--systemd-cgroup` when rootless).
    SystemdUser,
}

/// What the init's cgroup is set up with (the resources are also written through
/// cgroupfs afterwards; the systemd driver gives them to the unit as well).
pub(crate) struct InitSetup<'a> {
    pub resources: &'a LinuxResources,
    pub devices: &'a [Rule],
    pub annotations: &'a std::collections::HashMap<String, String>,
}

/// The container's cgroup: one directory per hierarchy it joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cgroup {
    mode: Mode,
    /// Display / cgroupns path, from the hierarchy `pids()` reads.
    path: PathBuf,
    hierarchies: Vec<Hierarchy>,
    /// The systemd unit that owns the cgroup (systemd driver); None with cgroupfs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<systemd::Unit>,
}

/// One hierarchy the container joins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hierarchy {
    /// v1 controllers as /proc/self/cgroup names them (`cpu`, `cpuacct`, `name=systemd`);
    /// empty for the unified (cgroup2) hierarchy.
    controllers: Vec<String>,
    /// The hierarchy's mountpoint.
    mount: PathBuf,
    /// The container's cgroup directory in it.
    dir: PathBuf,
}

impl Hierarchy {
    fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }

    fn is_unified(&self) -> bool {
        self.controllers.is_empty()
    }
}

impl Cgroup {
    /// Resolves `linux.cgroupsPath` the way runc's cgroupfs driver does: absolute →
    /// under each hierarchy's mount; relative → relative to the calling process's own
    /// cgroup (v1), its parent (pure v2), or the unified mount (hybrid's cgroup2, as
    /// runc does); None/empty → the container id, relative.
    ///
    /// With the systemd driver, `slice:prefix:name` as runc 1.3 reads it (see
    /// `systemd::path`); systemd must be running.
    pub fn resolve(
        cgroups_path: Option<&Path>,
        id: &str,
        driver: Driver,
    ) -> Result<Cgroup, CgroupError> {
        let layout = layout::layout()?;
        match driver {
            Driver::Cgroupfs => {
                let own = layout::own_cgroups()?;
                resolve::resolve(layout, &own, cgroups_path, id)
            }
            Driver::Systemd | Driver::SystemdUser => {
                let user = driver == Driver::SystemdUser;
                let text = cgroups_path.map(|p| p.to_string_lossy().into_owned());
                let placement = systemd::path::place(text.as_deref(), id, user)
                    .map_err(|e| CgroupError::SystemdSyntax(e.to_string()))?;
                systemd::check_running()?;
                let manager = if user {
                    systemd::user_manager_cgroup()?
                } else {
                    PathBuf::from("/")
                };
                resolve::resolve_systemd(layout, placement, user, &manager)
            }
        }
    }

    /// mkdir -p in every hierarchy; on v1 makes the cpuset cgroup usable, on v2 enables
    /// the root's controllers in every ancestor's `cgroup.subtree_control`. On failure the
    /// directories this call made are removed again.
    ///
    /// With the systemd driver nothing is made here: systemd makes the unit's cgroup
    /// when the init is placed in it ([`Cgroup::add_init`]).
    pub fn create(&self) -> Result<(), CgroupError> {
        if self.unit.is_some() {
            return Ok(());
        }
        let mut created = Vec::new();
        let result = self.hierarchies.iter().try_for_each(|h| {
            fs::mkdir_all(&h.dir, &mut created)?;
            if h.has("cpuset") {
                v1::prepare_cpuset(&h.mount, &h.dir)?;
            }
            if h.is_unified() && self.mode == Mode::V2 {
                v2::enable_controllers(&h.mount, &h.dir)?;
            }
            Ok(())
        });
        if result.is_err() {
            for dir in created.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
        }
        result
    }

    /// The container's existing sub-cgroup(s) for `exec --cgroup`: `paths` maps a v1
    /// controller (or "" for every hierarchy, the only form on v2) to a path below the
    /// container's cgroup, as runc takes them. A path that leaves the container's cgroup
    /// or does not exist is an error.
    pub fn sub(&self, paths: &[(String, String)]) -> Result<Cgroup, CgroupError> {
        let known = |ctrl: &str| {
            self.hierarchies
                .iter()
                .any(|h| h.controllers.iter().any(|c| c == ctrl))
        };
        if let Some((ctrl, _)) = paths.iter().find(|(c, _)| !c.is_empty() && !known(c)) {
            // runc's words.
            return Err(CgroupError::Resource(format!(
                "unknown controller {ctrl} in SubCgroupPaths"
            )));
        }
        let mut sub = self.clone();
        for h in &mut sub.hierarchies {
            let wanted = paths
                .iter()
                .find(|(ctrl, _)| ctrl.is_empty() || h.controllers.iter().any(|c| c == ctrl));
            let Some((_, given)) = wanted else { continue };
            let rel = Path::new(given.trim_start_matches('/'));
            if rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                // runc's words.
                return Err(CgroupError::Resource(format!(
                    "{given} is not a sub cgroup path"
                )));
            }
            let dir = h.dir.join(rel);
            if !dir.is_dir() {
                // Checked before the process exists; the text is runc's for the write
                // that fails in its case (clients and runc's tests match it).
                return Err(CgroupError::Resource(format!(
                    "error adding pid to cgroups: open {}: no such file or directory",
                    dir.join(fs::PROCS).display()
                )));
            }
            h.dir = dir;
        }
        Ok(sub)
    }

    /// The cgroup2 directory a new process can be cloned straight into
    /// (`CLONE_INTO_CGROUP`): the unified hierarchy's, with the cgroupfs driver (the
    /// systemd driver's unit is made with the init's pid).
    pub(crate) fn clone_target(&self) -> Option<&Path> {
        if self.unit.is_some() {
            return None;
        }
        self.hierarchies
            .iter()
            .find(|h| h.is_unified())
            .map(|h| h.dir.as_path())
    }

    /// Places the container's init: cgroupfs writes its pid; systemd starts the unit
    /// with it (and the resources as properties), then the init joins the v1
    /// hierarchies systemd does not manage. `in_target`: the init was cloned into
    /// `clone_target()`, which it need not join.
    pub(crate) fn add_init(
        &self,
        pid: i32,
        in_target: bool,
        setup: &InitSetup,
    ) -> Result<(), CgroupError> {
        let Some(unit) = &self.unit else {
            return self
                .hierarchies
                .iter()
                .filter(|h| !(in_target && h.is_unified()))
                .try_for_each(|h| fs::write_procs(&h.dir, pid));
        };
        unit.start(
            pid,
            &systemd::StartWith {
                resources: setup.resources,
                devices: setup.devices,
                annotations: setup.annotations,
                unified: self.mode == Mode::V2,
                leftover_is_empty: self.pids().is_ok_and(|p| p.is_empty()),
            },
        )?;
        if self.mode == Mode::V2 {
            return Ok(());
        }
        self.hierarchies.iter().try_for_each(|h| {
            fs::mkdir_all(&h.dir, &mut Vec::new())?;
            fs::write_procs(&h.dir, pid)
        })
    }

    /// `update`: the new resources for the unit's properties (systemd driver), then
    /// through cgroupfs.
    pub(crate) fn update(&self, resources: &LinuxResources) -> Result<(), CgroupError> {
        if let Some(unit) = &self.unit {
            unit.set(resources, self.mode == Mode::V2)?;
        }
        self.apply(resources, None)
    }

    /// Writes `pid` to cgroup.procs in every hierarchy.
    pub fn add_process(&self, pid: i32) -> Result<(), CgroupError> {
        self.hierarchies
            .iter()
            .try_for_each(|h| fs::write_procs(&h.dir, pid))
    }

    /// Every pid in the container's cgroup and its sub-cgroups; none if it is absent.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut pids = Vec::new();
        if let Some(h) = self.primary() {
            fs::pids_recursive(&h.dir, &mut pids)?;
        }
        Ok(pids)
    }

    pub fn freeze(&self) -> Result<(), CgroupError> {
        match self.freezer() {
            Some(h) if h.is_unified() => v2::freeze(&h.dir),
            Some(h) => v1::freeze(&h.dir),
            None => Err(self.no_freezer()),
        }
    }

    pub fn thaw(&self) -> Result<(), CgroupError> {
        match self.freezer() {
            Some(h) if h.is_unified() => v2::thaw(&h.dir),
            Some(h) => v1::thaw(&h.dir),
            None => Ok(()),
        }
    }

    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        match self.freezer() {
            Some(h) if h.is_unified() => v2::is_frozen(&h.dir),
            Some(h) => v1::is_frozen(&h.dir),
            None => Ok(false),
        }
    }

    /// rmdir the container's cgroup (sub-cgroups first) in every hierarchy, retrying
    /// briefly while just-killed processes leave. Absent is fine. Like runc, the parents
    /// of a nested path are left in place (other containers may share them).
    /// The systemd driver stops the unit first (and clears a failed state).
    pub fn destroy(&self) -> Result<(), CgroupError> {
        if let Some(unit) = &self.unit {
            let exists = self.primary().is_some_and(|h| h.dir.exists());
            let busy = exists && self.pids().map_or(true, |p| !p.is_empty());
            unit.stop(exists, busy)?;
        }
        let mut dirs: Vec<&Path> = Vec::new();
        for h in &self.hierarchies {
            if !dirs.contains(&h.dir.as_path()) {
                dirs.push(&h.dir);
            }
        }
        fs::remove_all(&dirs)
    }

    /// Applies `linux.resources`; `devices` (the full rule list) only when given, as
    /// `update` leaves device rules alone.
    pub(crate) fn apply(
        &self,
        resources: &LinuxResources,
        devices: Option<&[Rule]>,
    ) -> Result<(), CgroupError> {
        match self.mode {
            Mode::V2 => match self.hierarchies.iter().find(|h| h.is_unified()) {
                Some(h) => apply_v2::apply(&h.dir, resources, devices),
                None => Err(CgroupError::MissingController {
                    controller: "unified",
                }),
            },
            Mode::V1 | Mode::Hybrid => {
                let v1: Vec<Hierarchy> = self
                    .hierarchies
                    .iter()
                    .filter(|h| !h.is_unified())
                    .cloned()
                    .collect();
                apply_v1::apply(&v1, resources, devices)
            }
        }
    }

    /// Current resource usage.
    pub(crate) fn stats(&self) -> Result<Stats, CgroupError> {
        match self.mode {
            Mode::V2 => match self.hierarchies.iter().find(|h| h.is_unified()) {
                Some(h) => stats::read_v2(&h.dir),
                None => Ok(Stats::default()),
            },
            Mode::V1 | Mode::Hybrid => stats::read_v1(&stats::V1Dirs {
                cpu: self.v1_dir("cpu"),
                cpuacct: self.v1_dir("cpuacct"),
                cpuset: self.v1_dir("cpuset"),
                memory: self.v1_dir("memory"),
                pids: self.v1_dir("pids"),
                blkio: self.v1_dir("blkio"),
                hugetlb: self.v1_dir("hugetlb"),
            }),
        }
    }

    /// A watcher for OOM events in the container's memory cgroup.
    pub(crate) fn oom_watcher(&self) -> Result<OomWatcher, CgroupError> {
        match self.mode {
            Mode::V2 => match self.hierarchies.iter().find(|h| h.is_unified()) {
                Some(h) => OomWatcher::v2(&h.dir),
                None => Err(CgroupError::MissingController {
                    controller: "memory",
                }),
            },
            Mode::V1 | Mode::Hybrid => match self.v1_dir("memory") {
                Some(dir) => OomWatcher::v1(dir),
                None => Err(CgroupError::MissingController {
                    controller: "memory",
                }),
            },
        }
    }

    fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.hierarchies
            .iter()
            .find(|h| h.has(controller))
            .map(|h| h.dir.as_path())
    }

    /// The cgroup's path inside its hierarchy (the one `pids()` reads), e.g. `/x/y`.
    #[allow(dead_code)] // part of the interface contract above; no caller yet
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the hierarchies are v1 ones (v1 or hybrid layout), where `unified` cannot
    /// be used and each controller has its own mount.
    pub(crate) fn is_v1(&self) -> bool {
        self.mode != Mode::V2
    }

    /// Where `controller` can be set for this cgroup: the v1 hierarchy's mountpoint that
    /// carries it, or on v2 the unified mountpoint when its root offers it. `None` when
    /// the host cannot set it here, which is when `apply` fails with "cannot set
    /// <controller> limit".
    pub(crate) fn controller_mount(&self, controller: &str) -> Option<PathBuf> {
        if self.mode == Mode::V2 {
            let h = self.hierarchies.iter().find(|h| h.is_unified())?;
            let list = std::fs::read_to_string(h.mount.join("cgroup.controllers")).ok()?;
            return list
                .split_whitespace()
                .any(|c| c == controller)
                .then(|| h.mount.clone());
        }
        self.hierarchies
            .iter()
            .find(|h| h.has(controller))
            .map(|h| h.mount.clone())
    }

    /// The hierarchy that lists the container's processes: unified on v2, otherwise the
    /// first of `v1::PIDS_FROM` that is mounted.
    fn primary(&self) -> Option<&Hierarchy> {
        if self.mode == Mode::V2 {
            return self.hierarchies.iter().find(|h| h.is_unified());
        }
        v1::PIDS_FROM
            .iter()
            .find_map(|c| self.hierarchies.iter().find(|h| h.has(c)))
            .or_else(|| self.hierarchies.first())
    }

    /// The directory whose freezer stops the container (CRIU's `freeze_cgroup`).
    pub(crate) fn freezer_dir(&self) -> Option<&Path> {
        self.freezer().map(|h| h.dir.as_path())
    }

    fn freezer(&self) -> Option<&Hierarchy> {
        match self.mode {
            Mode::V2 => self.hierarchies.iter().find(|h| h.is_unified()),
            Mode::V1 | Mode::Hybrid => self.hierarchies.iter().find(|h| h.has("freezer")),
        }
    }

    fn no_freezer(&self) -> CgroupError {
        CgroupError::Freezer {
            path: self.path.clone(),
            reason: "freezer not supported".into(),
        }
    }
}

/// What a hugepage size must look like, for the errors of both checks.
pub(crate) const HUGEPAGE_SIZE_RULE: &str = "must be a number followed by KB, MB or GB";

/// Whether `size` is a hugepage size as the kernel names hugetlb files: a positive
/// decimal number and `KB`, `MB` or `GB` (`2MB`, `1GB`, `64KB`). It becomes part of a
/// cgroup file name, so nothing else is let through.
pub(crate) fn valid_hugepage_size(size: &str) -> bool {
    let Some(n) = ["KB", "MB", "GB"].iter().find_map(|u| size.strip_suffix(u)) else {
        return false;
    };
    !n.is_empty() && n.len() <= 20 && !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit())
}

/// The hugetlb file for one limit, or an error naming the bad page size.
pub(crate) fn hugetlb_file(page_size: &str, suffix: &str) -> Result<String, CgroupError> {
    if !valid_hugepage_size(page_size) {
        return Err(CgroupError::Resource(format!(
            "hugepageLimits pageSize {page_size:?}: {HUGEPAGE_SIZE_RULE}"
        )));
    }
    Ok(format!("hugetlb.{page_size}.{suffix}"))
}

/// One `rdma.max` line: `mlx4_0 hca_handle=2 hca_object=max`.
pub(crate) fn rdma_line(device: &str, limit: &LinuxRdma) -> String {
    let v = |n: Option<u32>| n.map_or("max".to_string(), |n| n.to_string());
    format!(
        "{device} hca_handle={} hca_object={}",
        v(limit.hca_handles()),
        v(limit.hca_objects())
    )
}

#[cfg(test)]
mod tests;
