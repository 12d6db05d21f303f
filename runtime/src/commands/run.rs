//! `berth run`: create and start a container; in the foreground, relay signals (and the
//! terminal) until it exits, then delete it and exit with its status.

use anyhow::Context;

use super::create::{builder, create, CreateArgs};
use crate::{foreground, Globals};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// Do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
    /// Disable the use of the subreaper used to reap reparented processes (berth is never
    /// one: processes orphaned outside a PID namespace go to the host's init either way)
    #[arg(long = "no-subreaper")]
    pub no_subreaper: bool,
}

pub fn run(g: &Globals, a: &RunArgs) -> anyhow::Result<i32> {
    run_container(g, a).context("berth run failed")
}

fn run_container(g: &Globals, a: &RunArgs) -> anyhow::Result<i32> {
    // The config is read once, here: it decides whether we relay a terminal.
    let mut builder = builder(g, &a.create);
    let terminal = builder.load_config()?;
    let relay_terminal = a.create.console_socket.is_none() && !a.detach && terminal;
    let (console, relay) = foreground::console(a.create.console_socket.as_deref(), relay_terminal)?;
    let mut container = create(g, builder, &a.create, console)?;
    let pty = foreground::receive_master(relay)?;
    let notify = super::create::bind_notify(&container)?;
    if let Err(e) = container.start() {
        let _ = container.delete(true);
        return Err(e.into());
    }
    super::create::forward_notify(notify, container.init_pid())?;
    if a.detach {
        return Ok(0);
    }
    let code = foreground::wait(container.init_pid(), pty)?;
    libcontainer::trace::mark("wait exit");
    if !a.keep {
        // delete() re-reads the state under the container's lock.
        container.delete(true)?;
    }
    Ok(code)
}
