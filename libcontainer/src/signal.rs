//! TODO
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    #[error("unknown signal {0:?}")]
    Unknown(String),
}
