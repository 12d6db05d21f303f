//! libcontainer: Berth's container library.
//!
//! Everything a container needs from the kernel lives here; the `berth` binary and the
//! containerd shim are thin fronts over it. The public surface is deliberately small:
//! [`ContainerBuilder`] creates a container from a bundle, [`Container`] carries the
//! operations on an existing one, [`state`] describes what `berth state` prints,
//! [`check::check_bundle`] lints a bundle against the spec and this host (`berth check`),
//! and [`Error`] is the one error type.

pub use oci_spec;

mod capabilities;
mod cgroups;
pub mod check;
pub mod container;
mod criu;
mod errno;
mod error;
#[doc(hidden)]
pub mod fault;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod hooks;
mod id_list;
mod intelrdt;
mod lsm;
mod mountinfo;
mod namespaces;
mod netdev;
pub mod notify;
mod process;
mod rlimits;
mod rootfs;
mod rootless;
mod seccomp;
pub mod signal;
mod status;
/// The parts of [`Stats`] (runc's `events` stats types).
pub mod stats {
    pub use crate::cgroups::{
        Blkio, BlkioEntry, Cpu, CpuSet, CpuUsage, Hugetlb, Memory, MemoryEntry, Pids, Stats,
        Throttling,
    };
}
mod spec;
pub mod state;
mod sysctl;
pub mod trace;
mod tty;
mod user;
mod utils;

pub use cgroups::{Driver as CgroupDriver, OomEvent, OomWatcher, Stats};
pub use container::{Console, Container, ContainerBuilder, CreateOptions, ExecOptions};
pub use criu::{CgroupsMode, CheckpointOptions, CriuError, CriuOptions, RestoreOptions};
pub use error::{Error, Result, SysError};
pub use intelrdt::resctrl_mounted;
pub use process::stdio::Stdio;
pub use spec::{load_bundle_config, parse_process};
pub use state::{State, Status};
