//! `berth delete`: remove a container and what it holds.

use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// The container id
    pub id: String,
    /// Forcibly deletes the container if it is still running (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(g: &Globals, a: &DeleteArgs) -> anyhow::Result<i32> {
    match libcontainer::Container::load(&g.root, &a.id) {
        Ok(container) => container.delete(a.force)?,
        // runc: deleting an unknown container with --force is not an error.
        Err(libcontainer::Error::NotExist { .. }) if a.force => {}
        // A torn or foreign state file must not make a container undeletable.
        Err(libcontainer::Error::State(_)) if a.force => {
            libcontainer::Container::delete_unreadable(&g.root, &a.id)?
        }
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}
