//! Applying `linux.resources` to cgroup v1 controllers (runc's fs driver semantics:
//! 0 / absent means "leave alone", -1 means "unlimited").

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::devices::{self, Rule};
use super::{fs, set, CgroupError, Hierarchy};

/// Finds the directory of a controller, or runc's error for a resource it cannot set.
fn need<'a>(hs: &'a [Hierarchy], controller: &str, what: &str) -> Result<&'a Path, CgroupError> {
    hs.iter()
        .find(|h| h.has(controller))
        .map(|h| h.dir.as_path())
        .ok_or_else(|| {
            CgroupError::Resource(format!(
                "cannot set {what} limit: container could not join or create cgroup"
            ))
        })
}

pub(crate) fn apply(
    hs: &[Hierarchy],
    r: &LinuxResources,
    device_rules: Option<&[Rule]>,
) -> Result<(), CgroupError> {
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(CgroupError::Resource(
            "invalid configuration: cannot use unified on cgroup v1".into(),
        ));
    }
    if let Some(rules) = device_rules {
        devices::v1::apply(need(hs, "devices", "devices")?, rules)?;
    }
    if let Some(m) = r.memory() {
        memory(need(hs, "memory", "memory")?, m)?;
    }
    if let Some(c) = r.cpu() {
        if c.cpus().is_some() || c.mems().is_some() {
            let dir = need(hs, "cpuset", "cpuset")?;
            if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                set::write(dir, "cpuset.cpus", cpus)?;
            }
            if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                set::write(dir, "cpuset.mems", mems)?;
            }
        }
        cpu(hs, c)?;
    }
    if let Some(p) = r.pids() {
        let dir = need(hs, "pids", "pids")?;
        match p.limit() {
            0 => {}
            l if l < 0 => set::write(dir, "pids.max", "max")?,
            l => set::write(dir, "pids.max", &l.to_string())?,
        }
    }
    if let Some(b) = r.block_io() {
        blkio(need(hs, "blkio", "blkio")?, b)?;
    }
    if let Some(limits) = r.hugepage_limits().as_ref().filter(|l| !l.is_empty()) {
        let dir = need(hs, "hugetlb", "hugetlb")?;
        for l in limits {
            let file = super::hugetlb_file(l.page_size(), "limit_in_bytes")?;
            set::write(dir, &file, &l.limit().to_string())?;
        }
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            set::write(
                need(hs, "net_cls", "net_cls")?,
                "net_cls.classid",
                &id.to_string(),
            )?;
        }
        if let Some(prios) = n.priorities().as_ref().filter(|p| !p.is_empty()) {
            let dir = need(hs, "net_prio", "net_prio")?;
            for p in prios {
                set::write(
                    dir,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?;
            }
        }
    }
    if let Some(rdma) = r.rdma().as_ref().filter(|r| !r.is_empty()) {
        let dir = need(hs, "rdma", "rdma")?;
        for (dev, limit) in rdma {
            set::write(dir, "rdma.max", &super::rdma_line(dev, limit))?;
        }
    }
    Ok(())
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    const LIMIT: &str = "memory.limit_in_bytes";
    const SWAP: &str = "memory.memsw.limit_in_bytes";
    let mut limit = m.limit().unwrap_or(0);
    let mut swap = m.swap().unwrap_or(0);
    if m.check_before_update() == Some(true) && limit > 0 {
        let usage = read_u64(dir, "memory.usage_in_bytes")?;
        if (limit as u64) < usage {
            let peak = read_u64(dir, "memory.max_usage_in_bytes")?;
            return Err(CgroupError::Resource(format!(
                "unable to set memory limit to {limit} (current usage: {usage}, peak usage: {peak})"
            )));
        }
    }
    if limit == -1 && swap == 0 && set::exists(dir, SWAP) {
        swap = -1;
    }
    let mut swap_first = false;
    if limit != 0 && swap != 0 {
        let current = read_u64(dir, LIMIT)?;
        swap_first = swap == -1 || current < swap as u64;
    }
    if swap_first {
        set::write(dir, SWAP, &swap.to_string())?;
        set::nonzero(dir, LIMIT, limit)?;
        limit = 0;
        swap = 0;
    }
    set::nonzero(dir, LIMIT, limit)?;
    set::nonzero(dir, SWAP, swap)?;
    set::nonzero(
        dir,
        "memory.soft_limit_in_bytes",
        m.reservation().unwrap_or(0),
    )?;
    if let Some(k) = m.kernel_tcp().filter(|k| *k != 0) {
        set::write(dir, "memory.kmem.tcp.limit_in_bytes", &k.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(CgroupError::Resource(format!(
                "invalid memory swappiness value: {s} (valid range is 0-100)"
            )));
        }
        set::write(dir, "memory.swappiness", &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        set::write(dir, "memory.oom_control", "1")?;
    }
    Ok(())
}

fn cpu(hs: &[Hierarchy], c: &LinuxCpu) -> Result<(), CgroupError> {
    let wants_cpu = c.shares().is_some_and(|s| s != 0)
        || c.quota().is_some_and(|q| q != 0)
        || c.period().is_some_and(|p| p != 0)
        || c.burst().is_some()
        || c.realtime_period().is_some_and(|p| p != 0)
        || c.realtime_runtime().is_some_and(|r| r != 0)
        || c.idle().is_some_and(|i| i != 0);
    if !wants_cpu {
        return Ok(());
    }
    let dir = need(hs, "cpu", "cpu")?;
    // Realtime first: a child's runtime must fit its parent's.
    set::nonzero(
        dir,
        "cpu.rt_period_us",
        c.realtime_period().unwrap_or(0) as i64,
    )?;
    set::nonzero(dir, "cpu.rt_runtime_us", c.realtime_runtime().unwrap_or(0))?;
    if let Some(shares) = c.shares().filter(|s| *s != 0) {
        set::write(dir, "cpu.shares", &shares.to_string())?;
        let actual = read_u64(dir, "cpu.shares")?;
        if shares > actual {
            return Err(CgroupError::Resource(format!(
                "the maximum allowed cpu-shares is {actual}"
            )));
        }
        if shares < actual {
            return Err(CgroupError::Resource(format!(
                "the minimum allowed cpu-shares is {actual}"
            )));
        }
    }
    cfs_period_and_quota(dir, c.period().unwrap_or(0) as i64, c.quota().unwrap_or(0))?;
    if let Some(burst) = c.burst() {
        set::write(dir, "cpu.cfs_burst_us", &burst.to_string())?;
    }
    if let Some(idle) = c.idle().filter(|i| *i != 0) {
        set::write(dir, "cpu.idle", &idle.to_string())?;
    }
    Ok(())
}

/// The CFS period, then the quota, in runc's order: a period smaller than the current one
/// can be refused (EINVAL) while the old quota over the new period exceeds the parent's
/// limit; then the quota goes first and the period is written again after it.
fn cfs_period_and_quota(dir: &Path, period: i64, quota: i64) -> Result<(), CgroupError> {
    let mut period_later = false;
    if period != 0 {
        match set::write(dir, "cpu.cfs_period_us", &period.to_string()) {
            Err(CgroupError::Write { source, .. })
                if source.0 == nix::errno::Errno::EINVAL && quota != 0 =>
            {
                period_later = true;
            }
            other => other?,
        }
    }
    set::nonzero(dir, "cpu.cfs_quota_us", quota)?;
    if period_later {
        set::write(dir, "cpu.cfs_period_us", &period.to_string())?;
    }
    Ok(())
}

fn blkio(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    // Kernels with BFQ only have blkio.bfq.*; runc falls back the same way.
    let (weight, weight_device) = if set::exists(dir, "blkio.weight") {
        ("blkio.weight", "blkio.weight_device")
    } else {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        set::write(dir, weight, &w.to_string())?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        set::write(dir, "blkio.leaf_weight", &w.to_string())?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            set::write(
                dir,
                weight_device,
                &format!("{}:{} {w}", d.major(), d.minor()),
            )?;
        }
        if let Some(w) = d.leaf_weight() {
            let line = format!("{}:{} {w}", d.major(), d.minor());
            set::write(dir, "blkio.leaf_weight_device", &line)?;
        }
    }
    for (file, list) in [
        (
            "blkio.throttle.read_bps_device",
            b.throttle_read_bps_device(),
        ),
        (
            "blkio.throttle.write_bps_device",
            b.throttle_write_bps_device(),
        ),
        (
            "blkio.throttle.read_iops_device",
            b.throttle_read_iops_device(),
        ),
        (
            "blkio.throttle.write_iops_device",
            b.throttle_write_iops_device(),
        ),
    ] {
        for d in list.iter().flatten() {
            set::write(
                dir,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )?;
        }
    }
    Ok(())
}

fn read_u64(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    let text = fs::read(dir, file)?;
    text.trim().parse().map_err(|_| CgroupError::Parse {
        file: dir.join(file),
        line: text.trim().to_string(),
    })
}
