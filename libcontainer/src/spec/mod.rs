//! TODO
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    #[error("spec: not implemented")]
    NotImplemented,
}
pub fn load_bundle_config() {}
