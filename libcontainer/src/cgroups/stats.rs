//! Resource usage of a cgroup, read from v1 or v2 files into one typed [`Stats`], whose
//! JSON is the `data` of runc's `events` stats (field names and omissions as runc's
//! `types.Stats`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::convert::parse_max;
use super::{fs, CgroupError};

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Stats {
    pub cpu: Cpu,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<CpuSet>,
    pub memory: Memory,
    pub pids: Pids,
    pub blkio: Blkio,
    pub hugetlb: BTreeMap<String, Hugetlb>,
    pub intel_rdt: BTreeMap<String, u64>,
    pub network_interfaces: Option<Vec<()>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Cpu {
    pub usage: CpuUsage,
    pub throttling: Throttling,
}

/// Nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuUsage {
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    pub kernel: u64,
    pub user: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Throttling {
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuSet {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cpus: Vec<u16>,
    pub cpu_exclusive: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mems: Vec<u16>,
    pub mem_hardwall: u64,
    pub mem_exclusive: u64,
    pub memory_migrate: u64,
    pub memory_spread_page: u64,
    pub memory_spread_slab: u64,
    pub memory_pressure: u64,
    pub sched_load_balance: u64,
    pub sched_relax_domain_level: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Memory {
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    pub usage: MemoryEntry,
    pub swap: MemoryEntry,
    pub kernel: MemoryEntry,
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MemoryEntry {
    pub limit: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Pids {
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Blkio {
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BlkioEntry {
    pub major: u64,
    pub minor: u64,
    pub op: String,
    pub value: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Hugetlb {
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    pub failcnt: u64,
}

/// `key value` lines (memory.stat, cpu.stat, memory.events).
fn key_values(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn num(dir: &Path, file: &str) -> u64 {
    fs::read_optional(dir, file)
        .ok()
        .flatten()
        .and_then(|t| parse_max(&t))
        .unwrap_or(0)
}

fn list(dir: &Path, file: &str) -> Vec<u64> {
    fs::read_optional(dir, file)
        .ok()
        .flatten()
        .map(|t| {
            t.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `0-2,4` → [0, 1, 2, 4].
fn cpu_list(text: &str) -> Vec<u16> {
    let mut out = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<u16>().ok()),
        }
    }
    out
}

/// Hugepage sizes the kernel offers, as cgroup file infixes (`2MB`, `1GB`).
pub(crate) fn hugepage_sizes() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/sys/kernel/mm/hugepages") else {
        return Vec::new();
    };
    let mut sizes: Vec<String> = dir
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let kb: u64 = name
                .strip_prefix("hugepages-")?
                .strip_suffix("kB")?
                .parse()
                .ok()?;
            Some(match kb {
                kb if kb >= 1 << 20 => format!("{}GB", kb >> 20),
                kb if kb >= 1 << 10 => format!("{}MB", kb >> 10),
                kb => format!("{kb}KB"),
            })
        })
        .collect();
    sizes.sort();
    sizes
}

/// v1: one directory per controller (None when that controller is not joined).
pub(crate) struct V1Dirs<'a> {
    pub cpu: Option<&'a Path>,
    pub cpuacct: Option<&'a Path>,
    pub cpuset: Option<&'a Path>,
    pub memory: Option<&'a Path>,
    pub pids: Option<&'a Path>,
    pub blkio: Option<&'a Path>,
    pub hugetlb: Option<&'a Path>,
}

pub(crate) fn read_v1(d: &V1Dirs<'_>) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    if let Some(dir) = d.cpuacct {
        let u = &mut s.cpu.usage;
        u.total = num(dir, "cpuacct.usage");
        u.percpu = list(dir, "cpuacct.usage_percpu");
        u.percpu_kernel = list(dir, "cpuacct.usage_percpu_sys");
        u.percpu_user = list(dir, "cpuacct.usage_percpu_user");
        let stat = key_values(&fs::read_optional(dir, "cpuacct.stat")?.unwrap_or_default());
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        u.user = stat.get("user").copied().unwrap_or(0) * 1_000_000_000 / ticks;
        u.kernel = stat.get("system").copied().unwrap_or(0) * 1_000_000_000 / ticks;
    }
    if let Some(dir) = d.cpu {
        let stat = key_values(&fs::read_optional(dir, "cpu.stat")?.unwrap_or_default());
        let t = &mut s.cpu.throttling;
        t.periods = stat.get("nr_periods").copied().unwrap_or(0);
        t.throttled_periods = stat.get("nr_throttled").copied().unwrap_or(0);
        t.throttled_time = stat.get("throttled_time").copied().unwrap_or(0);
    }
    if let Some(dir) = d.cpuset {
        s.cpuset = Some(CpuSet {
            cpus: cpu_list(&fs::read_optional(dir, "cpuset.cpus")?.unwrap_or_default()),
            mems: cpu_list(&fs::read_optional(dir, "cpuset.mems")?.unwrap_or_default()),
            cpu_exclusive: num(dir, "cpuset.cpu_exclusive"),
            mem_hardwall: num(dir, "cpuset.mem_hardwall"),
            mem_exclusive: num(dir, "cpuset.mem_exclusive"),
            memory_migrate: num(dir, "cpuset.memory_migrate"),
            memory_spread_page: num(dir, "cpuset.memory_spread_page"),
            memory_spread_slab: num(dir, "cpuset.memory_spread_slab"),
            memory_pressure: num(dir, "cpuset.memory_pressure"),
            sched_load_balance: num(dir, "cpuset.sched_load_balance"),
            sched_relax_domain_level: fs::read_optional(dir, "cpuset.sched_relax_domain_level")?
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0),
        });
    }
    if let Some(dir) = d.memory {
        let entry = |prefix: &str| MemoryEntry {
            limit: num(dir, &format!("{prefix}.limit_in_bytes")),
            usage: num(dir, &format!("{prefix}.usage_in_bytes")),
            max: num(dir, &format!("{prefix}.max_usage_in_bytes")),
            failcnt: num(dir, &format!("{prefix}.failcnt")),
        };
        let m = &mut s.memory;
        m.usage = entry("memory");
        m.swap = entry("memory.memsw");
        m.kernel = entry("memory.kmem");
        m.kernel_tcp = entry("memory.kmem.tcp");
        m.raw = key_values(&fs::read_optional(dir, "memory.stat")?.unwrap_or_default());
        m.cache = m.raw.get("cache").copied().unwrap_or(0);
    }
    if let Some(dir) = d.pids {
        s.pids = pids(dir);
    }
    if let Some(dir) = d.blkio {
        let read = |file: &str| -> Result<Vec<BlkioEntry>, CgroupError> {
            Ok(blkio_v1(&fs::read_optional(dir, file)?.unwrap_or_default()))
        };
        s.blkio.io_service_bytes_recursive = read("blkio.throttle.io_service_bytes_recursive")?;
        s.blkio.io_serviced_recursive = read("blkio.throttle.io_serviced_recursive")?;
    }
    if let Some(dir) = d.hugetlb {
        for size in hugepage_sizes() {
            let f = |what: &str| num(dir, &format!("hugetlb.{size}.{what}"));
            let h = Hugetlb {
                usage: f("usage_in_bytes"),
                max: f("max_usage_in_bytes"),
                failcnt: f("failcnt"),
            };
            s.hugetlb.insert(size, h);
        }
    }
    Ok(s)
}

fn pids(dir: &Path) -> Pids {
    let limit = num(dir, "pids.max");
    Pids {
        current: num(dir, "pids.current"),
        // runc reports "max" as 0 (no limit).
        limit: if limit == u64::MAX { 0 } else { limit },
    }
}

/// `8:0 Read 4096` lines; the `Total` line is skipped.
fn blkio_v1(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (major, minor) = f.next()?.split_once(':')?;
            let op = f.next()?.to_string();
            let value = f.next()?.parse().ok()?;
            Some(BlkioEntry {
                major: major.parse().ok()?,
                minor: minor.parse().ok()?,
                op,
                value,
            })
        })
        .collect()
}

pub(crate) fn read_v2(dir: &Path) -> Result<Stats, CgroupError> {
    let mut s = Stats::default();
    let cpu = key_values(&fs::read_optional(dir, "cpu.stat")?.unwrap_or_default());
    let get = |k: &str| cpu.get(k).copied().unwrap_or(0);
    s.cpu.usage.total = get("usage_usec") * 1000;
    s.cpu.usage.user = get("user_usec") * 1000;
    s.cpu.usage.kernel = get("system_usec") * 1000;
    s.cpu.throttling = Throttling {
        periods: get("nr_periods"),
        throttled_periods: get("nr_throttled"),
        throttled_time: get("throttled_usec") * 1000,
    };
    if fs::read_optional(dir, "memory.current")?.is_some() {
        let events = key_values(&fs::read_optional(dir, "memory.events")?.unwrap_or_default());
        let m = &mut s.memory;
        m.usage = MemoryEntry {
            limit: num(dir, "memory.max"),
            usage: num(dir, "memory.current"),
            max: num(dir, "memory.peak"),
            failcnt: events.get("max").copied().unwrap_or(0),
        };
        m.swap = MemoryEntry {
            limit: num(dir, "memory.swap.max").saturating_add(m.usage.limit),
            usage: num(dir, "memory.swap.current") + m.usage.usage,
            max: 0,
            failcnt: 0,
        };
        m.raw = key_values(&fs::read_optional(dir, "memory.stat")?.unwrap_or_default());
        m.cache = m.raw.get("file").copied().unwrap_or(0);
    }
    s.pids = pids(dir);
    for line in fs::read_optional(dir, "io.stat")?
        .unwrap_or_default()
        .lines()
    {
        let mut f = line.split_whitespace();
        let Some((major, minor)) = f.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in f {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = v.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut s.blkio.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut s.blkio.io_service_bytes_recursive, "Write"),
                "rios" => (&mut s.blkio.io_serviced_recursive, "Read"),
                "wios" => (&mut s.blkio.io_serviced_recursive, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.into(),
                value,
            });
        }
    }
    for size in hugepage_sizes() {
        if fs::read_optional(dir, &format!("hugetlb.{size}.current"))?.is_none() {
            continue;
        }
        let events = key_values(
            &fs::read_optional(dir, &format!("hugetlb.{size}.events"))?.unwrap_or_default(),
        );
        let h = Hugetlb {
            usage: num(dir, &format!("hugetlb.{size}.current")),
            max: 0,
            failcnt: events.get("max").copied().unwrap_or(0),
        };
        s.hugetlb.insert(size, h);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list("0-2,4\n"), vec![0, 1, 2, 4]);
        assert_eq!(cpu_list(""), Vec::<u16>::new());
    }

    #[test]
    fn empty_stats_serialise_like_runc() {
        let json = serde_json::to_string(&Stats::default()).unwrap();
        assert_eq!(
            json,
            r#"{"cpu":{"usage":{"kernel":0,"user":0},"throttling":{}},"memory":{"usage":{"limit":0,"failcnt":0},"swap":{"limit":0,"failcnt":0},"kernel":{"limit":0,"failcnt":0},"kernelTCP":{"limit":0,"failcnt":0}},"pids":{},"blkio":{},"hugetlb":{},"intel_rdt":{},"network_interfaces":null}"#
        );
    }

    #[test]
    fn blkio_lines() {
        let e = blkio_v1("8:0 Read 4096\n8:0 Write 0\nTotal 4096\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].op, "Read");
        assert_eq!(e[0].value, 4096);
    }
}
