//! `berth kill`: send a signal to the container's init (or all its processes).

use libcontainer::signal::parse_signal;

use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct KillArgs {
    /// The container id
    pub id: String,
    /// The signal, by name (KILL, SIGKILL) or number
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// Send the specified signal to all processes inside the container
    #[arg(short, long)]
    pub all: bool,
}

pub fn run(g: &Globals, a: &KillArgs) -> anyhow::Result<i32> {
    let mut container = super::load(&g.root, &a.id)?;
    let sig = parse_signal(&a.signal)?;
    container.kill(sig, a.all)?;
    Ok(0)
}
