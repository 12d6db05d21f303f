//! Unit properties for a container, as runc's systemd driver sets them: the resources
//! systemd knows (so that systemd, which owns the unit, keeps them when it re-applies its
//! own settings), device rules, and `org.systemd.property.NAME` annotations passed through.
//! What systemd has no property for is written through cgroupfs after the unit starts.

use std::collections::HashMap;

use oci_spec::runtime::LinuxResources;

use super::bus::{Property, Value};
use crate::cgroups::convert::{blkio_weight_to_io_weight, shares_to_weight, swap_to_v2};
use crate::cgroups::devices::{self, Rule};

const ANNOTATION_PREFIX: &str = "org.systemd.property.";
const DEFAULT_PERIOD: u64 = 100_000;

fn prop(name: &str, value: Value) -> Property {
    (name.to_string(), value)
}

/// A negative limit is "no limit".
fn limit(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Properties for `r` on cgroup v2 (`unified`) or v1.
pub(crate) fn for_resources(r: &LinuxResources, unified: bool) -> Result<Vec<Property>, String> {
    let mut props = Vec::new();
    if let Some(m) = r.memory() {
        let memory = m.limit().unwrap_or(0);
        if memory != 0 {
            let name = if unified { "MemoryMax" } else { "MemoryLimit" };
            props.push(prop(name, Value::U64(limit(memory))));
        }
        if unified {
            if let Some(low) = m.reservation().filter(|&v| v != 0) {
                props.push(prop("MemoryLow", Value::U64(limit(low))));
            }
            let swap = swap_to_v2(m.swap().unwrap_or(0), memory).map_err(String::from)?;
            if swap != 0 {
                props.push(prop("MemorySwapMax", Value::U64(limit(swap))));
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(shares) = c.shares().filter(|&s| s != 0) {
            if unified {
                props.push(prop("CPUWeight", Value::U64(shares_to_weight(shares))));
            } else {
                props.push(prop("CPUShares", Value::U64(shares)));
            }
        }
        cpu_quota(
            &mut props,
            c.quota().unwrap_or(0),
            c.period().unwrap_or(0),
            unified,
        );
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            let bits = range_to_bits(cpus)
                .map_err(|e| format!("resources.CPU.Cpus={cpus:?} conversion error: {e}"))?;
            props.push(prop("AllowedCPUs", Value::Bytes(bits)));
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            let bits = range_to_bits(mems)
                .map_err(|e| format!("resources.CPU.Mems={mems:?} conversion error: {e}"))?;
            props.push(prop("AllowedMemoryNodes", Value::Bytes(bits)));
        }
    }
    if let Some(p) = r.pids() {
        if p.limit() > 0 || p.limit() == -1 {
            props.push(prop("TasksMax", Value::U64(limit(p.limit()))));
        }
    }
    if let Some(weight) = r.block_io().as_ref().and_then(|b| b.weight()) {
        if weight != 0 {
            if unified {
                let w = blkio_weight_to_io_weight(u64::from(weight));
                props.push(prop("IOWeight", Value::U64(w)));
            } else {
                props.push(prop("BlockIOWeight", Value::U64(u64::from(weight))));
            }
        }
    }
    if unified {
        for (key, value) in r.unified().iter().flatten() {
            unified_property(&mut props, key, value.trim())?;
        }
    }
    Ok(props)
}

/// CPUQuotaPerSecUSec (rounded up to systemd's 10 ms granularity) and CPUQuotaPeriodUSec.
fn cpu_quota(props: &mut Vec<Property>, quota: i64, period: u64, unified: bool) {
    if period != 0 && unified {
        props.push(prop("CPUQuotaPeriodUSec", Value::U64(period)));
    }
    if quota == 0 && period == 0 {
        return;
    }
    let mut per_sec = u64::MAX;
    if quota > 0 {
        let period = if period == 0 { DEFAULT_PERIOD } else { period };
        per_sec = (quota as u64).saturating_mul(1_000_000) / period;
        if per_sec % 10_000 != 0 {
            per_sec = (per_sec / 10_000 + 1) * 10_000;
        }
    }
    props.push(prop("CPUQuotaPerSecUSec", Value::U64(per_sec)));
}

/// The `unified` keys systemd has a property for; the rest only go to cgroupfs.
fn unified_property(props: &mut Vec<Property>, key: &str, value: &str) -> Result<(), String> {
    let number = |v: &str| -> Result<u64, String> {
        if v == "max" {
            return Ok(u64::MAX);
        }
        v.parse::<u64>()
            .map_err(|e| format!("unified resource {key:?} value conversion error: {e}"))
    };
    let name = match key {
        "memory.high" => "MemoryHigh",
        "memory.low" => "MemoryLow",
        "memory.min" => "MemoryMin",
        "memory.max" => "MemoryMax",
        "memory.swap.max" => "MemorySwapMax",
        "pids.max" => "TasksMax",
        "cpu.weight" => "CPUWeight",
        "cpuset.cpus" | "cpuset.mems" => {
            let bits = range_to_bits(value)
                .map_err(|e| format!("unified resource {key:?}={value:?} conversion error: {e}"))?;
            let name = if key == "cpuset.cpus" {
                "AllowedCPUs"
            } else {
                "AllowedMemoryNodes"
            };
            props.push(prop(name, Value::Bytes(bits)));
            return Ok(());
        }
        "cpu.max" => {
            let fields: Vec<&str> = value.split_whitespace().collect();
            if fields.is_empty() || fields.len() > 2 {
                return Err(format!("unified resource {key:?} value invalid: {value:?}"));
            }
            let quota = match fields[0] {
                "max" => 0,
                q => q
                    .parse::<i64>()
                    .map_err(|e| format!("unified resource {key:?} value conversion error: {e}"))?,
            };
            let period = match fields.get(1) {
                Some(p) => number(p)?,
                None => DEFAULT_PERIOD,
            };
            cpu_quota(props, quota, period, true);
            return Ok(());
        }
        _ => return Ok(()),
    };
    props.push(prop(name, Value::U64(number(value)?)));
    Ok(())
}

/// `0-2,7` → the bitmask systemd takes for AllowedCPUs: bit n of byte n/8.
pub(crate) fn range_to_bits(list: &str) -> Result<Vec<u8>, String> {
    let mut bits: Vec<u8> = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let parse = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| format!("invalid range {part:?}"))
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi || hi >= 1 << 16 {
            return Err(format!("invalid range {part:?}"));
        }
        for n in lo..=hi {
            if bits.len() <= n / 8 {
                bits.resize(n / 8 + 1, 0);
            }
            bits[n / 8] |= 1 << (n % 8);
        }
    }
    if bits.is_empty() {
        return Err("empty list".into());
    }
    Ok(bits)
}

/// DevicePolicy and DeviceAllow for the container's device rules: systemd's own device
/// filter then agrees with ours (runc sets both too).
pub(crate) fn for_devices(rules: &[Rule]) -> Vec<Property> {
    let (allow_all, rules) = devices::effective(rules);
    if allow_all && rules.iter().all(|r| r.allow) {
        return vec![prop("DevicePolicy", Value::Str("auto".into()))];
    }
    let mut allow = Vec::new();
    for r in rules.iter().filter(|r| r.allow) {
        let access = devices::access_text(r.access);
        let kind = match r.kind {
            'c' => "char",
            'b' => "block",
            _ => {
                allow.push(("char-*".to_string(), access.clone()));
                allow.push(("block-*".to_string(), access));
                continue;
            }
        };
        let entry = match (r.major, r.minor) {
            (Some(major), Some(minor)) => format!("/dev/{kind}/{major}:{minor}"),
            (Some(major), None) => match device_group(kind, major) {
                Some(name) => format!("{kind}-{name}"),
                None => continue,
            },
            (None, _) => format!("{kind}-*"),
        };
        allow.push((entry, access));
    }
    vec![
        prop("DevicePolicy", Value::Str("strict".into())),
        prop("DeviceAllow", Value::Pairs(allow)),
    ]
}

/// The driver name /proc/devices gives a major number (`136` → `pts`).
fn device_group(kind: &str, major: i64) -> Option<String> {
    let text = std::fs::read_to_string("/proc/devices").ok()?;
    let section = if kind == "char" {
        "Character devices:"
    } else {
        "Block devices:"
    };
    let mut inside = false;
    for line in text.lines() {
        if line.ends_with("devices:") {
            inside = line == section;
            continue;
        }
        if !inside {
            continue;
        }
        let mut f = line.split_whitespace();
        if f.next().and_then(|m| m.parse::<i64>().ok()) == Some(major) {
            return f.next().map(str::to_string);
        }
    }
    None
}

/// `org.systemd.property.NAME` annotations as properties; `NAMESec` becomes `NAMEUSec`
/// with the value in microseconds, as runc does.
pub(crate) fn from_annotations(
    annotations: &HashMap<String, String>,
) -> Result<Vec<Property>, String> {
    let mut props = Vec::new();
    let mut keys: Vec<&String> = annotations.keys().collect();
    keys.sort();
    for key in keys {
        let Some(name) = key.strip_prefix(ANNOTATION_PREFIX) else {
            continue;
        };
        let text = &annotations[key];
        if name.is_empty()
            || !name.bytes().all(|b| b.is_ascii_alphanumeric())
            || !name.as_bytes()[0].is_ascii_uppercase()
        {
            return Err(format!(
                "annotation {key} name incorrect: must be an ASCII name starting with an uppercase letter"
            ));
        }
        let mut value = parse_value(text)
            .ok_or_else(|| format!("annotation {key}={text} value parse error"))?;
        let mut name = name.to_string();
        if let Some(stem) = name.strip_suffix("Sec") {
            if stem.ends_with(|c: char| c.is_ascii_lowercase()) {
                value = seconds_to_usec(value).ok_or_else(|| {
                    format!("annotation {key}={text} value parse error: not a number")
                })?;
                name = format!("{stem}USec");
            }
        }
        props.push((name, value));
    }
    Ok(props)
}

/// The GVariant text forms annotations use: `true`, `'text'`, `"text"`, `uint64 5`,
/// `uint32 5`, `int64 -1`, `int32 1`, a bare integer (int32), `['a', 'b']`.
fn parse_value(text: &str) -> Option<Value> {
    let t = text.trim();
    match t {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        _ => {}
    }
    if let Some(s) = unquote(t) {
        return Some(Value::Str(s));
    }
    if let Some(list) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        let items: Option<Vec<String>> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(unquote)
            .collect();
        return items.map(Value::Strs);
    }
    if let Some((ty, n)) = t.split_once(' ') {
        let n = n.trim();
        return match ty {
            "uint64" => n.parse().ok().map(Value::U64),
            "uint32" => n.parse().ok().map(Value::U32),
            "int64" => n.parse().ok().map(Value::I64),
            "int32" => n.parse().ok().map(Value::I32),
            _ => None,
        };
    }
    t.parse().ok().map(Value::I32)
}

fn unquote(t: &str) -> Option<String> {
    ['\'', '"'].iter().find_map(|q| {
        t.strip_prefix(*q)
            .and_then(|r| r.strip_suffix(*q))
            .map(str::to_string)
    })
}

fn seconds_to_usec(v: Value) -> Option<Value> {
    let secs = match v {
        Value::U64(n) => n,
        Value::U32(n) => u64::from(n),
        Value::I64(n) => u64::try_from(n).ok()?,
        Value::I32(n) => u64::try_from(n).ok()?,
        _ => return None,
    };
    Some(Value::U64(secs.saturating_mul(1_000_000)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(json: serde_json::Value) -> LinuxResources {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn v2_resources_become_properties() {
        let r = resources(serde_json::json!({
            "memory": {"limit": 33554432, "reservation": 1048576, "swap": 67108864},
            "cpu": {"shares": 1024, "quota": 50000, "period": 100000, "cpus": "0-1", "mems": "0"},
            "pids": {"limit": 64},
            "blockIO": {"weight": 500}
        }));
        let props = for_resources(&r, true).unwrap();
        let want = vec![
            prop("MemoryMax", Value::U64(33554432)),
            prop("MemoryLow", Value::U64(1048576)),
            prop("MemorySwapMax", Value::U64(33554432)),
            prop("CPUWeight", Value::U64(100)),
            prop("CPUQuotaPeriodUSec", Value::U64(100000)),
            prop("CPUQuotaPerSecUSec", Value::U64(500000)),
            prop("AllowedCPUs", Value::Bytes(vec![3])),
            prop("AllowedMemoryNodes", Value::Bytes(vec![1])),
            prop("TasksMax", Value::U64(64)),
            prop("IOWeight", Value::U64(4950)),
        ];
        assert_eq!(props, want);
    }

    #[test]
    fn quota_rounds_up_to_ten_ms_and_unlimited_is_max() {
        let mut p = Vec::new();
        cpu_quota(&mut p, 12345, 100000, true);
        assert_eq!(p[1], prop("CPUQuotaPerSecUSec", Value::U64(130000)));
        let mut p = Vec::new();
        cpu_quota(&mut p, -1, 0, true);
        assert_eq!(p, vec![prop("CPUQuotaPerSecUSec", Value::U64(u64::MAX))]);
        let r = resources(
            serde_json::json!({"unified": {"memory.high": "max", "cpu.max": "20000 100000"}}),
        );
        let props = for_resources(&r, true).unwrap();
        assert!(props.contains(&prop("MemoryHigh", Value::U64(u64::MAX))));
        assert!(props.contains(&prop("CPUQuotaPerSecUSec", Value::U64(200000))));
    }

    #[test]
    fn cpu_lists_become_bitmasks() {
        assert_eq!(range_to_bits("0-2,7").unwrap(), vec![0b1000_0111]);
        assert_eq!(range_to_bits("9").unwrap(), vec![0, 2]);
        assert!(range_to_bits("3-1").is_err());
        assert!(range_to_bits("x").is_err());
    }

    #[test]
    fn annotations_pass_through() {
        let a: HashMap<String, String> = [
            ("org.systemd.property.TimeoutStopSec", "uint64 7"),
            ("org.systemd.property.CollectMode", "'inactive-or-failed'"),
            ("org.systemd.property.CPUAccounting", "true"),
            ("other", "x"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let props = from_annotations(&a).unwrap();
        assert_eq!(
            props,
            vec![
                prop("CPUAccounting", Value::Bool(true)),
                prop("CollectMode", Value::Str("inactive-or-failed".into())),
                prop("TimeoutStopUSec", Value::U64(7_000_000)),
            ]
        );
        let bad: HashMap<String, String> =
            [("org.systemd.property.lower".to_string(), "1".to_string())].into();
        assert!(from_annotations(&bad)
            .unwrap_err()
            .contains("name incorrect"));
        let bad: HashMap<String, String> =
            [("org.systemd.property.X".to_string(), "uint64 x".to_string())].into();
        assert!(from_annotations(&bad)
            .unwrap_err()
            .contains("value parse error"));
    }

    #[test]
    fn default_device_rules_are_strict() {
        let rules = vec![
            Rule {
                allow: false,
                kind: 'a',
                major: None,
                minor: None,
                access: devices::ACCESS_ALL,
            },
            Rule {
                allow: true,
                kind: 'c',
                major: Some(1),
                minor: Some(3),
                access: devices::ACCESS_ALL,
            },
        ];
        let props = for_devices(&rules);
        assert_eq!(props[0], prop("DevicePolicy", Value::Str("strict".into())));
        assert_eq!(
            props[1],
            prop(
                "DeviceAllow",
                Value::Pairs(vec![("/dev/char/1:3".into(), "rwm".into())])
            )
        );
    }
}
