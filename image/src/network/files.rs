//! `/etc/hosts` and `/etc/resolv.conf` contents for a container.

use std::net::Ipv4Addr;

/// localhost lines, the container itself, then its peers on the same network.
pub fn hosts(own: Option<(Ipv4Addr, &str, &str)>, peers: &[(Ipv4Addr, String, String)]) -> String {
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if let Some((ip, hostname, name)) = own {
        s.push_str(&entry(ip, hostname, name));
    }
    for (ip, hostname, name) in peers {
        s.push_str(&entry(*ip, hostname, name));
    }
    s
}

fn entry(ip: Ipv4Addr, hostname: &str, name: &str) -> String {
    if hostname == name {
        format!("{ip}\t{hostname}\n")
    } else {
        format!("{ip}\t{hostname} {name}\n")
    }
}

/// The host's resolv.conf without loopback nameservers (unreachable from a container's
/// own network namespace).
pub fn resolv_conf(host: &str) -> String {
    host.lines()
        .filter(|l| {
            let mut w = l.split_whitespace();
            !(w.next() == Some("nameserver")
                && w.next()
                    .is_some_and(|a| a.starts_with("127.") || a == "::1"))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_resolv() {
        let h = hosts(
            Some((Ipv4Addr::new(10, 0, 0, 2), "abc", "web")),
            &[(Ipv4Addr::new(10, 0, 0, 3), "db".into(), "db".into())],
        );
        assert!(h.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.0.0.2\tabc web\n"));
        assert!(h.contains("10.0.0.3\tdb\n"));
        let r = resolv_conf("search x\nnameserver 127.0.0.53\nnameserver 10.1.1.1\n");
        assert_eq!(r, "search x\nnameserver 10.1.1.1\n");
    }
}
