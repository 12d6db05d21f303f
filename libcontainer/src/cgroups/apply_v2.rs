//! Applying `linux.resources` to a cgroup v2 directory, converting the spec's v1-style
//! values as runc's fs2 driver does (shares → cpu.weight, memory+swap → swap alone,
//! blkio weight → io.weight), then `unified` key/values last so they win.

use std::path::Path;

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

use super::convert::{blkio_weight_to_io_weight, cpu_max, limit_v2, shares_to_weight, swap_to_v2};
use super::devices::{bpf, Rule};
use super::{set, CgroupError};

pub(crate) fn apply(
    dir: &Path,
    r: &LinuxResources,
    device_rules: Option<&[Rule]>,
) -> Result<(), CgroupError> {
    if let Some(rules) = device_rules {
        bpf::attach(dir, rules)?;
    }
    if let Some(m) = r.memory() {
        memory(dir, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(dir, c)?;
    }
    if let Some(p) = r.pids() {
        if p.limit() != 0 {
            set::write(dir, "pids.max", &limit_v2(p.limit()))?;
        }
    }
    if let Some(b) = r.block_io() {
        io(dir, b)?;
    }
    for l in r.hugepage_limits().iter().flatten() {
        let file = super::hugetlb_file(l.page_size(), "max")?;
        set::write(dir, &file, &l.limit().to_string())?;
    }
    if let Some(n) = r.network() {
        if n.class_id().is_some() || n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            return Err(CgroupError::Resource(
                "network classID and priorities need cgroup v1 (net_cls, net_prio)".into(),
            ));
        }
    }
    for (dev, limit) in r.rdma().iter().flatten() {
        set::write(dir, "rdma.max", &super::rdma_line(dev, limit))?;
    }
    for (key, value) in r.unified().iter().flatten() {
        if key.contains('/') || key.starts_with('.') || !key.contains('.') {
            return Err(CgroupError::Resource(format!(
                "unified resource {key:?}: not a cgroup file name"
            )));
        }
        if !set::exists(dir, key) {
            return Err(CgroupError::Resource(format!(
                "unified resource {key:?}: no such file in {} (controller not enabled?)",
                dir.display()
            )));
        }
        set::write(dir, key, value)?;
    }
    Ok(())
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    let limit = m.limit().unwrap_or(0);
    let swap = swap_to_v2(m.swap().unwrap_or(0), limit)
        .map_err(|e| CgroupError::Resource(e.to_string()))?;
    // Swap first: a lower memory.max with a swap that no longer fits would fail.
    if swap != 0 {
        set::write(dir, "memory.swap.max", &limit_v2(swap))?;
    }
    if limit != 0 {
        set::write(dir, "memory.max", &limit_v2(limit))?;
    }
    if let Some(r) = m.reservation().filter(|r| *r != 0) {
        set::write(dir, "memory.low", &limit_v2(r))?;
    }
    if m.swappiness().is_some() || m.disable_oom_killer() == Some(true) {
        log::warn!("memory swappiness and disableOOMKiller have no cgroup v2 equivalent; ignored");
    }
    Ok(())
}

fn cpu(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if c.realtime_period().is_some_and(|p| p != 0) || c.realtime_runtime().is_some_and(|r| r != 0) {
        return Err(CgroupError::Resource(
            "realtime cpu limits are not supported on cgroup v2".into(),
        ));
    }
    if let Some(idle) = c.idle().filter(|i| *i != 0) {
        set::write(dir, "cpu.idle", &idle.to_string())?;
    }
    let weight = shares_to_weight(c.shares().unwrap_or(0));
    if weight != 0 {
        set::write(dir, "cpu.weight", &weight.to_string())?;
    }
    if let Some(line) = cpu_max(c.quota().unwrap_or(0), c.period().unwrap_or(0)) {
        set::write(dir, "cpu.max", &line)?;
    }
    if let Some(burst) = c.burst() {
        set::write(dir, "cpu.max.burst", &burst.to_string())?;
    }
    if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
        set::write(dir, "cpuset.cpus", cpus)?;
    }
    if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
        set::write(dir, "cpuset.mems", mems)?;
    }
    Ok(())
}

fn io(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let bfq = set::exists(dir, "io.bfq.weight");
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            set::write(dir, "io.bfq.weight", &w.to_string())?;
        } else {
            let v = blkio_weight_to_io_weight(w as u64);
            set::write(dir, "io.weight", &v.to_string())?;
        }
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let (file, v) = if bfq {
                ("io.bfq.weight", w as u64)
            } else {
                ("io.weight", blkio_weight_to_io_weight(w as u64))
            };
            set::write(dir, file, &format!("{}:{} {v}", d.major(), d.minor()))?;
        }
    }
    for (key, list) in [
        ("rbps", b.throttle_read_bps_device()),
        ("wbps", b.throttle_write_bps_device()),
        ("riops", b.throttle_read_iops_device()),
        ("wiops", b.throttle_write_iops_device()),
    ] {
        for d in list.iter().flatten() {
            let line = format!("{}:{} {key}={}", d.major(), d.minor(), d.rate());
            set::write(dir, "io.max", &line)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxResources;

    /// Applies `resources` (JSON) to a fake cgroup directory holding empty files, and
    /// returns what each file got.
    fn applied(resources: serde_json::Value, files: &[&str]) -> Vec<(String, String)> {
        let dir = std::env::temp_dir().join(format!("berth-v2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for f in files {
            std::fs::write(dir.join(f), "").unwrap();
        }
        let r: LinuxResources = serde_json::from_value(resources).unwrap();
        apply(&dir, &r, None).unwrap();
        let mut out: Vec<(String, String)> = files
            .iter()
            .map(|f| (f.to_string(), std::fs::read_to_string(dir.join(f)).unwrap()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        out.sort();
        std::fs::remove_dir_all(&dir).unwrap();
        out
    }

    #[test]
    fn v1_values_become_v2_files() {
        let got = applied(
            serde_json::json!({
                "memory": {"limit": 1048576, "swap": 3145728, "reservation": 524288},
                "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0"},
                "pids": {"limit": -1},
                "blockIO": {"weight": 500, "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1000}]},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}],
                "unified": {"memory.high": "2000000"}
            }),
            &[
                "memory.max",
                "memory.swap.max",
                "memory.low",
                "memory.high",
                "cpu.weight",
                "cpu.max",
                "cpuset.cpus",
                "pids.max",
                "io.weight",
                "io.max",
                "hugetlb.2MB.max",
            ],
        );
        let want: Vec<(String, String)> = [
            ("cpu.max", "50000 100000"),
            ("cpu.weight", "100"),
            ("cpuset.cpus", "0"),
            ("hugetlb.2MB.max", "4194304"),
            ("io.max", "8:0 rbps=1000"),
            ("io.weight", "4950"),
            ("memory.high", "2000000"),
            ("memory.low", "524288"),
            ("memory.max", "1048576"),
            ("memory.swap.max", "2097152"),
            ("pids.max", "max"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
