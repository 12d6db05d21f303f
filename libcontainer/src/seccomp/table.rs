//! Syscall name → number tables, one per ABI, kept as data (`tables/*.txt`, generated from
//! the kernel UAPI headers) and parsed once.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The x32 ABI marks its syscalls with this bit of the number (`__X32_SYSCALL_BIT`).
pub(crate) const X32_SYSCALL_BIT: u32 = 0x4000_0000;
pub(crate) const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
pub(crate) const AUDIT_ARCH_I386: u32 = 0x4000_0003;

/// A syscall ABI a filter section is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Abi {
    X86_64,
    X86,
    X32,
}

impl Abi {
    /// The number of `name` in this ABI (with the x32 bit for x32), if it has it.
    pub(crate) fn number(self, name: &str) -> Option<u32> {
        let n = *table(self).get(name)?;
        Some(if self == Abi::X32 {
            n | X32_SYSCALL_BIT
        } else {
            n
        })
    }
}

fn table(abi: Abi) -> &'static HashMap<&'static str, u32> {
    static X86_64: OnceLock<HashMap<&str, u32>> = OnceLock::new();
    static X86: OnceLock<HashMap<&str, u32>> = OnceLock::new();
    static X32: OnceLock<HashMap<&str, u32>> = OnceLock::new();
    match abi {
        Abi::X86_64 => X86_64.get_or_init(|| parse(include_str!("tables/x86_64.txt"))),
        Abi::X86 => X86.get_or_init(|| parse(include_str!("tables/x86.txt"))),
        Abi::X32 => X32.get_or_init(|| parse(include_str!("tables/x32.txt"))),
    }
}

/// `name number` lines; `#` starts a comment line.
fn parse(text: &'static str) -> HashMap<&'static str, u32> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (name, num) = l.split_once(' ')?;
            Some((name, num.trim().parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_parse_completely() {
        for (abi, text) in [
            (Abi::X86_64, include_str!("tables/x86_64.txt")),
            (Abi::X86, include_str!("tables/x86.txt")),
            (Abi::X32, include_str!("tables/x32.txt")),
        ] {
            let lines = text.lines().filter(|l| !l.starts_with('#')).count();
            assert_eq!(table(abi).len(), lines, "{abi:?}");
        }
    }

    #[test]
    fn known_numbers_match_libc() {
        assert_eq!(Abi::X86_64.number("getpid"), Some(libc::SYS_getpid as u32));
        assert_eq!(Abi::X86_64.number("openat"), Some(libc::SYS_openat as u32));
        assert_eq!(Abi::X86.number("getpid"), Some(20));
        assert_eq!(Abi::X32.number("read"), Some(X32_SYSCALL_BIT));
        assert_eq!(Abi::X86_64.number("no_such_syscall"), None);
        assert_eq!(Abi::X86_64.number("socketcall"), None);
    }
}
