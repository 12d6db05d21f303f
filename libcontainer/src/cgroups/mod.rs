//! Cgroup placement: find the layout (v1, hybrid, v2) once, resolve `linux.cgroupsPath` as
//! runc does, create the container's cgroup in every hierarchy, move processes into it,
//! list its processes, and remove it again.
//!
//! INTERFACE CONTRACT (the rest of the library calls only this):
//!
//! ```ignore
//! #[derive(Debug, thiserror::Error)] #[non_exhaustive] pub enum CgroupError { .. }
//! #[derive(Debug, Clone, serde::Serialize, serde::Deserialize)] pub struct Cgroup { .. }
//! impl Cgroup {
//!     pub fn resolve(cgroups_path: Option<&std::path::Path>, id: &str) -> Result<Cgroup, CgroupError>;
//!     pub fn create(&self) -> Result<(), CgroupError>;
//!     pub fn add_process(&self, pid: i32) -> Result<(), CgroupError>;
//!     pub fn pids(&self) -> Result<Vec<i32>, CgroupError>;
//!     pub fn destroy(&self) -> Result<(), CgroupError>;
//! }
//! ```

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    #[error("cgroup: not implemented")]
    NotImplemented,
}

// Placeholder until the cgroups branch lands.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Cgroup {
    path: std::path::PathBuf,
}
impl Cgroup {
    pub fn resolve(p: Option<&std::path::Path>, id: &str) -> Result<Cgroup, CgroupError> {
        Ok(Cgroup { path: p.map(|p| p.to_path_buf()).unwrap_or_else(|| id.into()) })
    }
    pub fn create(&self) -> Result<(), CgroupError> {
        Ok(())
    }
    pub fn add_process(&self, _pid: i32) -> Result<(), CgroupError> {
        Ok(())
    }
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        Ok(vec![])
    }
    pub fn destroy(&self) -> Result<(), CgroupError> {
        Ok(())
    }
    pub fn freeze(&self) -> Result<(), CgroupError> {
        Ok(())
    }
    pub fn thaw(&self) -> Result<(), CgroupError> {
        Ok(())
    }
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        Ok(false)
    }
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}
