//! Placeholder until the cli branch lands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    #[error("unknown signal {0:?}")]
    Unknown(String),
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sig(pub i32);
impl Sig {
    pub const KILL: Sig = Sig(libc::SIGKILL);
    pub fn name(&self) -> String {
        format!("{}", self.0)
    }
}
