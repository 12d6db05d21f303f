//! `berth update`: change a container's resource limits, from flags or from a
//! `linux.resources` JSON document (`-r FILE`, `-r -` for stdin).

use std::io::Read;

use anyhow::{bail, Context};
use libcontainer::oci_spec::runtime::LinuxResources;
use serde_json::{json, Map, Value};

use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    /// The container id
    pub id: String,
    /// Path to the file containing the resources to update or '-' to read from the
    /// standard input (all other options are then ignored)
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// Specifies per cgroup weight, range is from 10 to 1000
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-quota", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight vs. other containers)
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period to be used for hardcapping (in usecs). 0 to use system default
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime hardcap limit (in usecs). Allowed cpu time in a given period
    #[arg(long = "cpu-rt-runtime", allow_hyphen_values = true)]
    pub cpu_rt_runtime: Option<i64>,
    /// CPU(s) to use
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// Memory node(s) to use
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Memory limit (in bytes)
    #[arg(long, allow_hyphen_values = true)]
    pub memory: Option<String>,
    /// Memory reservation or soft_limit (in bytes)
    #[arg(long = "memory-reservation", allow_hyphen_values = true)]
    pub memory_reservation: Option<String>,
    /// Total memory usage (memory + swap); set '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Maximum number of pids allowed in the container
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// The string of Intel RDT/CAT L3 cache schema
    #[arg(long = "l3-cache-schema")]
    pub l3_cache_schema: Option<String>,
    /// The string of Intel RDT/MBA memory bandwidth schema
    #[arg(long = "mem-bw-schema")]
    pub mem_bw_schema: Option<String>,
}

pub fn run(g: &Globals, a: &UpdateArgs) -> anyhow::Result<i32> {
    let mut container = super::load(&g.root, &a.id)?;
    let resources = match &a.resources {
        Some(source) => read_resources(source)?,
        None => from_flags(a)?,
    };
    container.update(&resources)?;
    Ok(0)
}

fn read_resources(source: &str) -> anyhow::Result<LinuxResources> {
    let mut text = String::new();
    if source == "-" {
        std::io::stdin().read_to_string(&mut text)?;
    } else {
        text = std::fs::read_to_string(source).with_context(|| format!("open {source}"))?;
    }
    serde_json::from_str(&text).context("decode resources")
}

fn from_flags(a: &UpdateArgs) -> anyhow::Result<LinuxResources> {
    if a.l3_cache_schema.is_some() || a.mem_bw_schema.is_some() {
        bail!("Intel RDT is not supported");
    }
    let mut r = Map::new();
    let mut memory = Map::new();
    for (name, value, key) in [
        ("memory", &a.memory, "limit"),
        ("memory-reservation", &a.memory_reservation, "reservation"),
        ("memory-swap", &a.memory_swap, "swap"),
    ] {
        if let Some(v) = value.as_deref().filter(|v| !v.is_empty()) {
            let bytes = ram_in_bytes(v).with_context(|| format!("invalid value for {name}"))?;
            memory.insert(key.into(), json!(bytes));
        }
    }
    if !memory.is_empty() {
        r.insert("memory".into(), Value::Object(memory));
    }
    let mut cpu = Map::new();
    let mut put = |key: &str, v: Option<Value>| {
        if let Some(v) = v {
            cpu.insert(key.into(), v);
        }
    };
    put("shares", a.cpu_share.map(|v| json!(v)));
    put("quota", a.cpu_quota.map(|v| json!(v)));
    put("period", a.cpu_period.map(|v| json!(v)));
    put("realtimePeriod", a.cpu_rt_period.map(|v| json!(v)));
    put("realtimeRuntime", a.cpu_rt_runtime.map(|v| json!(v)));
    put("cpus", a.cpuset_cpus.as_ref().map(|v| json!(v)));
    put("mems", a.cpuset_mems.as_ref().map(|v| json!(v)));
    if !cpu.is_empty() {
        r.insert("cpu".into(), Value::Object(cpu));
    }
    if let Some(w) = a.blkio_weight {
        r.insert("blockIO".into(), json!({ "weight": w }));
    }
    if let Some(l) = a.pids_limit {
        r.insert("pids".into(), json!({ "limit": l }));
    }
    Ok(serde_json::from_value(Value::Object(r))?)
}

/// docker/go-units RAMInBytes: `1024`, `512k`, `64m`, `1g`, `1.5GiB` (binary units).
fn ram_in_bytes(text: &str) -> anyhow::Result<i64> {
    if text == "-1" {
        return Ok(-1);
    }
    let lower = text.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (number, unit) = lower.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid size: '{text}'"))?;
    let unit = unit.trim_end_matches('b').trim_end_matches('i');
    let multiplier: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => bail!("invalid size: '{text}'"),
    };
    Ok((number * multiplier) as i64)
}

#[cfg(test)]
mod tests {
    use super::ram_in_bytes;

    #[test]
    fn sizes_like_go_units() {
        assert_eq!(ram_in_bytes("1024").unwrap(), 1024);
        assert_eq!(ram_in_bytes("64m").unwrap(), 64 << 20);
        assert_eq!(ram_in_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(ram_in_bytes("-1").unwrap(), -1);
        assert!(ram_in_bytes("12x").is_err());
    }
}
