//! Stats and Update payloads: libcontainer's cgroup [`Stats`] as containerd's metrics
//! types (`io.containerd.cgroups.v1.Metrics`, or `.v2.Metrics` on a pure cgroup v2 host,
//! as the runc shim chooses), and the OCI `LinuxResources` JSON that Update carries.

use containerd_shim_protos::cgroups::metrics as v1;
use containerd_shim_protos::cgroups_v2::metrics as v2;
use libcontainer::oci_spec::runtime::LinuxResources;
use libcontainer::Stats;
use protobuf::well_known_types::any::Any;
use protobuf::{Message, MessageField};

/// containerd's typeurl names (the full proto names, as the runc shim sends them).
const V1_TYPE: &str = "io.containerd.cgroups.v1.Metrics";
const V2_TYPE: &str = "io.containerd.cgroups.v2.Metrics";

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("encode metrics: {0}")]
    Encode(#[from] protobuf::Error),
    #[error("update resources: {0}")]
    Resources(#[from] serde_json::Error),
}

/// Whether /sys/fs/cgroup is the unified (v2) hierarchy.
pub fn unified_host() -> bool {
    use nix::sys::statfs::{statfs, CGROUP2_SUPER_MAGIC};
    statfs("/sys/fs/cgroup").is_ok_and(|s| s.filesystem_type() == CGROUP2_SUPER_MAGIC)
}

/// The Stats answer: metrics of the host's cgroup version, packed in an Any.
pub fn to_any(stats: &Stats, unified: bool) -> Result<Any, MetricsError> {
    let mut any = Any::new();
    if unified {
        any.type_url = V2_TYPE.into();
        any.value = to_v2(stats).write_to_bytes()?;
    } else {
        any.type_url = V1_TYPE.into();
        any.value = to_v1(stats).write_to_bytes()?;
    }
    Ok(any)
}

/// Update's resources: an Any holding the OCI `LinuxResources` as JSON.
pub fn parse_resources(json: &[u8]) -> Result<LinuxResources, MetricsError> {
    Ok(serde_json::from_slice(json)?)
}

fn entry(e: &libcontainer::stats::MemoryEntry) -> v1::MemoryEntry {
    let mut m = v1::MemoryEntry::new();
    m.limit = e.limit;
    m.usage = e.usage;
    m.max = e.max;
    m.failcnt = e.failcnt;
    m
}

fn blkio_v1(list: &[libcontainer::stats::BlkioEntry]) -> Vec<v1::BlkIOEntry> {
    list.iter()
        .map(|e| {
            let mut b = v1::BlkIOEntry::new();
            b.op = e.op.clone();
            b.major = e.major;
            b.minor = e.minor;
            b.value = e.value;
            b
        })
        .collect()
}

pub fn to_v1(s: &Stats) -> v1::Metrics {
    let mut m = v1::Metrics::new();
    for (size, h) in &s.hugetlb {
        let mut e = v1::HugetlbStat::new();
        e.usage = h.usage;
        e.max = h.max;
        e.failcnt = h.failcnt;
        e.pagesize = size.clone();
        m.hugetlb.push(e);
    }
    let mut pids = v1::PidsStat::new();
    pids.current = s.pids.current;
    pids.limit = s.pids.limit;
    m.pids = MessageField::some(pids);

    let mut usage = v1::CPUUsage::new();
    usage.total = s.cpu.usage.total;
    usage.kernel = s.cpu.usage.kernel;
    usage.user = s.cpu.usage.user;
    usage.per_cpu = s.cpu.usage.percpu.clone();
    let mut throttle = v1::Throttle::new();
    throttle.periods = s.cpu.throttling.periods;
    throttle.throttled_periods = s.cpu.throttling.throttled_periods;
    throttle.throttled_time = s.cpu.throttling.throttled_time;
    let mut cpu = v1::CPUStat::new();
    cpu.usage = MessageField::some(usage);
    cpu.throttling = MessageField::some(throttle);
    m.cpu = MessageField::some(cpu);

    let raw = |k: &str| s.memory.raw.get(k).copied().unwrap_or(0);
    let mut mem = v1::MemoryStat::new();
    mem.cache = s.memory.cache;
    mem.rss = raw("rss");
    mem.rss_huge = raw("rss_huge");
    mem.mapped_file = raw("mapped_file");
    mem.dirty = raw("dirty");
    mem.writeback = raw("writeback");
    mem.pg_pg_in = raw("pgpgin");
    mem.pg_pg_out = raw("pgpgout");
    mem.pg_fault = raw("pgfault");
    mem.pg_maj_fault = raw("pgmajfault");
    mem.inactive_anon = raw("inactive_anon");
    mem.active_anon = raw("active_anon");
    mem.inactive_file = raw("inactive_file");
    mem.active_file = raw("active_file");
    mem.unevictable = raw("unevictable");
    mem.hierarchical_memory_limit = raw("hierarchical_memory_limit");
    mem.hierarchical_swap_limit = raw("hierarchical_memsw_limit");
    mem.total_cache = raw("total_cache");
    mem.total_rss = raw("total_rss");
    mem.total_rss_huge = raw("total_rss_huge");
    mem.total_mapped_file = raw("total_mapped_file");
    mem.total_dirty = raw("total_dirty");
    mem.total_writeback = raw("total_writeback");
    mem.total_pg_pg_in = raw("total_pgpgin");
    mem.total_pg_pg_out = raw("total_pgpgout");
    mem.total_pg_fault = raw("total_pgfault");
    mem.total_pg_maj_fault = raw("total_pgmajfault");
    mem.total_inactive_anon = raw("total_inactive_anon");
    mem.total_active_anon = raw("total_active_anon");
    mem.total_inactive_file = raw("total_inactive_file");
    mem.total_active_file = raw("total_active_file");
    mem.total_unevictable = raw("total_unevictable");
    mem.usage = MessageField::some(entry(&s.memory.usage));
    mem.swap = MessageField::some(entry(&s.memory.swap));
    mem.kernel = MessageField::some(entry(&s.memory.kernel));
    mem.kernel_tcp = MessageField::some(entry(&s.memory.kernel_tcp));
    m.memory = MessageField::some(mem);

    let mut blkio = v1::BlkIOStat::new();
    blkio.io_service_bytes_recursive = blkio_v1(&s.blkio.io_service_bytes_recursive);
    blkio.io_serviced_recursive = blkio_v1(&s.blkio.io_serviced_recursive);
    m.blkio = MessageField::some(blkio);
    m
}

pub fn to_v2(s: &Stats) -> v2::Metrics {
    let mut m = v2::Metrics::new();
    let mut pids = v2::PidsStat::new();
    pids.current = s.pids.current;
    pids.limit = s.pids.limit;
    m.pids = MessageField::some(pids);

    let mut cpu = v2::CPUStat::new();
    cpu.usage_usec = s.cpu.usage.total / 1000;
    cpu.user_usec = s.cpu.usage.user / 1000;
    cpu.system_usec = s.cpu.usage.kernel / 1000;
    cpu.nr_periods = s.cpu.throttling.periods;
    cpu.nr_throttled = s.cpu.throttling.throttled_periods;
    cpu.throttled_usec = s.cpu.throttling.throttled_time / 1000;
    m.cpu = MessageField::some(cpu);

    let raw = |k: &str| s.memory.raw.get(k).copied().unwrap_or(0);
    let mut mem = v2::MemoryStat::new();
    mem.anon = raw("anon");
    mem.file = raw("file");
    mem.kernel_stack = raw("kernel_stack");
    mem.slab = raw("slab");
    mem.sock = raw("sock");
    mem.shmem = raw("shmem");
    mem.file_mapped = raw("file_mapped");
    mem.file_dirty = raw("file_dirty");
    mem.file_writeback = raw("file_writeback");
    mem.anon_thp = raw("anon_thp");
    mem.inactive_anon = raw("inactive_anon");
    mem.active_anon = raw("active_anon");
    mem.inactive_file = raw("inactive_file");
    mem.active_file = raw("active_file");
    mem.unevictable = raw("unevictable");
    mem.slab_reclaimable = raw("slab_reclaimable");
    mem.slab_unreclaimable = raw("slab_unreclaimable");
    mem.pgfault = raw("pgfault");
    mem.pgmajfault = raw("pgmajfault");
    mem.workingset_refault = raw("workingset_refault");
    mem.workingset_activate = raw("workingset_activate");
    mem.workingset_nodereclaim = raw("workingset_nodereclaim");
    mem.pgrefill = raw("pgrefill");
    mem.pgscan = raw("pgscan");
    mem.pgsteal = raw("pgsteal");
    mem.pgactivate = raw("pgactivate");
    mem.pgdeactivate = raw("pgdeactivate");
    mem.pglazyfree = raw("pglazyfree");
    mem.pglazyfreed = raw("pglazyfreed");
    mem.thp_fault_alloc = raw("thp_fault_alloc");
    mem.thp_collapse_alloc = raw("thp_collapse_alloc");
    let usage = &s.memory.usage;
    mem.usage = usage.usage;
    mem.usage_limit = usage.limit;
    mem.max_usage = usage.max;
    // libcontainer reports swap as runc does (memory + swap); containerd's v2 type
    // wants the swap part alone.
    mem.swap_usage = s.memory.swap.usage.saturating_sub(usage.usage);
    mem.swap_limit = s.memory.swap.limit.saturating_sub(usage.limit);
    m.memory = MessageField::some(mem);
    let mut events = v2::MemoryEvents::new();
    events.max = usage.failcnt;
    m.memory_events = MessageField::some(events);

    let mut io = v2::IOStat::new();
    let mut slot = |major: u64, minor: u64| -> usize {
        match io
            .usage
            .iter()
            .position(|e| e.major == major && e.minor == minor)
        {
            Some(i) => i,
            None => {
                let mut e = v2::IOEntry::new();
                e.major = major;
                e.minor = minor;
                io.usage.push(e);
                io.usage.len() - 1
            }
        }
    };
    let mut counts = Vec::new();
    for (e, bytes) in s
        .blkio
        .io_service_bytes_recursive
        .iter()
        .map(|e| (e, true))
        .chain(s.blkio.io_serviced_recursive.iter().map(|e| (e, false)))
    {
        counts.push((slot(e.major, e.minor), e.op.as_str(), bytes, e.value));
    }
    for (i, op, bytes, value) in counts {
        let e = &mut io.usage[i];
        match (op, bytes) {
            ("Read", true) => e.rbytes = value,
            ("Write", true) => e.wbytes = value,
            ("Read", false) => e.rios = value,
            ("Write", false) => e.wios = value,
            _ => {}
        }
    }
    m.io = MessageField::some(io);

    for (size, h) in &s.hugetlb {
        let mut e = v2::HugeTlbStat::new();
        e.current = h.usage;
        e.max = h.max;
        e.failcnt = h.failcnt;
        e.pagesize = size.clone();
        m.hugetlb.push(e);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use libcontainer::stats::BlkioEntry;

    fn sample() -> Stats {
        let mut s = Stats::default();
        s.cpu.usage.total = 5_000_000;
        s.cpu.usage.percpu = vec![2_000_000, 3_000_000];
        s.memory.usage.usage = 4096;
        s.memory.usage.limit = 1 << 20;
        s.memory.swap.usage = 4096 + 100;
        s.memory.swap.limit = 2 << 20;
        s.memory.raw.insert("rss".into(), 7);
        s.memory.raw.insert("anon".into(), 8);
        s.pids.current = 2;
        for (op, v) in [("Read", 10), ("Write", 20)] {
            s.blkio.io_service_bytes_recursive.push(BlkioEntry {
                major: 8,
                minor: 0,
                op: op.into(),
                value: v,
            });
        }
        s
    }

    #[test]
    fn v1_metrics_carry_the_numbers() {
        let m = to_v1(&sample());
        assert_eq!(m.cpu.usage.total, 5_000_000);
        assert_eq!(m.cpu.usage.per_cpu, vec![2_000_000, 3_000_000]);
        assert_eq!(m.memory.usage.usage, 4096);
        assert_eq!(m.memory.rss, 7);
        assert_eq!(m.pids.current, 2);
        assert_eq!(m.blkio.io_service_bytes_recursive.len(), 2);
        let any = to_any(&sample(), false).unwrap();
        assert_eq!(any.type_url, "io.containerd.cgroups.v1.Metrics");
        assert_eq!(v1::Metrics::parse_from_bytes(&any.value).unwrap(), m);
    }

    #[test]
    fn v2_metrics_split_swap_and_merge_io() {
        let m = to_v2(&sample());
        assert_eq!(m.cpu.usage_usec, 5000);
        assert_eq!(m.memory.anon, 8);
        assert_eq!(m.memory.swap_usage, 100);
        assert_eq!(m.memory.swap_limit, 1 << 20);
        assert_eq!(m.io.usage.len(), 1);
        assert_eq!((m.io.usage[0].rbytes, m.io.usage[0].wbytes), (10, 20));
        assert_eq!(to_any(&sample(), true).unwrap().type_url, V2_TYPE);
    }

    #[test]
    fn resources_are_oci_json() {
        let r = parse_resources(br#"{"memory":{"limit":1048576},"pids":{"limit":5}}"#).unwrap();
        assert_eq!(r.memory().as_ref().and_then(|m| m.limit()), Some(1048576));
        assert!(parse_resources(b"{not json").is_err());
    }
}
