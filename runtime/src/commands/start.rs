//! `berth start`: run the user process of a created container.

use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// The container id
    pub id: String,
}

pub fn run(g: &Globals, a: &StartArgs) -> anyhow::Result<i32> {
    let mut container = super::load(&g.root, &a.id)?;
    let notify = super::create::bind_notify(&container)?;
    container.start()?;
    super::create::forward_notify(notify, container.init_pid())?;
    Ok(0)
}
