//! runtime-spec 1.3's `linux.netDevices`: host network links moved into the container's
//! network namespace, renamed if asked, with their permanent global addresses and up.
//! Done by the runtime (host side) once the init is in its namespaces, before `create`
//! returns. They are not moved back: when the namespace goes, the kernel returns physical
//! links to the host and destroys virtual ones, as the spec describes.

use std::collections::BTreeMap;
use std::os::fd::AsFd;

use berth_netlink::{NetError, Netlink};
use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// The devices to move: host name → name in the container, in a stable order.
pub(crate) fn wanted(spec: &Spec) -> BTreeMap<String, String> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.net_devices().as_ref())
        .into_iter()
        .flatten()
        .map(|(host, dev)| {
            let inside = dev
                .name()
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| host.clone());
            (host.clone(), inside)
        })
        .collect()
}

/// A link name the kernel takes (IFNAMSIZ less the NUL, no '/', ':' or space), as runc
/// checks it.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 16
        && name != "."
        && name != ".."
        && !name.contains(['/', ':', ' '])
}

/// The problem with `linux.netDevices`, as (field, message), if any.
pub(crate) fn check(spec: &Spec) -> Option<(String, String)> {
    let devices = wanted(spec);
    if devices.is_empty() {
        return None;
    }
    let own_netns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| {
            ns.iter()
                .any(|n| n.typ() == LinuxNamespaceType::Network && n.path().is_none())
        });
    if !own_netns {
        return Some((
            "linux.netDevices".into(),
            "unable to move network devices without a NET namespace".into(),
        ));
    }
    if crate::rootless::is_rootless() {
        return Some((
            "linux.netDevices".into(),
            "network devices are not supported for rootless containers".into(),
        ));
    }
    for (host, inside) in &devices {
        for name in [host, inside] {
            if !valid_name(name) {
                return Some((
                    format!("linux.netDevices.{host}"),
                    format!("invalid network device name {name:?}"),
                ));
            }
        }
    }
    None
}

fn failed(host: &str, e: NetError) -> Error {
    Error::Config(format!("linux.netDevices.{host}: {e}"))
}

/// Moves every wanted device into the network namespace of `pid`.
pub(crate) fn move_into(spec: &Spec, pid: i32) -> Result<()> {
    let devices = wanted(spec);
    if devices.is_empty() {
        return Ok(());
    }
    let mut host = Netlink::open().map_err(|e| failed("*", e))?;
    for (name, inside) in devices {
        let index = host
            .index(&name)
            .map_err(|e| failed(&name, e))?
            .ok_or_else(|| {
                Error::Config(format!(
                    "linux.netDevices.{name}: no such network device on the host"
                ))
            })?;
        let addresses = host
            .permanent_global_addresses(index)
            .map_err(|e| failed(&name, e))?;
        host.move_to_netns(index, pid as u32, &inside)
            .map_err(|e| failed(&name, e))?;
        in_netns_of(pid, || {
            let mut nl = Netlink::open()?;
            // A "%d" template is numbered by the kernel; the link keeps its index.
            let there = if inside.contains("%d") {
                index
            } else {
                nl.index(&inside)?.unwrap_or(index)
            };
            for a in &addresses {
                nl.add_address_like(there, a)?;
            }
            nl.set_up(there)
        })
        .map_err(|e| match e {
            InNetns::Netlink(e) => failed(&name, e),
            InNetns::Setns(e) => Error::sys(format!("enter the network namespace of {pid}"), e),
        })?;
    }
    Ok(())
}

enum InNetns {
    Setns(nix::errno::Errno),
    Netlink(NetError),
}

impl From<NetError> for InNetns {
    fn from(e: NetError) -> Self {
        InNetns::Netlink(e)
    }
}

/// Runs `f` on a thread of its own that has joined the network namespace of `pid`
/// (setns of a network namespace moves only the calling thread; the shim has others).
fn in_netns_of(
    pid: i32,
    f: impl FnOnce() -> std::result::Result<(), NetError> + Send,
) -> std::result::Result<(), InNetns> {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).map_err(|e| {
        InNetns::Setns(nix::errno::Errno::from_raw(
            e.raw_os_error().unwrap_or(libc::EIO),
        ))
    })?;
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(InNetns::Setns)?;
            f().map_err(InNetns::Netlink)
        })
        .join()
        .unwrap_or(Err(InNetns::Setns(nix::errno::Errno::EIO)))
    })
}
