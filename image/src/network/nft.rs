//! NAT rules through `nft` (Debian's nftables), fed a script on stdin: `nft` is the
//! kernel's rule interface, and one script is one atomic transaction. Every network and
//! every container with published ports gets its own table, named with a hash of the
//! store root, so removal is `delete table` and `prune` can find a store's leftovers.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use super::error::NetError;
use super::ipam::Subnet;
use super::ports::PortMap;

/// Run an nft script as one transaction.
pub fn apply(script: &str) -> Result<(), NetError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| NetError::Nft(format!("running nft (install nftables): {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(script.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| NetError::Nft(e.to_string()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        return Err(NetError::Nft(first.trim().to_string()));
    }
    Ok(())
}

/// Replace (or create) table `name` with `body`, atomically.
fn replace(name: &str, body: &str) -> String {
    format!("add table ip {name}\ndelete table ip {name}\ntable ip {name} {{\n{body}}}\n")
}

/// A network's table: masquerade what leaves the subnet, and what reaches the bridge
/// from 127.0.0.0/8 (published ports used at 127.0.0.1, with route_localnet on).
pub fn network_script(table: &str, subnet: &Subnet, bridge: &str) -> String {
    replace(
        table,
        &format!(
            "  chain post {{\n    type nat hook postrouting priority srcnat; policy accept;\n    \
             ip saddr {subnet} oifname != \"{bridge}\" masquerade\n    \
             ip saddr 127.0.0.0/8 oifname \"{bridge}\" masquerade\n  }}\n"
        ),
    )
}

/// A container's published ports: DNAT to `ip` for traffic to a local address, arriving
/// from outside (prerouting) or made on the host (output).
pub fn ports_script(table: &str, ip: Ipv4Addr, ports: &[PortMap]) -> String {
    let mut rules = String::new();
    for p in ports {
        let dst = match p.host_ip {
            Some(h) => format!("ip daddr {h}"),
            None => "fib daddr type local".into(),
        };
        rules.push_str(&format!(
            "    {dst} {} dport {} dnat to {ip}:{}\n",
            p.proto, p.host_port, p.container_port
        ));
    }
    replace(
        table,
        &format!(
            "  chain pre {{\n    type nat hook prerouting priority dstnat; policy accept;\n{rules}  }}\n  \
             chain out {{\n    type nat hook output priority -100; policy accept;\n{rules}  }}\n"
        ),
    )
}

/// Delete a table; a missing one is fine.
pub fn delete(table: &str) -> Result<(), NetError> {
    // `add` then `delete` in one transaction never fails on a missing table.
    apply(&format!("add table ip {table}\ndelete table ip {table}\n"))
}

/// Names of the ip-family tables starting with `prefix`.
pub fn tables(prefix: &str) -> Result<Vec<String>, NetError> {
    let out = Command::new("nft")
        .args(["list", "tables", "ip"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NetError::Nft(format!("running nft (install nftables): {e}")))?;
    if !out.status.success() {
        return Err(NetError::Nft(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("table ip "))
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts() {
        let s = network_script("berth_x_n_1", &Subnet::parse("10.1.2.0/24").unwrap(), "bt1");
        assert!(s.starts_with("add table ip berth_x_n_1\ndelete table ip berth_x_n_1\n"));
        assert!(s.contains("ip saddr 10.1.2.0/24 oifname != \"bt1\" masquerade"));
        let p = vec![
            PortMap::parse("8080:80").unwrap(),
            PortMap::parse("127.0.0.1:53:53/udp").unwrap(),
        ];
        let s = ports_script("t", Ipv4Addr::new(10, 1, 2, 3), &p);
        assert!(s.contains("fib daddr type local tcp dport 8080 dnat to 10.1.2.3:80"));
        assert!(s.contains("ip daddr 127.0.0.1 udp dport 53 dnat to 10.1.2.3:53"));
        assert_eq!(s.matches("dnat").count(), 4);
    }
}
