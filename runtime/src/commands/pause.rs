//! `berth pause` / `berth resume`: freeze and thaw every process of a container.

use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct PauseArgs {
    /// The container id
    pub id: String,
}

pub fn pause(g: &Globals, a: &PauseArgs) -> anyhow::Result<i32> {
    super::load(&g.root, &a.id)?.pause()?;
    Ok(0)
}

pub fn resume(g: &Globals, a: &PauseArgs) -> anyhow::Result<i32> {
    super::load(&g.root, &a.id)?.resume()?;
    Ok(0)
}
