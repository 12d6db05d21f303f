//! `network create|ls|inspect|rm|prune`.

use super::attach::{self, ensure_bridge, live, teardown_bridge};
use super::error::NetError;
use super::netlink::Netlink;
use super::store::{Network, Networks, DEFAULT_NETWORK};
use super::{netns, nft};
use crate::error::Result;
use crate::store::Store;

/// Define a network and make its bridge. A link that already has the bridge's name is
/// refused (it is not ours to configure).
pub fn create(
    store: &Store,
    name: &str,
    subnet: &str,
    gateway: Option<&str>,
    bridge: Option<&str>,
    mtu: Option<u32>,
) -> Result<Network> {
    let nets = Networks::lock(store)?;
    let n = nets.define(name, subnet, gateway, bridge, mtu)?;
    if Netlink::open()?.index(&n.bridge)?.is_some() {
        return Err(NetError::Invalid(format!(
            "a network interface named {} exists already",
            n.bridge
        ))
        .into());
    }
    nets.save(&n)?;
    if let Err(e) = ensure_bridge(store, &n) {
        let _ = teardown_bridge(store, &n);
        let _ = nets.delete(name);
        return Err(e);
    }
    Ok(n)
}

pub fn list(store: &Store) -> Result<Vec<Network>> {
    Networks::lock(store)?.list()
}

pub fn inspect(store: &Store, name: &str) -> Result<Network> {
    Networks::lock(store)?.need(name)
}

/// Remove a network without containers: its bridge, its rules, its file.
pub fn remove(store: &Store, name: &str) -> Result<()> {
    let nets = Networks::lock(store)?;
    let n = nets.need(name)?;
    if !n.pool.leases.is_empty() {
        let names: Vec<&str> = n.pool.leases.values().map(|l| l.name.as_str()).collect();
        return Err(NetError::InUse {
            name: name.into(),
            containers: names.join(", "),
        }
        .into());
    }
    teardown_bridge(store, &n)?;
    nets.delete(name)
}

#[derive(Debug, Default)]
pub struct PruneReport {
    /// "network: address (container id)" of leases freed.
    pub released: Vec<String>,
    /// nft tables and pinned namespaces of containers that no longer exist.
    pub leftovers: Vec<String>,
    /// User networks removed because no container uses them.
    pub networks: Vec<String>,
}

/// Repair after a crash, then remove unused networks (as `docker network prune`):
/// leases, veths, port tables and namespaces of containers that no longer exist (and
/// are not being created) are removed; bridges and masquerade tables of networks that
/// remain are made again.
pub fn prune(store: &Store) -> Result<PruneReport> {
    let nets = Networks::lock(store)?;
    let mut r = PruneReport::default();
    for n in nets.list()? {
        let dead: Vec<(std::net::Ipv4Addr, String)> = n
            .pool
            .leases
            .iter()
            .filter(|(_, l)| !live(store, &l.container))
            .map(|(ip, l)| (*ip, l.container.clone()))
            .collect();
        for (ip, id) in dead {
            attach::detach_stale(store, &nets, &id, &n.name)?;
            r.released
                .push(format!("{}: {ip} ({})", n.name, &id[..id.len().min(12)]));
        }
        let n = nets.need(&n.name)?;
        if n.pool.leases.is_empty() && n.name != DEFAULT_NETWORK {
            teardown_bridge(store, &n)?;
            nets.delete(&n.name)?;
            r.networks.push(n.name.clone());
        } else if !n.pool.leases.is_empty() {
            ensure_bridge(store, &n)?;
        }
    }
    let prefix = format!("{}c_", attach::table_prefix(store));
    for t in nft::tables(&prefix)? {
        let short = &t[prefix.len()..];
        let used = std::fs::read_dir(store.root().join("containers"))
            .map(|rd| {
                rd.flatten().any(|e| {
                    let id = e.file_name().to_string_lossy().into_owned();
                    id.starts_with(short) && live(store, &id)
                })
            })
            .unwrap_or(false);
        if !used {
            nft::delete(&t)?;
            r.leftovers.push(format!("nft table {t}"));
        }
    }
    for (name, path) in attach::netns_files(store) {
        let id = name.strip_suffix(".lock").unwrap_or(&name).to_string();
        if live(store, &id) {
            continue;
        }
        if name.ends_with(".lock") {
            attach::remove_pending(store, &id);
        } else {
            netns::remove(&path)?;
            let _ = Netlink::open().and_then(|mut nl| nl.delete(&attach::veth_name(&id)));
            r.leftovers.push(format!("netns {name}"));
        }
    }
    Ok(r)
}
