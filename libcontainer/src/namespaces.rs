//! Namespaces: which ones the container gets new, which it joins by path, and the one
//! table that maps OCI names to clone flags and /proc/<pid>/ns entries.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, OFlag};
use nix::sched::{setns, CloneFlags};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};
use crate::spec::SpecError;

/// One row per namespace kind, in the order Berth joins them: the user namespace first
/// (it decides what we may do in the others), the mount namespace last (after it, paths
/// resolve in the container).
pub(crate) const NAMESPACES: &[(LinuxNamespaceType, CloneFlags, &str)] = &[
    (LinuxNamespaceType::User, CloneFlags::CLONE_NEWUSER, "user"),
    (LinuxNamespaceType::Ipc, CloneFlags::CLONE_NEWIPC, "ipc"),
    (LinuxNamespaceType::Uts, CloneFlags::CLONE_NEWUTS, "uts"),
    (LinuxNamespaceType::Network, CloneFlags::CLONE_NEWNET, "net"),
    (LinuxNamespaceType::Pid, CloneFlags::CLONE_NEWPID, "pid"),
    (
        LinuxNamespaceType::Cgroup,
        CloneFlags::CLONE_NEWCGROUP,
        "cgroup",
    ),
    (
        LinuxNamespaceType::Time,
        CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
        "time",
    ),
    (LinuxNamespaceType::Mount, CloneFlags::CLONE_NEWNS, "mnt"),
];

pub(crate) fn flag_of(typ: LinuxNamespaceType) -> CloneFlags {
    NAMESPACES
        .iter()
        .find(|(t, _, _)| *t == typ)
        .map(|(_, f, _)| *f)
        .unwrap_or(CloneFlags::empty())
}

pub(crate) fn proc_name(typ: LinuxNamespaceType) -> &'static str {
    NAMESPACES
        .iter()
        .find(|(t, _, _)| *t == typ)
        .map(|(_, _, n)| *n)
        .unwrap_or("")
}

/// What the container's namespaces will be.
#[derive(Debug, Clone)]
pub(crate) struct NamespacePlan {
    /// Namespaces created new for the container.
    pub new: CloneFlags,
    /// Namespaces joined by path, in [`NAMESPACES`] order.
    pub join: Vec<(LinuxNamespaceType, PathBuf)>,
}

impl NamespacePlan {
    fn empty() -> Self {
        NamespacePlan {
            new: CloneFlags::empty(),
            join: Vec::new(),
        }
    }

    pub(crate) fn from_spec(spec: &Spec) -> Result<Self, SpecError> {
        let mut plan = NamespacePlan::empty();
        let listed = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
        for (typ, flag, _) in NAMESPACES {
            let Some(ns) = listed.into_iter().flatten().find(|ns| ns.typ() == *typ) else {
                continue;
            };
            match ns.path() {
                Some(path) => plan.join.push((*typ, path.clone())),
                None => plan.new |= *flag,
            }
        }
        Ok(plan)
    }

    pub(crate) fn creates(&self, typ: LinuxNamespaceType) -> bool {
        self.new.contains(flag_of(typ))
    }

    pub(crate) fn joins(&self, typ: LinuxNamespaceType) -> bool {
        self.join.iter().any(|(t, _)| *t == typ)
    }

    /// The common case: nothing joined and no time namespace (whose offsets must be
    /// written before any process enters it), so one clone() makes the init directly.
    pub(crate) fn single_clone(&self) -> bool {
        self.join.is_empty() && !self.creates(LinuxNamespaceType::Time)
    }

    /// The plan for a process joining the namespaces of a running container (`exec`):
    /// every namespace the container has that differs from ours, by /proc/<pid>/ns path.
    pub(crate) fn of_process(pid: i32) -> NamespacePlan {
        let mut plan = NamespacePlan::empty();
        for (typ, _, name) in NAMESPACES {
            let theirs = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
            let ours = PathBuf::from(format!("/proc/self/ns/{name}"));
            match (std::fs::metadata(&theirs), std::fs::metadata(&ours)) {
                (Ok(a), Ok(b)) if same_file(&a, &b) => {}
                (Ok(_), _) => plan.join.push((*typ, theirs)),
                _ => {}
            }
        }
        plan
    }
}

fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// Opens every namespace to join before entering any: once we are in the container's
/// mount namespace, the host paths are gone.
pub(crate) fn open_all(
    join: &[(LinuxNamespaceType, PathBuf)],
) -> Result<Vec<(LinuxNamespaceType, OwnedFd)>> {
    join.iter()
        .map(|(typ, path)| {
            let fd = open(
                path.as_path(),
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| Error::sys(format!("open namespace {}", path.display()), e))?;
            Ok((*typ, fd))
        })
        .collect()
}

pub(crate) fn enter(typ: LinuxNamespaceType, fd: &OwnedFd, path_hint: &Path) -> Result<()> {
    setns(fd, flag_of(typ)).map_err(|e| {
        Error::sys(
            format!("join {} namespace {}", proc_name(typ), path_hint.display()),
            e,
        )
    })
}
