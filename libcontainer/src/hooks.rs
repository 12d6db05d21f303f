//! TODO
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    #[error("hook: not implemented")]
    NotImplemented,
}
