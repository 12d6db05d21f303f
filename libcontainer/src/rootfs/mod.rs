//! The container's filesystem view: mounts, /dev, pivot_root, masked and read-only paths.
//!
//! INTERFACE CONTRACT (the rest of the library calls only this):
//!
//! ```ignore
//! #[derive(Debug, thiserror::Error)] #[non_exhaustive] pub enum RootfsError { .. }
//! pub struct RootfsOptions { pub in_user_ns: bool, pub no_pivot: bool }
//! pub fn prepare(spec: &Spec, rootfs: &Path, opts: &RootfsOptions) -> Result<(), RootfsError>;
//! pub fn enter(rootfs: &Path, opts: &RootfsOptions) -> Result<(), RootfsError>;  // pivot_root or MS_MOVE+chroot
//! pub fn finalize(spec: &Spec) -> Result<(), RootfsError>;
//! ```

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootfsError {
    #[error("rootfs: not implemented")]
    NotImplemented,
}

// Placeholder until the rootfs branch lands.
pub struct RootfsOptions {
    pub in_user_ns: bool,
    pub no_pivot: bool,
}
pub fn prepare(_spec: &oci_spec::runtime::Spec, _rootfs: &std::path::Path, _opts: &RootfsOptions) -> Result<(), RootfsError> {
    Err(RootfsError::NotImplemented)
}
pub fn enter(_rootfs: &std::path::Path, _opts: &RootfsOptions) -> Result<(), RootfsError> {
    Err(RootfsError::NotImplemented)
}
pub fn finalize(_spec: &oci_spec::runtime::Spec) -> Result<(), RootfsError> {
    Err(RootfsError::NotImplemented)
}
