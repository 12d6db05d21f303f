//! pull, push.

use berth_image::Store;
use clap::Args;

#[derive(Args)]
pub struct PullArgs {
    pub reference: String,
}

#[derive(Args)]
pub struct PushArgs {
    pub image: String,
    pub reference: Option<String>,
}

pub fn pull(_store: &Store, _a: PullArgs) -> anyhow::Result<i32> {
    anyhow::bail!("pull: not implemented yet")
}

pub fn push(_store: &Store, _a: PushArgs) -> anyhow::Result<i32> {
    anyhow::bail!("push: not implemented yet")
}
