//! Address management for one IPv4 subnet: which addresses are leased, and the next one
//! to hand out (round-robin after the last, so a freed address is not reused at once).
//! Persistence and locking are the caller's (`store`): this is the pure part.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::error::NetError;

/// `a.b.c.d/n`, normalized to the network address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Result<Subnet, NetError> {
        let bad = |why: &str| NetError::Invalid(format!("invalid subnet {s:?}: {why}"));
        let (a, p) = s.split_once('/').ok_or_else(|| bad("want A.B.C.D/N"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| bad("bad address"))?;
        let prefix: u8 = p.parse().map_err(|_| bad("bad prefix length"))?;
        if !(8..=30).contains(&prefix) {
            return Err(bad("prefix length must be 8..30"));
        }
        let net = Subnet { addr, prefix };
        Ok(Subnet {
            addr: Ipv4Addr::from(u32::from(addr) & net.mask()),
            prefix,
        })
    }
    pub fn mask(&self) -> u32 {
        u32::MAX << (32 - self.prefix)
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr)
    }
    pub fn overlaps(&self, other: &Subnet) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }
    /// The first host address (the default gateway).
    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) + 1)
    }
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Who holds an address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub container: String,
    pub name: String,
    pub hostname: String,
}

/// The leases of one network.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Pool {
    #[serde(default)]
    pub leases: BTreeMap<Ipv4Addr, Lease>,
    #[serde(default)]
    pub last: Option<Ipv4Addr>,
}

impl Pool {
    /// Lease the next free host address after the last one handed out (never the
    /// network, broadcast or gateway address).
    pub fn allocate(
        &mut self,
        subnet: &Subnet,
        gateway: Ipv4Addr,
        lease: Lease,
    ) -> Option<Ipv4Addr> {
        let lo = u32::from(subnet.addr) + 1;
        let hi = u32::from(subnet.broadcast()) - 1;
        let n = hi - lo + 1;
        let start = self
            .last
            .map(u32::from)
            .filter(|l| (lo..=hi).contains(l))
            .map(|l| l + 1 - lo)
            .unwrap_or(0);
        for i in 0..n {
            let ip = Ipv4Addr::from(lo + (start + i) % n);
            if ip != gateway && !self.leases.contains_key(&ip) {
                self.leases.insert(ip, lease);
                self.last = Some(ip);
                return Some(ip);
            }
        }
        None
    }
    /// Release every address `container` holds.
    pub fn release(&mut self, container: &str) -> Vec<Ipv4Addr> {
        let gone: Vec<Ipv4Addr> = self
            .leases
            .iter()
            .filter(|(_, l)| l.container == container)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in &gone {
            self.leases.remove(ip);
        }
        gone
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(c: &str) -> Lease {
        Lease {
            container: c.into(),
            name: c.into(),
            hostname: c.into(),
        }
    }

    #[test]
    fn subnet_parse_and_bounds() {
        let s = Subnet::parse("10.9.8.77/24").unwrap();
        assert_eq!(s.to_string(), "10.9.8.0/24");
        assert_eq!(s.first(), Ipv4Addr::new(10, 9, 8, 1));
        assert!(s.contains(Ipv4Addr::new(10, 9, 8, 255)));
        assert!(!s.contains(Ipv4Addr::new(10, 9, 9, 1)));
        assert!(s.overlaps(&Subnet::parse("10.9.0.0/16").unwrap()));
        assert!(!s.overlaps(&Subnet::parse("10.9.9.0/24").unwrap()));
        for bad in ["10.0.0.0", "10.0.0/24", "10.0.0.0/31", "x/24", "10.0.0.0/4"] {
            assert!(Subnet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allocation_skips_gateway_and_live_leases_and_round_robins() {
        let s = Subnet::parse("10.9.8.0/29").unwrap(); // hosts .1-.6
        let gw = s.first();
        let mut p = Pool::default();
        let a = p.allocate(&s, gw, lease("a")).unwrap();
        let b = p.allocate(&s, gw, lease("b")).unwrap();
        assert_eq!(
            (a, b),
            (Ipv4Addr::new(10, 9, 8, 2), Ipv4Addr::new(10, 9, 8, 3))
        );
        assert_eq!(p.release("a"), vec![a]);
        // The freed .2 is not reused while later addresses are free.
        assert_eq!(
            p.allocate(&s, gw, lease("c")),
            Some(Ipv4Addr::new(10, 9, 8, 4))
        );
        for c in ["d", "e", "f"] {
            assert!(p.allocate(&s, gw, lease(c)).is_some());
        }
        // .5 .6 then wraps to .2; now full.
        assert_eq!(p.leases.len(), 5);
        assert!(p.allocate(&s, gw, lease("g")).is_none());
        let json = serde_json::to_string(&p).unwrap();
        let back: Pool = serde_json::from_str(&json).unwrap();
        assert_eq!(back.leases, p.leases);
    }
}
