//! Network definitions and their leases: `ROOT/networks/NAME.json`, one file per
//! network (definition + IPAM pool), written by write-temp + rename. Every read-modify-
//! write happens under `ROOT/networks/.lock` (flock, exclusive): concurrent `run`s never
//! hand out one address twice, and a crashed process's lock is released by the kernel.

use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::NetError;
use super::ipam::{Pool, Subnet};
use crate::error::{IoContext, Result};
use crate::lock::Lock;
use crate::store::Store;

/// The network `run` uses without `--network`.
pub const DEFAULT_NETWORK: &str = "bridge";
pub const DEFAULT_BRIDGE: &str = "berth0";
pub const DEFAULT_SUBNET: &str = "172.30.0.0/16";
pub const DEFAULT_MTU: u32 = 1500;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    pub bridge: String,
    pub subnet: String,
    pub gateway: Ipv4Addr,
    pub mtu: u32,
    pub created: String,
    #[serde(flatten)]
    pub pool: Pool,
}

impl Network {
    pub fn subnet(&self) -> Result<Subnet> {
        Ok(Subnet::parse(&self.subnet)?)
    }
}

/// The networks of a store, locked for as long as this lives.
pub struct Networks {
    dir: PathBuf,
    _lock: Lock,
}

pub fn check_name(what: &str, name: &str, max: usize) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        return Err(NetError::Invalid(format!(
            "invalid {what} name {name:?}: want 1-{max} of [A-Za-z0-9_.-], starting alphanumeric"
        ))
        .into());
    }
    Ok(())
}

impl Networks {
    pub fn lock(store: &Store) -> Result<Networks> {
        let dir = store.root().join("networks");
        fs::create_dir_all(&dir).at(&dir)?;
        let lock = Lock::exclusive(&dir.join(".lock"))?;
        Ok(Networks { dir, _lock: lock })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    pub fn get(&self, name: &str) -> Result<Option<Network>> {
        let p = self.path(name);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| crate::Error::json(p.display().to_string(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at(&p),
        }
    }

    pub fn need(&self, name: &str) -> Result<Network> {
        self.get(name)?
            .ok_or_else(|| NetError::NotFound(name.to_string()).into())
    }

    pub fn list(&self) -> Result<Vec<Network>> {
        let mut out = Vec::new();
        for e in fs::read_dir(&self.dir).at(&self.dir)?.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(n) = name.strip_suffix(".json").filter(|n| !n.starts_with('.')) {
                if let Some(net) = self.get(n)? {
                    out.push(net);
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    pub fn save(&self, n: &Network) -> Result<()> {
        let b = serde_json::to_vec_pretty(n).unwrap_or_default();
        crate::util::write_atomic(&self.path(&n.name), &b)
    }

    pub fn delete(&self, name: &str) -> Result<()> {
        let p = self.path(name);
        fs::remove_file(&p).at(&p)
    }

    /// A new definition (not saved): checks names and that the subnet and bridge are
    /// not used by another network of this store.
    pub fn define(
        &self,
        name: &str,
        subnet: &str,
        gateway: Option<&str>,
        bridge: Option<&str>,
        mtu: Option<u32>,
    ) -> Result<Network> {
        check_name("network", name, 64)?;
        if self.get(name)?.is_some() {
            return Err(NetError::Exists(name.into()).into());
        }
        let id = crate::util::random_hex(32);
        let bridge = bridge
            .map(str::to_string)
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        check_name("bridge", &bridge, 15)?;
        let sub = Subnet::parse(subnet)?;
        let gateway = match gateway {
            None => sub.first(),
            Some(g) => {
                let g: Ipv4Addr = g
                    .parse()
                    .map_err(|_| NetError::Invalid(format!("invalid gateway {g:?}")))?;
                if !sub.contains(g) || g == sub.addr || g == sub.broadcast() {
                    return Err(NetError::Invalid(format!(
                        "gateway {g} is not a host address of {sub}"
                    ))
                    .into());
                }
                g
            }
        };
        let mtu = mtu.unwrap_or(DEFAULT_MTU);
        if !(68..=65535).contains(&mtu) {
            return Err(NetError::Invalid(format!("invalid MTU {mtu}: want 68..65535")).into());
        }
        for other in self.list()? {
            if other.bridge == bridge {
                return Err(NetError::Invalid(format!(
                    "bridge {bridge} is already used by network {}",
                    other.name
                ))
                .into());
            }
            if other.subnet()?.overlaps(&sub) {
                return Err(NetError::Invalid(format!(
                    "subnet {sub} overlaps network {} ({})",
                    other.name, other.subnet
                ))
                .into());
            }
        }
        Ok(Network {
            name: name.into(),
            id,
            bridge,
            subnet: sub.to_string(),
            gateway,
            mtu,
            created: crate::util::rfc3339(crate::util::now_secs()),
            pool: Pool::default(),
        })
    }
}
