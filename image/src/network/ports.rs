//! Published ports: `-p [ip:]hostPort:containerPort[/tcp|udp]`.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::error::NetError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMap {
    /// Host address to match; None is every local address (127.0.0.1 included).
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp" or "udp".
    pub proto: String,
}

impl PortMap {
    pub fn parse(s: &str) -> Result<PortMap, NetError> {
        let bad = |why: &str| {
            NetError::Invalid(format!(
                "invalid port mapping {s:?}: {why} (want [ip:]hostPort:containerPort[/tcp|udp])"
            ))
        };
        let (spec, proto) = match s.rsplit_once('/') {
            Some((a, p @ ("tcp" | "udp"))) => (a, p),
            Some(_) => return Err(bad("protocol must be tcp or udp")),
            None => (s, "tcp"),
        };
        let parts: Vec<&str> = spec.split(':').collect();
        let (ip, hp, cp) = match parts.as_slice() {
            [hp, cp] => (None, *hp, *cp),
            [ip, hp, cp] => (Some(*ip), *hp, *cp),
            _ => return Err(bad("wrong number of fields")),
        };
        let port = |p: &str| match p.parse::<u16>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(bad("port must be 1..65535")),
        };
        let host_ip = match ip {
            None | Some("") => None,
            Some(ip) => Some(ip.parse().map_err(|_| bad("bad host address"))?),
        };
        Ok(PortMap {
            host_ip,
            host_port: port(hp)?,
            container_port: port(cp)?,
            proto: proto.into(),
        })
    }
}

impl std::fmt::Display for PortMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = self
            .host_ip
            .map(|i| i.to_string())
            .unwrap_or_else(|| "0.0.0.0".into());
        write!(
            f,
            "{ip}:{}->{}/{}",
            self.host_port, self.container_port, self.proto
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_forms() {
        let p = PortMap::parse("8080:80").unwrap();
        assert_eq!((p.host_ip, p.host_port, p.container_port), (None, 8080, 80));
        assert_eq!(p.proto, "tcp");
        let p = PortMap::parse("127.0.0.1:53:5353/udp").unwrap();
        assert_eq!(p.host_ip, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(p.proto, "udp");
        assert_eq!(p.to_string(), "127.0.0.1:53->5353/udp");
        for bad in [
            "80",
            "0:80",
            "a:80",
            "1:2:3:4",
            "80:80/sctp",
            "x.y:1:2",
            "70000:1",
        ] {
            assert!(PortMap::parse(bad).is_err(), "{bad}");
        }
    }
}
