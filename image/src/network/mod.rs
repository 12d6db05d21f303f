//! Container networks (issue 11): modes none, host, container:<name>, and bridge
//! networks — a Linux bridge per network, a veth pair per container with the peer made
//! directly inside the container's pinned network namespace as `eth0`, an address from
//! the network's persistent IPAM pool, a default route, `/etc/hosts` naming every
//! container of the network, egress masquerade and published ports through nftables.
//!
//! One module per job: `netlink` (rtnetlink requests), `netns` (pinned namespaces),
//! `ipam` (address pool), `store` (network files + lock), `nft` (rules), `ports` (`-p`),
//! `files` (hosts, resolv.conf), `attach` (a container joins/leaves), `manage`
//! (network create/ls/inspect/rm/prune).

mod attach;
pub mod error;
pub mod files;
pub mod ipam;
mod manage;
/// The rtnetlink client (the berth-netlink crate, shared with the runtime).
pub use berth_netlink as netlink;
pub mod netns;
pub mod nft;
pub mod ports;
pub mod store;

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use attach::{attach, detach, Files, Pending, Shared};
pub use error::NetError;
pub use manage::{create, inspect, list, prune, remove, PruneReport};
pub use ports::PortMap;
pub use store::{Network, DEFAULT_NETWORK};

use crate::error::Result;

/// `--network`: none, host, container:<name|id>, bridge (the default network) or the
/// name of a user network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    None,
    Host,
    Container(String),
    Bridge(String),
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode> {
        Ok(match s {
            "none" => Mode::None,
            "host" => Mode::Host,
            "" | "bridge" | "default" => Mode::Bridge(DEFAULT_NETWORK.into()),
            s => match s.strip_prefix("container:") {
                Some("") => {
                    return Err(
                        NetError::Invalid("--network container: needs a name".into()).into(),
                    )
                }
                Some(c) => Mode::Container(c.into()),
                None => {
                    store::check_name("network", s, 64)?;
                    Mode::Bridge(s.into())
                }
            },
        })
    }
}

/// What a container asks for.
#[derive(Clone, Debug)]
pub struct Request {
    pub mode: Mode,
    pub ports: Vec<PortMap>,
}

/// What a container got: recorded in its container.json, undone by [`detach`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Attachment {
    /// "none", "host", "container" or "bridge".
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// The namespace this container owns (pinned by us, removed on detach).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<PathBuf>,
    /// The namespace path the bundle joins (own or another container's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veth: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMap>,
    /// nft table holding the published ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}
