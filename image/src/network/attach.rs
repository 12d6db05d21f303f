//! A container joins a network (`attach`, before its bundle is written) and leaves it
//! (`detach`, on rm, on a failed create, or from `prune` after a crash). Every step of
//! `detach` is idempotent, so a half-made attachment is undone by the same code.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use sha2::{Digest as _, Sha256};

use super::error::NetError;
use super::ipam::Lease;
use super::netlink::Netlink;
use super::store::{Network, Networks, DEFAULT_BRIDGE, DEFAULT_NETWORK, DEFAULT_SUBNET};
use super::{files, netns, nft, Attachment, Mode, Request};
use crate::error::{IoContext, Result};
use crate::lock::Lock;
use crate::store::Store;

/// Where the host-wide bridge locks live (see [`bridge_lock`]).
const BRIDGE_LOCK_DIR: &str = "/run/lock";

/// Contents for the bundle's `/etc/hosts` and `/etc/resolv.conf` (None: the defaults).
#[derive(Clone, Debug, Default)]
pub struct Files {
    pub hosts: Option<String>,
    pub resolv: Option<String>,
}

/// Held while a container is being created: `prune` treats a container whose record is
/// not written yet as live while this lock is held, and as crashed once it is not.
pub struct Pending(#[allow(dead_code)] Flock<File>);

fn netns_dir(store: &Store) -> PathBuf {
    store.root().join("netns")
}
pub(super) fn netns_path(store: &Store, id: &str) -> PathBuf {
    netns_dir(store).join(id)
}
fn pending_path(store: &Store, id: &str) -> PathBuf {
    netns_dir(store).join(format!("{id}.lock"))
}
/// Host side of a container's veth pair (15 bytes max).
pub(super) fn veth_name(id: &str) -> String {
    format!("vb{}", &id[..id.len().min(11)])
}
/// nft tables of this store start with this (a hash of the store root).
pub(super) fn table_prefix(store: &Store) -> String {
    let root = fs::canonicalize(store.root()).unwrap_or_else(|_| store.root().to_path_buf());
    let h = Sha256::digest(root.as_os_str().as_encoded_bytes());
    format!("berth_{}_", &hex::encode(h)[..8])
}
pub(super) fn container_table(store: &Store, id: &str) -> String {
    format!("{}c_{}", table_prefix(store), &id[..id.len().min(12)])
}
pub(super) fn network_table(store: &Store, n: &Network) -> String {
    format!("{}n_{}", table_prefix(store), &n.id[..n.id.len().min(12)])
}

impl Pending {
    pub fn take(store: &Store, id: &str) -> Result<Pending> {
        let p = pending_path(store, id);
        fs::create_dir_all(netns_dir(store)).at(netns_dir(store))?;
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .at(&p)?;
        Flock::lock(f, FlockArg::LockExclusive)
            .map(Pending)
            .map_err(|(_, e)| crate::Error::Io {
                path: p,
                source: e.into(),
            })
    }
}

/// Whether a container is being created right now by a live process.
pub(super) fn creating(store: &Store, id: &str) -> bool {
    let p = pending_path(store, id);
    let Ok(f) = OpenOptions::new().write(true).open(&p) else {
        return false;
    };
    Flock::lock(f, FlockArg::LockExclusiveNonblock).is_err()
}

/// A container with a record, or one being created.
pub(super) fn live(store: &Store, id: &str) -> bool {
    store
        .root()
        .join("containers")
        .join(id)
        .join("container.json")
        .exists()
        || creating(store, id)
}

fn sysctl(path: &str, value: &str) -> Result<()> {
    fs::write(path, value).at(path)
}

/// Make sure the bridge, its address, route_localnet and the masquerade table exist.
pub(super) fn ensure_bridge(store: &Store, n: &Network) -> Result<()> {
    let sub = n.subnet()?;
    let mut nl = Netlink::open()?;
    if nl.index(&n.bridge)?.is_none() {
        nl.add_bridge(&n.bridge, n.mtu)?;
    }
    nl.add_addr(&n.bridge, n.gateway, sub.prefix)?;
    nl.up(&n.bridge, None)?;
    // 127.0.0.1 → container DNAT needs local-source packets to be routable out the bridge.
    sysctl(
        &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", n.bridge),
        "1",
    )?;
    sysctl("/proc/sys/net/ipv4/ip_forward", "1")?;
    nft::apply(&nft::network_script(
        &network_table(store, n),
        &sub,
        &n.bridge,
    ))?;
    Ok(())
}

/// A bridge is host-wide while a store's networks lock is not: two stores using one
/// bridge name (the default `berth0`) would otherwise delete it between the other's
/// "bridge exists" and "veth enslaved". Held across both, and around teardown.
fn bridge_lock(bridge: &str) -> Result<Lock> {
    let dir = Path::new(BRIDGE_LOCK_DIR);
    fs::create_dir_all(dir).at(dir)?;
    Lock::exclusive(&dir.join(format!("berth-bridge-{bridge}.lock")))
}

/// Whether any interface (another store's container) is still in the bridge.
fn bridge_in_use(bridge: &str) -> bool {
    fs::read_dir(format!("/sys/class/net/{bridge}/brif"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}

/// Remove a network's table, and its bridge unless another store's container uses it.
pub(super) fn teardown_bridge(store: &Store, n: &Network) -> Result<()> {
    let t = nft::delete(&network_table(store, n));
    let _bridge = bridge_lock(&n.bridge)?;
    if !bridge_in_use(&n.bridge) {
        Netlink::open()?.delete(&n.bridge)?;
    }
    Ok(t?)
}

fn default_network(nets: &Networks) -> Result<Network> {
    if let Some(n) = nets.get(DEFAULT_NETWORK)? {
        return Ok(n);
    }
    let bridge = std::env::var("BERTH_BRIDGE").unwrap_or_else(|_| DEFAULT_BRIDGE.into());
    let subnet = std::env::var("BERTH_BRIDGE_SUBNET").unwrap_or_else(|_| DEFAULT_SUBNET.into());
    let n = nets.define(DEFAULT_NETWORK, &subnet, None, Some(&bridge), None)?;
    nets.save(&n)?;
    Ok(n)
}

/// What `container:<name>` shares: that container's namespace (None when it has none of
/// its own) and its bundle directory.
pub struct Shared {
    pub join: Option<PathBuf>,
    pub bundle: PathBuf,
}

/// Join `req`'s network. The caller keeps the returned [`Pending`] until the container
/// record is written, and calls [`detach`] if creation fails later.
///
/// `container:<name>` shares another container's namespace: `find_shared` (the caller's,
/// which knows containers) gives that container's namespace path, if it has one of its
/// own, and its bundle directory (for its hosts and resolv.conf).
pub fn attach(
    store: &Store,
    id: &str,
    name: &str,
    hostname: &str,
    req: &Request,
    find_shared: &dyn Fn(&str) -> Result<Shared>,
) -> Result<(Attachment, Files, Pending)> {
    let pending = Pending::take(store, id)?;
    if !req.ports.is_empty() && !matches!(req.mode, Mode::Bridge(_)) {
        return Err(NetError::Invalid("published ports need a bridge network".into()).into());
    }
    let resolv = Some(files::resolv_conf(
        &fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    ));
    match &req.mode {
        Mode::Host => Ok((
            Attachment {
                mode: "host".into(),
                ..Default::default()
            },
            Files::default(),
            pending,
        )),
        Mode::None => {
            let path = netns_path(store, id);
            let mut att = Attachment {
                mode: "none".into(),
                ..Default::default()
            };
            let res = netns::create(&path).and_then(|_| {
                att.netns = Some(path.clone());
                att.join = Some(path.clone());
                netns::run_in(&path, || Ok(Netlink::open()?.up("lo", None)?))
            });
            if let Err(e) = res {
                let _ = detach(store, id, &att);
                return Err(e.into());
            }
            let hosts = files::hosts(None, &[]) + &format!("127.0.1.1\t{hostname}\n");
            let f = Files {
                hosts: Some(hosts),
                resolv,
            };
            Ok((att, f, pending))
        }
        Mode::Container(target) => {
            let Shared { join, bundle: b } = find_shared(target)?;
            let Some(join) = join else {
                return Err(NetError::Invalid(format!(
                    "container {target:?} has no network namespace of its own to share"
                ))
                .into());
            };
            let f = Files {
                hosts: fs::read_to_string(b.join("hosts")).ok(),
                resolv: fs::read_to_string(b.join("resolv.conf")).ok().or(resolv),
            };
            let att = Attachment {
                mode: "container".into(),
                join: Some(join),
                ..Default::default()
            };
            Ok((att, f, pending))
        }
        Mode::Bridge(net) => {
            let nets = Networks::lock(store)?;
            let mut att = Attachment {
                mode: "bridge".into(),
                network: Some(net.clone()),
                ..Default::default()
            };
            let res = bridge(store, &nets, id, name, hostname, req, &mut att);
            match res {
                Ok(hosts) => Ok((
                    att,
                    Files {
                        hosts: Some(hosts),
                        resolv,
                    },
                    pending,
                )),
                Err(e) => {
                    let _ = detach_locked(store, &nets, id, &att);
                    Err(e)
                }
            }
        }
    }
}

/// Bridge mode, under the networks lock; fills `att` as it goes. Returns the hosts file.
fn bridge(
    store: &Store,
    nets: &Networks,
    id: &str,
    name: &str,
    hostname: &str,
    req: &Request,
    att: &mut Attachment,
) -> Result<String> {
    let net = att.network.clone().unwrap_or_default();
    let mut n = if net == DEFAULT_NETWORK {
        default_network(nets)?
    } else {
        nets.need(&net)?
    };
    let sub = n.subnet()?;
    let _bridge = bridge_lock(&n.bridge)?;
    ensure_bridge(store, &n)?;
    let lease = Lease {
        container: id.into(),
        name: name.into(),
        hostname: hostname.into(),
    };
    let ip = n
        .pool
        .allocate(&sub, n.gateway, lease)
        .ok_or_else(|| NetError::Exhausted {
            name: n.name.clone(),
            subnet: n.subnet.clone(),
        })?;
    nets.save(&n)?;
    att.ip = Some(ip);
    att.prefix = Some(sub.prefix);
    att.gateway = Some(n.gateway);

    let path = netns_path(store, id);
    netns::create(&path)?;
    att.netns = Some(path.clone());
    att.join = Some(path.clone());

    let veth = veth_name(id);
    let ns = File::open(&path).at(&path)?;
    let mut nl = Netlink::open()?;
    nl.add_veth(&veth, "eth0", ns.as_raw_fd(), n.mtu)?;
    att.veth = Some(veth.clone());
    nl.up(&veth, Some(&n.bridge))?;
    let (gw, prefix) = (n.gateway, sub.prefix);
    netns::run_in(&path, || {
        let mut nl = Netlink::open()?;
        nl.up("lo", None)?;
        nl.add_addr("eth0", ip, prefix)?;
        nl.up("eth0", None)?;
        Ok(nl.add_default_route(gw, "eth0")?)
    })?;

    if !req.ports.is_empty() {
        let t = container_table(store, id);
        att.table = Some(t.clone());
        att.ports = req.ports.clone();
        nft::apply(&nft::ports_script(&t, ip, &req.ports))?;
    }
    rewrite_peers(store, &n, Some(id));
    Ok(hosts_for(&n, id).unwrap_or_default())
}

/// The hosts file of container `id` on network `n`.
fn hosts_for(n: &Network, id: &str) -> Option<String> {
    let (ip, own) = n.pool.leases.iter().find(|(_, l)| l.container == id)?;
    let peers: Vec<(Ipv4Addr, String, String)> = n
        .pool
        .leases
        .iter()
        .filter(|(_, l)| l.container != id)
        .map(|(ip, l)| (*ip, l.hostname.clone(), l.name.clone()))
        .collect();
    Some(files::hosts(
        Some((*ip, own.hostname.as_str(), own.name.as_str())),
        &peers,
    ))
}

/// Rewrite the hosts files of the network's containers (except `skip`) in place: the
/// file is bind-mounted into a running container, so its inode must stay.
fn rewrite_peers(store: &Store, n: &Network, skip: Option<&str>) {
    for l in n.pool.leases.values() {
        if Some(l.container.as_str()) == skip {
            continue;
        }
        let p = store
            .root()
            .join("containers")
            .join(&l.container)
            .join("bundle")
            .join("hosts");
        if let (true, Some(h)) = (p.exists(), hosts_for(n, &l.container)) {
            if let Ok(mut f) = OpenOptions::new().write(true).truncate(true).open(&p) {
                let _ = f.write_all(h.as_bytes());
            }
        }
    }
}

/// Leave the network: published-port table, veth, pinned namespace, lease (and peers'
/// hosts files), the default network's bridge once unused. Missing pieces are fine;
/// the first error is returned after every step was tried.
pub fn detach(store: &Store, id: &str, att: &Attachment) -> Result<()> {
    let res = if att.network.is_some() {
        let nets = Networks::lock(store)?;
        detach_locked(store, &nets, id, att)
    } else {
        att.netns
            .as_deref()
            .map(netns::remove)
            .transpose()
            .map(drop)
            .map_err(Into::into)
    };
    let _ = fs::remove_file(pending_path(store, id));
    res
}

fn detach_locked(store: &Store, nets: &Networks, id: &str, att: &Attachment) -> Result<()> {
    let mut first: Option<crate::Error> = None;
    let mut keep = |r: Result<()>| {
        if let Err(e) = r {
            first.get_or_insert(e);
        }
    };
    if let Some(t) = &att.table {
        keep(nft::delete(t).map_err(Into::into));
    }
    if let Some(v) = &att.veth {
        keep(
            Netlink::open()
                .and_then(|mut nl| nl.delete(v))
                .map(drop)
                .map_err(Into::into),
        );
    }
    if let Some(p) = &att.netns {
        keep(netns::remove(p).map_err(Into::into));
    }
    if let Some(net) = &att.network {
        keep((|| {
            let Some(mut n) = nets.get(net)? else {
                return Ok(());
            };
            if !n.pool.release(id).is_empty() {
                nets.save(&n)?;
                rewrite_peers(store, &n, None);
            }
            if n.name == DEFAULT_NETWORK && n.pool.leases.is_empty() {
                teardown_bridge(store, &n)?;
            }
            Ok(())
        })());
    }
    first.map_or(Ok(()), Err)
}

/// What `prune` rebuilds for a lease whose container is gone.
pub(super) fn stale(store: &Store, id: &str, network: &str) -> Attachment {
    Attachment {
        mode: "bridge".into(),
        network: Some(network.into()),
        netns: Some(netns_path(store, id)),
        veth: Some(veth_name(id)),
        table: Some(container_table(store, id)),
        ..Default::default()
    }
}

pub(super) fn netns_files(store: &Store) -> Vec<(String, PathBuf)> {
    let d = netns_dir(store);
    fs::read_dir(&d)
        .map(|rd| {
            rd.flatten()
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn remove_pending(store: &Store, id: &str) {
    let _ = fs::remove_file(pending_path(store, id));
}

/// Undo what a crashed container left on network `network`, by its derived names.
pub(super) fn detach_stale(store: &Store, nets: &Networks, id: &str, network: &str) -> Result<()> {
    detach_locked(store, nets, id, &stale(store, id, network))?;
    remove_pending(store, id);
    Ok(())
}
