//! Processes inside the container: how they are spawned (`spawn`), the channel they talk
//! to the runtime over (`channel`), and what they do before exec (`init` for the
//! container's first process, `exec` for processes started in a running container,
//! `setup` for what both share).

pub(crate) mod affinity;
pub(crate) mod channel;
pub(crate) mod exec;
pub(crate) mod init;
pub(crate) mod mempolicy;
pub(crate) mod scheduling;
pub(crate) mod setup;
pub(crate) mod spawn;
pub(crate) mod stdio;
