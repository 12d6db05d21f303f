//! A small synchronous rtnetlink client over a NETLINK_ROUTE socket: just the requests
//! networks need (bridge, veth, link up/master/delete, IPv4 address, default route).
//! Every request asks for an ACK; the kernel's errno comes back as the error.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::error::NetError;

// Message types, flags and attribute numbers from <linux/rtnetlink.h>, <linux/if_link.h>,
// <linux/if_addr.h>, <linux/veth.h>: one table, used by name below.
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const NLA_F_NESTED: u16 = 0x8000;
const IFF_UP: u32 = 0x1;
const AF_INET: u8 = 2;
const RT_TABLE_MAIN: u8 = 254;
const RTPROT_BOOT: u8 = 3;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RTN_UNICAST: u8 = 1;
const NLMSG_HDRLEN: usize = 16;

/// A netlink message under construction: header, fixed body, attributes (4-aligned).
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    fn new(kind: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        Msg { buf, nests: vec![] }
    }
    fn align(&mut self) {
        while self.buf.len() & 3 != 0 {
            self.buf.push(0);
        }
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
    /// `struct ifinfomsg`: family, pad, type, index, flags, change.
    fn ifinfo(&mut self, index: i32, flags: u32, change: u32) -> &mut Self {
        self.bytes(&[0, 0, 0, 0])
            .bytes(&index.to_ne_bytes())
            .bytes(&flags.to_ne_bytes())
            .bytes(&change.to_ne_bytes())
    }
    fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Self {
        self.align();
        let len = (4 + data.len()) as u16;
        self.bytes(&len.to_ne_bytes())
            .bytes(&kind.to_ne_bytes())
            .bytes(data);
        self.align();
        self
    }
    fn attr_str(&mut self, kind: u16, s: &str) -> &mut Self {
        let mut d = s.as_bytes().to_vec();
        d.push(0);
        self.attr(kind, &d)
    }
    fn attr_u32(&mut self, kind: u16, v: u32) -> &mut Self {
        self.attr(kind, &v.to_ne_bytes())
    }
    fn begin(&mut self, kind: u16) -> &mut Self {
        self.align();
        self.nests.push(self.buf.len());
        self.bytes(&[0, 0])
            .bytes(&(kind | NLA_F_NESTED).to_ne_bytes())
    }
    fn end(&mut self) -> &mut Self {
        if let Some(start) = self.nests.pop() {
            self.align();
            let len = (self.buf.len() - start) as u16;
            self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        }
        self
    }
    fn finish(&mut self, seq: u32) -> &[u8] {
        self.align();
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }
}

/// A NETLINK_ROUTE socket in the network namespace of the thread that opened it.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4)
        .map(|s| u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

impl Netlink {
    pub fn open() -> Result<Netlink, NetError> {
        // SAFETY: plain socket(2); the returned fd is checked and owned immediately.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(NetError::netlink("socket", io::Error::last_os_error()));
        }
        // SAFETY: fd is a fresh, valid descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Netlink { fd, seq: 1 })
    }

    /// Send one request and read until its ACK. Returns the non-ACK replies' payloads
    /// (each starting at the message body).
    fn request(&mut self, op: &str, msg: &mut Msg) -> Result<Vec<Vec<u8>>, NetError> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let data = msg.finish(seq);
        // SAFETY: data is a valid buffer of data.len() bytes; the kernel is the
        // destination (default sockaddr for an unbound netlink socket's send).
        let n = unsafe { libc::send(self.fd.as_raw_fd(), data.as_ptr().cast(), data.len(), 0) };
        if n < 0 {
            return Err(NetError::netlink(op, io::Error::last_os_error()));
        }
        let mut replies = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf).map_err(|e| NetError::netlink(op, e))?;
            let mut off = 0;
            while off + NLMSG_HDRLEN <= n {
                let len = u32_at(&buf, off).unwrap_or(0) as usize;
                if len < NLMSG_HDRLEN || off + len > n {
                    break;
                }
                let kind = u16::from_ne_bytes([buf[off + 4], buf[off + 5]]);
                let mseq = u32_at(&buf, off + 8).unwrap_or(0);
                let body = &buf[off + NLMSG_HDRLEN..off + len];
                if mseq == seq {
                    if kind == NLMSG_ERROR {
                        let errno = u32_at(body, 0).unwrap_or(0) as i32;
                        if errno == 0 {
                            return Ok(replies);
                        }
                        return Err(NetError::netlink(op, io::Error::from_raw_os_error(-errno)));
                    }
                    replies.push(body.to_vec());
                }
                off += (len + 3) & !3;
            }
        }
    }

    /// Interface index of `name`, or None when there is no such link.
    pub fn index(&mut self, name: &str) -> Result<Option<u32>, NetError> {
        let mut m = Msg::new(RTM_GETLINK, 0);
        m.ifinfo(0, 0, 0).attr_str(IFLA_IFNAME, name);
        match self.request(&format!("get link {name}"), &mut m) {
            Ok(replies) => Ok(replies.first().and_then(|b| u32_at(b, 4))),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn need_index(&mut self, name: &str) -> Result<u32, NetError> {
        self.index(name)?.ok_or_else(|| {
            NetError::netlink(
                &format!("get link {name}"),
                io::Error::from_raw_os_error(libc::ENODEV),
            )
        })
    }

    pub fn add_bridge(&mut self, name: &str, mtu: u32) -> Result<(), NetError> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, name)
            .attr_u32(IFLA_MTU, mtu)
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "bridge")
            .end();
        self.request(&format!("add bridge {name}"), &mut m)
            .map(drop)
    }

    /// A veth pair: `host` here, `peer` created directly in the namespace `peer_ns`.
    pub fn add_veth(
        &mut self,
        host: &str,
        peer: &str,
        peer_ns: RawFd,
        mtu: u32,
    ) -> Result<(), NetError> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, host)
            .attr_u32(IFLA_MTU, mtu)
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "veth")
            .begin(IFLA_INFO_DATA)
            .begin(VETH_INFO_PEER)
            .ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, peer)
            .attr_u32(IFLA_MTU, mtu)
            .attr_u32(IFLA_NET_NS_FD, peer_ns as u32)
            .end()
            .end()
            .end();
        self.request(&format!("add veth {host}"), &mut m).map(drop)
    }

    /// Bring `name` up, optionally enslaving it to `master` first.
    pub fn up(&mut self, name: &str, master: Option<&str>) -> Result<(), NetError> {
        let idx = self.need_index(name)?;
        let mut m = Msg::new(RTM_NEWLINK, 0);
        m.ifinfo(idx as i32, IFF_UP, IFF_UP);
        if let Some(master) = master {
            let midx = self.need_index(master)?;
            m.attr_u32(IFLA_MASTER, midx);
        }
        self.request(&format!("set {name} up"), &mut m).map(drop)
    }

    /// Delete a link; a missing one is not an error. Returns whether it existed.
    pub fn delete(&mut self, name: &str) -> Result<bool, NetError> {
        let Some(idx) = self.index(name)? else {
            return Ok(false);
        };
        let mut m = Msg::new(RTM_DELLINK, 0);
        m.ifinfo(idx as i32, 0, 0);
        match self.request(&format!("delete link {name}"), &mut m) {
            Ok(_) => Ok(true),
            Err(e) if e.errno() == Some(libc::ENODEV) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `ip addr add ADDR/PREFIX brd + dev NAME`; an existing address is fine.
    pub fn add_addr(&mut self, name: &str, addr: Ipv4Addr, prefix: u8) -> Result<(), NetError> {
        let idx = self.need_index(name)?;
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        let brd = Ipv4Addr::from(u32::from(addr) | !mask);
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        m.bytes(&[AF_INET, prefix, 0, RT_SCOPE_UNIVERSE])
            .bytes(&idx.to_ne_bytes())
            .attr(IFA_LOCAL, &addr.octets())
            .attr(IFA_ADDRESS, &addr.octets())
            .attr(IFA_BROADCAST, &brd.octets());
        match self.request(&format!("add address {addr}/{prefix} to {name}"), &mut m) {
            Err(e) if e.errno() == Some(libc::EEXIST) => Ok(()),
            r => r.map(drop),
        }
    }

    /// `ip route add default via GW dev NAME`.
    pub fn add_default_route(&mut self, gw: Ipv4Addr, dev: &str) -> Result<(), NetError> {
        let idx = self.need_index(dev)?;
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        m.bytes(&[
            AF_INET,
            0,
            0,
            0,
            RT_TABLE_MAIN,
            RTPROT_BOOT,
            RT_SCOPE_UNIVERSE,
            RTN_UNICAST,
        ])
        .bytes(&0u32.to_ne_bytes())
        .attr(RTA_GATEWAY, &gw.octets())
        .attr_u32(RTA_OIF, idx);
        self.request(&format!("add default route via {gw}"), &mut m)
            .map(drop)
    }
}

fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        // SAFETY: buf is a valid writable buffer of buf.len() bytes.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n >= 0 {
            return Ok(n as usize);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_are_sized_and_aligned() {
        let mut m = Msg::new(RTM_NEWLINK, 0);
        m.ifinfo(0, 0, 0)
            .attr_str(IFLA_IFNAME, "ab")
            .begin(IFLA_LINKINFO)
            .attr_str(IFLA_INFO_KIND, "veth")
            .end();
        let b = m.finish(7).to_vec();
        assert_eq!(u32_at(&b, 0).unwrap() as usize, b.len());
        assert_eq!(b.len() % 4, 0);
        // ifname attr at 32: len 4+3 = 7, padded to 8.
        assert_eq!(u16::from_ne_bytes([b[32], b[33]]), 7);
        // linkinfo at 40: 4 + kind attr (4+5 -> 12) = 16.
        assert_eq!(u16::from_ne_bytes([b[40], b[41]]), 16);
        assert_eq!(
            u16::from_ne_bytes([b[42], b[43]]),
            IFLA_LINKINFO | NLA_F_NESTED
        );
    }
}
