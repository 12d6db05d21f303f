//! runtime-spec 1.3's `linux.memoryPolicy`: the NUMA memory policy of the container's
//! processes (set_mempolicy), set in the init and in every exec'd process before exec, as
//! runc does. Checked as runc checks it: DEFAULT and LOCAL take no nodes; BIND,
//! INTERLEAVE, PREFERRED_MANY and WEIGHTED_INTERLEAVE need at least one.

use nix::errno::Errno;
use oci_spec::runtime::{LinuxMemoryPolicy, MemoryPolicyFlagType, MemoryPolicyModeType};

use crate::error::{Error, Result};

// <linux/mempolicy.h>
const MPOL_DEFAULT: u32 = 0;
const MPOL_PREFERRED: u32 = 1;
const MPOL_BIND: u32 = 2;
const MPOL_INTERLEAVE: u32 = 3;
const MPOL_LOCAL: u32 = 4;
const MPOL_PREFERRED_MANY: u32 = 5;
const MPOL_WEIGHTED_INTERLEAVE: u32 = 6;
const MPOL_F_NUMA_BALANCING: u32 = 1 << 13;
const MPOL_F_RELATIVE_NODES: u32 = 1 << 14;
const MPOL_F_STATIC_NODES: u32 = 1 << 15;

/// The node numbers the kernel takes (MAX_NUMNODES is at most 1024).
const MAX_NODES: usize = 1024;

/// What set_mempolicy is called with: mode | flags, and the node mask.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    mode: u32,
    mask: Vec<libc::c_ulong>,
}

/// Checks the policy and turns it into set_mempolicy's arguments; errors name the field.
pub(crate) fn policy(p: &LinuxMemoryPolicy) -> Result<Policy> {
    let bad =
        |field: &str, why: String| Error::Config(format!("linux.memoryPolicy.{field}: {why}"));
    let mode = match p.mode() {
        MemoryPolicyModeType::MpolDefault => MPOL_DEFAULT,
        MemoryPolicyModeType::MpolPreferred => MPOL_PREFERRED,
        MemoryPolicyModeType::MpolBind => MPOL_BIND,
        MemoryPolicyModeType::MpolInterleave => MPOL_INTERLEAVE,
        MemoryPolicyModeType::MpolLocal => MPOL_LOCAL,
        MemoryPolicyModeType::MpolPreferredMany => MPOL_PREFERRED_MANY,
        MemoryPolicyModeType::MpolWeightedInterleave => MPOL_WEIGHTED_INTERLEAVE,
    };
    let bits = std::mem::size_of::<libc::c_ulong>() * 8;
    let mut mask = vec![0 as libc::c_ulong; MAX_NODES / bits];
    let mut count = 0;
    let nodes = p.nodes().as_deref().unwrap_or("").trim();
    if !nodes.is_empty() {
        let list = crate::id_list::parse(nodes, MAX_NODES)
            .map_err(|why| bad("nodes", format!("invalid node list {nodes:?}: {why}")))?;
        for n in list {
            mask[n / bits] |= 1 << (n % bits);
            count += 1;
        }
    }
    match mode {
        MPOL_DEFAULT | MPOL_LOCAL if count > 0 => {
            return Err(bad(
                "nodes",
                format!(
                    "memory policy mode {} requires 0 nodes but got {count}",
                    p.mode()
                ),
            ))
        }
        MPOL_BIND | MPOL_INTERLEAVE | MPOL_PREFERRED_MANY | MPOL_WEIGHTED_INTERLEAVE
            if count == 0 =>
        {
            return Err(bad(
                "nodes",
                format!(
                    "memory policy mode {} requires at least one node but got 0",
                    p.mode()
                ),
            ))
        }
        _ => {}
    }
    let flags = p.flags().iter().flatten().fold(0, |f, flag| {
        f | match flag {
            MemoryPolicyFlagType::MpolFNumaBalancing => MPOL_F_NUMA_BALANCING,
            MemoryPolicyFlagType::MpolFRelativeNodes => MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFStaticNodes => MPOL_F_STATIC_NODES,
        }
    });
    Ok(Policy {
        mode: mode | flags,
        mask,
    })
}

/// Sets the calling process's memory policy.
pub(crate) fn apply(p: Option<&LinuxMemoryPolicy>) -> Result<()> {
    let Some(p) = p else { return Ok(()) };
    let policy = policy(p)?;
    let maxnode = policy.mask.len() * std::mem::size_of::<libc::c_ulong>() * 8;
    // SAFETY: set_mempolicy reads `maxnode` bits from the mask, which holds that many.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_set_mempolicy,
            policy.mode as libc::c_int,
            policy.mask.as_ptr(),
            maxnode as libc::c_ulong,
        )
    };
    if ret < 0 {
        return Err(Error::sys(
            "set_mempolicy (linux.memoryPolicy)",
            Errno::last(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Policy> {
        policy(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn checked_as_runc_checks() {
        let p =
            parse(r#"{"mode": "MPOL_BIND", "nodes": "0,2-3", "flags": ["MPOL_F_STATIC_NODES"]}"#)
                .unwrap();
        assert_eq!(p.mode, MPOL_BIND | MPOL_F_STATIC_NODES);
        assert_eq!(p.mask[0], 0b1101);
        assert!(parse(r#"{"mode": "MPOL_BIND"}"#)
            .unwrap_err()
            .to_string()
            .contains("at least one node"));
        assert!(parse(r#"{"mode": "MPOL_LOCAL", "nodes": "0"}"#)
            .unwrap_err()
            .to_string()
            .contains("requires 0 nodes"));
        assert!(parse(r#"{"mode": "MPOL_PREFERRED"}"#).is_ok());
        assert!(parse(r#"{"mode": "MPOL_INTERLEAVE", "nodes": "x"}"#)
            .unwrap_err()
            .to_string()
            .starts_with("linux.memoryPolicy.nodes:"));
    }
}
