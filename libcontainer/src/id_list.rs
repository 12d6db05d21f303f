//! The kernel's list format for CPUs and memory nodes ("0-3,7"), as cpuset files and
//! runtime-spec's `execCPUAffinity` and `memoryPolicy.nodes` write it.

/// The numbers in `text`, in the order given, each below `limit`; the error says what is
/// wrong with it (the caller names the field).
pub(crate) fn parse(text: &str, limit: usize) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in text.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let num = |s: &str| {
            s.trim()
                .parse::<usize>()
                .map_err(|_| format!("{s:?} is not a number"))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(format!("range {lo}-{hi} runs backwards"));
        }
        if hi >= limit {
            return Err(format!("{hi} is beyond {}", limit - 1));
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn lists() {
        assert_eq!(parse("0-2,5", 8), Ok(vec![0, 1, 2, 5]));
        assert_eq!(parse(" 3 ", 8), Ok(vec![3]));
        assert!(parse("3-1", 8).unwrap_err().contains("backwards"));
        assert!(parse("a", 8).unwrap_err().contains("not a number"));
        assert!(parse("8", 8).unwrap_err().contains("beyond 7"));
        assert!(parse("", 8).is_err());
    }
}
