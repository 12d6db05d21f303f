//! One file per `berth` command.

pub mod check;
pub mod checkpoint;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod kill;
pub mod list;
pub mod pause;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

use std::path::Path;

use libcontainer::Container;

/// Loads a container, with runc's "container does not exist" error for unknown ids.
pub fn load(root: &Path, id: &str) -> anyhow::Result<Container> {
    Ok(Container::load(root, id)?)
}
