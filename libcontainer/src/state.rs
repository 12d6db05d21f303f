//! TODO
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    #[error("state: not implemented")]
    NotImplemented,
}
pub struct State;
pub enum Status {}
