//! What the shim needs from cgroups beyond libcontainer's current surface: statistics
//! (Stats), resource updates (Update) and OOM notification. The cgroup statistics work in
//! libcontainer is in progress; until it lands these answer "not implemented yet".

use libcontainer::Container;
use protobuf::well_known_types::any::Any;

#[derive(Debug, thiserror::Error)]
#[error("{0}: not implemented yet")]
pub struct NotImplemented(pub &'static str);

pub trait CgroupApi {
    /// Container metrics as containerd's cgroups v1 or v2 `Metrics`, packed in an Any.
    fn stats(&self, container: &Container) -> Result<Any, NotImplemented>;
    /// Applies new resources (an OCI `LinuxResources` JSON document).
    fn update(&self, container: &Container, resources: &[u8]) -> Result<(), NotImplemented>;
}

/// The stand-in until libcontainer exposes cgroup stats and updates.
pub struct Pending;

impl CgroupApi for Pending {
    fn stats(&self, _: &Container) -> Result<Any, NotImplemented> {
        Err(NotImplemented("stats"))
    }

    fn update(&self, _: &Container, _: &[u8]) -> Result<(), NotImplemented> {
        Err(NotImplemented("update"))
    }
}
