//! network create|ls|inspect|rm|prune.

use berth_image::{network, Store};
use clap::Subcommand;

#[derive(Subcommand)]
pub enum NetworkCmd {
    /// Create a bridge network
    Create {
        /// A.B.C.D/N
        #[arg(long)]
        subnet: String,
        /// Default: the subnet's first address
        #[arg(long)]
        gateway: Option<String>,
        /// Bridge interface name (default br-<id>)
        #[arg(long)]
        bridge: Option<String>,
        #[arg(long)]
        mtu: Option<u32>,
        name: String,
    },
    /// List networks
    #[command(alias = "list")]
    Ls,
    /// Show a network as JSON (with its leases)
    Inspect { names: Vec<String> },
    /// Remove networks (none of their containers may remain)
    #[command(alias = "remove")]
    Rm { names: Vec<String> },
    /// Clean up after crashed containers and remove unused networks
    Prune,
}

pub fn run(store: &Store, cmd: NetworkCmd) -> anyhow::Result<i32> {
    match cmd {
        NetworkCmd::Create {
            subnet,
            gateway,
            bridge,
            mtu,
            name,
        } => {
            let n = network::create(
                store,
                &name,
                &subnet,
                gateway.as_deref(),
                bridge.as_deref(),
                mtu,
            )?;
            outln!("{}", n.id);
        }
        NetworkCmd::Ls => {
            outln!(
                "{:<14} {:<20} {:<16} {:<18} CONTAINERS",
                "NETWORK ID",
                "NAME",
                "BRIDGE",
                "SUBNET"
            );
            for n in network::list(store)? {
                outln!(
                    "{:<14} {:<20} {:<16} {:<18} {}",
                    &n.id[..12],
                    n.name,
                    n.bridge,
                    n.subnet,
                    n.pool.leases.len()
                );
            }
        }
        NetworkCmd::Inspect { names } => {
            let nets = names
                .iter()
                .map(|n| network::inspect(store, n))
                .collect::<Result<Vec<_>, _>>()?;
            outln!("{}", serde_json::to_string_pretty(&nets)?);
        }
        NetworkCmd::Rm { names } => {
            for n in names {
                network::remove(store, &n)?;
                outln!("{n}");
            }
        }
        NetworkCmd::Prune => {
            let r = network::prune(store)?;
            for l in r.released {
                outln!("released {l}");
            }
            for l in r.leftovers {
                outln!("removed {l}");
            }
            for n in r.networks {
                outln!("removed network {n}");
            }
        }
    }
    Ok(0)
}
