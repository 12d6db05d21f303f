//! `berth state`: print the container's state as runc's JSON.

use std::io::Write;

use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct StateArgs {
    /// The container id
    pub id: String,
}

pub fn run(g: &Globals, a: &StateArgs) -> anyhow::Result<i32> {
    let container = super::load(&g.root, &a.id)?;
    let text = serde_json::to_string_pretty(&container.state())?;
    // runc prints no trailing newline.
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(0)
}
