//! Value conversions between the OCI spec (v1 semantics) and cgroup v2 files, as runc
//! does them. Pure functions, unit-tested below.

/// cpu.shares (2..262144) → cpu.weight (1..10000). 0 means "unset". runc 1.3 and crun
/// use a quadratic in log2(shares) that maps the default 1024 onto the default 100 (the
/// linear map of runc 1.1 gave 39, starving containers next to systemd's own units).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    match shares {
        0 => 0,
        1..=2 => 1,
        262144.. => 10000,
        _ => {
            let l = (shares as f64).log2();
            let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
            10f64.powf(exponent).ceil() as u64
        }
    }
}

/// blkio.weight (10..1000) → io.weight (1..10000). 0 means "unset".
pub(crate) fn blkio_weight_to_io_weight(weight: u64) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (weight.saturating_sub(10)) * 9999 / 990
}

/// The `cpu.max` line for a quota and period (0 = unset); None when neither is set.
pub(crate) fn cpu_max(quota: i64, period: u64) -> Option<String> {
    if quota == 0 && period == 0 {
        return None;
    }
    let mut line = if quota > 0 {
        quota.to_string()
    } else {
        "max".to_string()
    };
    if period != 0 {
        line.push_str(&format!(" {period}"));
    }
    Some(line)
}

/// The spec's memory.swap is memory+swap (v1's memsw); v2's memory.swap.max is swap
/// alone. Returns the v2 value (-1 = max, 0 = leave unset).
pub(crate) fn swap_to_v2(swap: i64, memory: i64) -> Result<i64, &'static str> {
    if memory == -1 && swap == 0 {
        return Ok(-1);
    }
    if swap == -1 || swap == 0 {
        return Ok(swap);
    }
    if memory == 0 || memory == -1 {
        return Err("unable to set swap limit without memory limit");
    }
    if memory < 0 {
        return Err("invalid memory value");
    }
    if swap < memory {
        return Err("memory+swap limit should be >= memory limit");
    }
    Ok(swap - memory)
}

/// A limit where a negative number means "no limit": `max` on v2, `-1` on v1.
pub(crate) fn limit_v2(value: i64) -> String {
    if value < 0 {
        "max".into()
    } else {
        value.to_string()
    }
}

/// Parses a cgroup number where `max` means unlimited (u64::MAX).
pub(crate) fn parse_max(text: &str) -> Option<u64> {
    match text.trim() {
        "max" => Some(u64::MAX),
        t => t.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_onto_weight_like_runc() {
        assert_eq!(shares_to_weight(0), 0);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(512), 59);
        assert_eq!(shares_to_weight(100), 17);
        assert_eq!(shares_to_weight(262144), 10000);
    }

    #[test]
    fn blkio_weight_maps_onto_io_weight() {
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10000);
    }

    #[test]
    fn cpu_max_lines() {
        assert_eq!(cpu_max(0, 0), None);
        assert_eq!(cpu_max(50000, 100000).as_deref(), Some("50000 100000"));
        assert_eq!(cpu_max(-1, 100000).as_deref(), Some("max 100000"));
        assert_eq!(cpu_max(20000, 0).as_deref(), Some("20000"));
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(swap_to_v2(0, -1), Ok(-1));
        assert_eq!(swap_to_v2(-1, 100), Ok(-1));
        assert_eq!(swap_to_v2(0, 100), Ok(0));
        assert_eq!(swap_to_v2(300, 100), Ok(200));
        assert!(swap_to_v2(50, 100).is_err());
        assert!(swap_to_v2(50, 0).is_err());
    }

    #[test]
    fn max_parses() {
        assert_eq!(parse_max("max\n"), Some(u64::MAX));
        assert_eq!(parse_max("42\n"), Some(42));
    }
}
