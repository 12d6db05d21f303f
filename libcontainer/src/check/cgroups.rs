//! `linux.cgroupsPath` and `linux.resources`: where the cgroup would go, whether this
//! host's cgroup layout has a controller for each resource given, and values the
//! controllers' files refuse.

use std::path::Path;

use oci_spec::runtime::{LinuxCpu, LinuxResources};

use super::{Bundle, Report};
use crate::cgroups::Cgroup;

/// Which controller each resource needs: (field, v1 controller, v2 controller or None
/// when v2 cannot set it, whether the spec sets it).
type Need = (&'static str, &'static str, Option<&'static str>, bool);

/// Below this the container's first process is OOM-killed while berth sets it up (256 KiB
/// and less: always, measured on kernel 6.18; 1 MiB runs `true`; runc needs 4 MiB).
const MIN_MEMORY_LIMIT: i64 = 1 << 20;

pub(super) fn check(b: &Bundle, r: &mut Report) {
    let linux = b.spec.linux().as_ref();
    let path = linux.and_then(|l| l.cgroups_path().as_deref());
    let cgroup = match Cgroup::resolve(path, "berth-check", b.driver) {
        Ok(c) => c,
        Err(e) => {
            let hint = if b.driver == crate::cgroups::Driver::Cgroupfs {
                "a path below the hierarchy's root, such as /berth/web or berth/web"
            } else {
                "slice:prefix:name (e.g. system.slice:berth:web) with systemd running, \
                 or no --systemd-cgroup"
            };
            r.error("linux.cgroupsPath", e.to_string(), hint);
            return;
        }
    };
    let Some(res) = linux.and_then(|l| l.resources().as_ref()) else {
        return;
    };
    // Checked by create before anything runs, with or without a cgroup.
    for (i, d) in res.devices().iter().flatten().enumerate() {
        if let Err(e) = crate::cgroups::devices::from_spec(d) {
            r.error(
                format!("linux.resources.devices[{i}]"),
                e,
                "type a, b or c with access made of r, w and m",
            );
        }
        let access = d.access().as_deref().unwrap_or("");
        if crate::cgroups::devices::parse_access(access).is_none() {
            r.warn(
                format!("linux.resources.devices[{i}].access"),
                format!("{access:?} holds letters other than r, w and m: they are ignored"),
                "runc ignores them on cgroup v1 and refuses them on cgroup v2; use r, w and m",
            );
        }
    }
    // Unprivileged, a cgroup that cannot be made is skipped rather than fatal.
    if crate::rootless::is_rootless() {
        return;
    }
    controllers(&cgroup, res, r);
    if let Some(m) = res.memory() {
        if let Some(s) = m.swappiness().filter(|s| *s > 100) {
            r.error(
                "linux.resources.memory.swappiness",
                format!("invalid memory swappiness value: {s} (valid range is 0-100)"),
                "a value from 0 to 100",
            );
        }
        let (limit, swap) = (m.limit().unwrap_or(0), m.swap().unwrap_or(0));
        if limit > 0 && limit < MIN_MEMORY_LIMIT {
            r.error(
                "linux.resources.memory.limit",
                format!("memory limit {limit} is too small for the container to be set up: the kernel OOM-kills its first process"),
                "at least 1 MiB (1048576); Docker refuses below 6 MiB",
            );
        }
        if limit > 0 && swap > 0 && swap < limit {
            r.error(
                "linux.resources.memory.swap",
                format!("memory+swap limit {swap} is below the memory limit {limit}"),
                "swap is memory plus swap: at least the memory limit, or -1 for unlimited",
            );
        }
        if cgroup.is_v1() && swap > 0 {
            if let Some(dir) = cgroup.controller_mount("memory") {
                if !dir.join("memory.memsw.limit_in_bytes").exists() {
                    r.error(
                        "linux.resources.memory.swap",
                        "this kernel does not account swap (no memory.memsw.limit_in_bytes)",
                        "remove swap, or boot with swapaccount=1",
                    );
                }
            }
        }
    }
    if cgroup.is_v1() && res.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        r.error(
            "linux.resources.unified",
            "invalid configuration: cannot use unified on cgroup v1",
            "set the same limits through the typed fields (memory, cpu, pids, ...), or run on a cgroup v2 host",
        );
    }
    if let Some(c) = res.cpu() {
        cpu(&cgroup, c, r);
    }
    if cgroup.is_v1() {
        if let Some(dir) = cgroup.controller_mount("blkio") {
            let weight = res.block_io().as_ref().and_then(|b| b.weight());
            if weight.is_some_and(|w| w != 0)
                && !dir.join("blkio.weight").exists()
                && !dir.join("blkio.bfq.weight").exists()
            {
                r.error(
                    "linux.resources.blockIO.weight",
                    "this host's blkio controller has no weight file (no CFQ or BFQ scheduler)",
                    "remove the weight, or use an I/O scheduler with weights (bfq)",
                );
            }
        }
    }
    for (i, l) in res.hugepage_limits().iter().flatten().enumerate() {
        let size = l.page_size();
        if !crate::cgroups::valid_hugepage_size(size) {
            continue; // The spec check's finding.
        }
        if !Path::new("/sys/kernel/mm/hugepages")
            .join(format!("hugepages-{}kB", kib(size)))
            .exists()
        {
            r.error(
                format!("linux.resources.hugepageLimits[{i}].pageSize"),
                format!("this host has no {size} huge pages"),
                format!(
                    "a size listed in /sys/kernel/mm/hugepages ({})",
                    host_sizes()
                ),
            );
        }
    }
}

fn controllers(cgroup: &Cgroup, res: &LinuxResources, r: &mut Report) {
    let cpu = res.cpu().as_ref();
    let net = res.network().as_ref();
    let needs: [Need; 10] = [
        (
            "linux.resources.memory",
            "memory",
            Some("memory"),
            res.memory().is_some(),
        ),
        (
            "linux.resources.cpu",
            "cpu",
            Some("cpu"),
            cpu.is_some_and(wants_cpu),
        ),
        (
            "linux.resources.cpu.cpus",
            "cpuset",
            Some("cpuset"),
            cpu.is_some_and(|c| c.cpus().is_some() || c.mems().is_some()),
        ),
        (
            "linux.resources.pids",
            "pids",
            Some("pids"),
            res.pids().is_some(),
        ),
        (
            "linux.resources.blockIO",
            "blkio",
            Some("io"),
            res.block_io().is_some(),
        ),
        (
            "linux.resources.hugepageLimits",
            "hugetlb",
            Some("hugetlb"),
            res.hugepage_limits()
                .as_ref()
                .is_some_and(|l| !l.is_empty()),
        ),
        (
            "linux.resources.network.classID",
            "net_cls",
            None,
            net.is_some_and(|n| n.class_id().is_some()),
        ),
        (
            "linux.resources.network.priorities",
            "net_prio",
            None,
            net.is_some_and(|n| n.priorities().as_ref().is_some_and(|p| !p.is_empty())),
        ),
        (
            "linux.resources.rdma",
            "rdma",
            Some("rdma"),
            res.rdma().as_ref().is_some_and(|r| !r.is_empty()),
        ),
        (
            "linux.resources.devices",
            "devices",
            Some(""),
            cgroup.is_v1(),
        ),
    ];
    for (field, v1, v2, wanted) in needs {
        if !wanted {
            continue;
        }
        let controller = if cgroup.is_v1() { Some(v1) } else { v2 };
        let Some(controller) = controller else {
            r.error(
                field,
                format!("cgroup v2 has no {v1} controller"),
                "remove it, or run on a cgroup v1 host",
            );
            continue;
        };
        // Device rules go through BPF on v2, no controller needed.
        if controller.is_empty() || cgroup.controller_mount(controller).is_some() {
            continue;
        }
        let where_ = if cgroup.is_v1() {
            "no v1 hierarchy of this host has it mounted".to_string()
        } else {
            "the cgroup2 root does not offer it".to_string()
        };
        r.error(
            field,
            format!("cannot set {v1} limit: this host has no {controller} controller ({where_})"),
            format!(
                "remove the field, or run on a host with the {controller} controller ({})",
                available(cgroup)
            ),
        );
    }
}

/// As apply_v1 decides whether the cpu controller is needed.
fn wants_cpu(c: &LinuxCpu) -> bool {
    c.shares().is_some_and(|s| s != 0)
        || c.quota().is_some_and(|q| q != 0)
        || c.period().is_some_and(|p| p != 0)
        || c.burst().is_some()
        || c.realtime_period().is_some_and(|p| p != 0)
        || c.realtime_runtime().is_some_and(|r| r != 0)
        || c.idle().is_some_and(|i| i != 0)
}

fn cpu(cgroup: &Cgroup, c: &LinuxCpu, r: &mut Report) {
    if cgroup.is_v1() {
        if let Some(s) = c.shares().filter(|s| *s != 0 && !(2..=262_144).contains(s)) {
            r.error(
                "linux.resources.cpu.shares",
                format!("{s} is outside what cpu.shares keeps"),
                "a value from 2 to 262144",
            );
        }
        if let Some(p) = c
            .period()
            .filter(|p| *p != 0 && !(1000..=1_000_000).contains(p))
        {
            r.error(
                "linux.resources.cpu.period",
                format!("{p} µs is outside the CFS period range"),
                "a period from 1000 to 1000000 µs",
            );
        }
        if let Some(q) = c.quota().filter(|q| (1..1000).contains(q)) {
            r.error(
                "linux.resources.cpu.quota",
                format!("{q} µs is below the smallest CFS quota"),
                "at least 1000 µs, or -1 for no limit",
            );
        }
        let rt = c.realtime_runtime().is_some_and(|v| v != 0)
            || c.realtime_period().is_some_and(|v| v != 0);
        if let Some(dir) = cgroup.controller_mount("cpu").filter(|_| rt) {
            if !dir.join("cpu.rt_runtime_us").exists() {
                r.error(
                    "linux.resources.cpu.realtimeRuntime",
                    "this kernel has no real-time group scheduling (no cpu.rt_runtime_us)",
                    "remove realtimeRuntime and realtimePeriod",
                );
            } else if let Some(rt) = c.realtime_runtime().filter(|v| *v > 0) {
                let root = read_i64(&dir.join("cpu.rt_runtime_us"));
                let period = c
                    .realtime_period()
                    .map(|p| p as i64)
                    .filter(|p| *p != 0)
                    .or_else(|| read_i64(&dir.join("cpu.rt_period_us")));
                if root.is_some_and(|root| rt > root) || period.is_some_and(|p| rt > p) {
                    r.error(
                        "linux.resources.cpu.realtimeRuntime",
                        format!(
                            "{rt} µs is more than the period or the host's real-time budget ({} µs)",
                            root.unwrap_or(0)
                        ),
                        "a runtime no larger than realtimePeriod and the root cgroup's cpu.rt_runtime_us",
                    );
                }
            }
        }
    }
    for (field, value, file) in [
        ("linux.resources.cpu.cpus", c.cpus(), "cpus"),
        ("linux.resources.cpu.mems", c.mems(), "mems"),
    ] {
        let Some(value) = value.as_deref().filter(|v| !v.is_empty()) else {
            continue;
        };
        let Some(host) = host_cpuset(cgroup, file) else {
            continue;
        };
        match parse_list(value) {
            Some(want) if want.iter().all(|n| host.contains(n)) => {}
            Some(_) => r.error(
                field,
                format!(
                    "{value:?} is not within this host's {file} ({})",
                    list_text(&host)
                ),
                format!("a subset of {}", list_text(&host)),
            ),
            None => r.error(
                field,
                format!("{value:?} is not a list such as 0-3,5"),
                format!("a list such as {}", list_text(&host)),
            ),
        }
    }
}

fn host_cpuset(cgroup: &Cgroup, file: &str) -> Option<Vec<u32>> {
    let dir = cgroup.controller_mount("cpuset")?;
    let name = if cgroup.is_v1() {
        format!("cpuset.{file}")
    } else {
        format!("cpuset.{file}.effective")
    };
    parse_list(std::fs::read_to_string(dir.join(name)).ok()?.trim())
}

/// A kernel cpu list, `0-3,5`.
fn parse_list(text: &str) -> Option<Vec<u32>> {
    let list = crate::id_list::parse(text, 1 << 16).ok()?;
    list.into_iter().map(|n| u32::try_from(n).ok()).collect()
}

fn list_text(list: &[u32]) -> String {
    match (list.first(), list.last()) {
        (Some(a), Some(b)) if list.len() as u32 == b - a + 1 && a != b => format!("{a}-{b}"),
        _ => list
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(","),
    }
}

fn read_i64(path: &Path) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `2MB` → 2048.
fn kib(size: &str) -> u64 {
    let (n, unit) = size.split_at(size.len() - 2);
    let n: u64 = n.parse().unwrap_or(0);
    match unit {
        "GB" => n << 20,
        "MB" => n << 10,
        _ => n,
    }
}

fn host_sizes() -> String {
    let sizes = crate::cgroups::hugepage_sizes();
    if sizes.is_empty() {
        "none".into()
    } else {
        sizes.join(", ")
    }
}

/// The controllers this host offers, for hints.
fn available(cgroup: &Cgroup) -> String {
    const ALL: &[&str] = &[
        "cpu", "cpuset", "memory", "pids", "blkio", "io", "hugetlb", "net_cls", "net_prio", "rdma",
        "devices", "freezer",
    ];
    let have: Vec<&str> = ALL
        .iter()
        .copied()
        .filter(|c| cgroup.controller_mount(c).is_some())
        .collect();
    format!("this host has: {}", have.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_list("x"), None);
        assert_eq!(parse_list("3-1"), None);
        assert_eq!(list_text(&[0, 1]), "0-1");
        assert_eq!(list_text(&[0]), "0");
        assert_eq!(kib("2MB"), 2048);
        assert_eq!(kib("1GB"), 1 << 20);
    }
}
