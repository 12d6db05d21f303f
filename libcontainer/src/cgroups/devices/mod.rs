//! Device access rules: the spec's `linux.resources.devices` plus the devices every
//! container gets (runc's AllowedDevices) and `linux.devices`, as one ordered list in
//! which a later rule overrides an earlier one. `v1` writes them to devices.allow/deny;
//! `bpf` compiles them into a cgroup v2 BPF_PROG_TYPE_CGROUP_DEVICE program.

pub(crate) mod bpf;
pub(crate) mod v1;

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, Spec};

/// One rule. `major`/`minor` None is a wildcard; `kind` 'a' matches both b and c.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    pub kind: char,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    /// Bit set of ACCESS_{READ,WRITE,MKNOD}.
    pub access: u32,
}

pub(crate) const ACCESS_MKNOD: u32 = 1;
pub(crate) const ACCESS_READ: u32 = 2;
pub(crate) const ACCESS_WRITE: u32 = 4;
pub(crate) const ACCESS_ALL: u32 = ACCESS_MKNOD | ACCESS_READ | ACCESS_WRITE;

/// runc's AllowedDevices (libcontainer/specconv): type, major, minor (-1 = any), access.
const DEFAULT_ALLOWED: &[(char, i64, i64, &str)] = &[
    ('c', -1, -1, "m"),
    ('b', -1, -1, "m"),
    ('c', 1, 3, "rwm"),    // /dev/null
    ('c', 1, 8, "rwm"),    // /dev/random
    ('c', 1, 7, "rwm"),    // /dev/full
    ('c', 5, 0, "rwm"),    // /dev/tty
    ('c', 1, 5, "rwm"),    // /dev/zero
    ('c', 1, 9, "rwm"),    // /dev/urandom
    ('c', 136, -1, "rwm"), // /dev/pts/*
    ('c', 5, 2, "rwm"),    // /dev/ptmx
    ('c', 10, 200, "rwm"), // /dev/net/tun
];

impl Rule {
    pub(crate) fn is_wildcard_all(&self) -> bool {
        self.kind == 'a' && self.major.is_none() && self.minor.is_none()
    }

    /// The kernel's v1 syntax: `c 1:3 rwm`, `a *:* rwm`.
    pub(crate) fn v1_line(&self) -> String {
        let num = |n: Option<i64>| n.map_or("*".to_string(), |n| n.to_string());
        format!(
            "{} {}:{} {}",
            self.kind,
            num(self.major),
            num(self.minor),
            access_text(self.access)
        )
    }
}

pub(crate) fn access_text(access: u32) -> String {
    let mut s = String::new();
    for (bit, c) in [(ACCESS_READ, 'r'), (ACCESS_WRITE, 'w'), (ACCESS_MKNOD, 'm')] {
        if access & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// Parses `rwm`-style access; None for other letters.
pub(crate) fn parse_access(text: &str) -> Option<u32> {
    let mut access = 0;
    for c in text.chars() {
        access |= match c {
            'r' => ACCESS_READ,
            'w' => ACCESS_WRITE,
            'm' => ACCESS_MKNOD,
            _ => return None,
        };
    }
    Some(access)
}

fn wildcard(n: Option<i64>) -> Option<i64> {
    n.filter(|n| *n >= 0)
}

/// The bits of the letters r, w and m in `text`; other letters are ignored, as runc's
/// cgroup v1 code does (it reads access as a set of r, w and m), so "rwa" is "rw".
fn access_letters(text: &str) -> u32 {
    text.chars().fold(0, |bits, c| {
        bits | parse_access(&c.to_string()).unwrap_or(0)
    })
}

/// Converts one spec rule; an empty access means "rwm", as in runc. A rule whose access
/// has none of r, w and m comes back with no access bits: it changes nothing.
pub(crate) fn from_spec(d: &LinuxDeviceCgroup) -> Result<Rule, String> {
    let kind = match d.typ().unwrap_or_default() {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => return Err("device type p (fifo) cannot be in a device rule".into()),
    };
    let text = d.access().as_deref().unwrap_or("");
    let access = if text.is_empty() {
        ACCESS_ALL
    } else {
        access_letters(text)
    };
    Ok(Rule {
        allow: d.allow(),
        kind,
        major: wildcard(d.major()),
        minor: wildcard(d.minor()),
        access,
    })
}

/// The full rule list for a container at create time: spec rules, then runc's default
/// allowed devices. A node in `linux.devices` is created in /dev but gets no rule of its
/// own, as in runc: access to it is what `linux.resources.devices` grants.
pub(crate) fn rules_for_create(spec: &Spec) -> Result<Vec<Rule>, String> {
    let linux = spec.linux().as_ref();
    let mut rules = Vec::new();
    if let Some(list) = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.devices().as_ref())
    {
        for d in list {
            let rule = from_spec(d)?;
            if rule.access != 0 {
                rules.push(rule);
            }
        }
    }
    for &(kind, major, minor, access) in DEFAULT_ALLOWED {
        rules.push(Rule {
            allow: true,
            kind,
            major: wildcard(Some(major)),
            minor: wildcard(Some(minor)),
            access: parse_access(access).unwrap_or(ACCESS_ALL),
        });
    }
    Ok(rules)
}

/// Drops every rule before the last "all devices" rule (it resets the state), returning
/// the default (allow everything?) and the rules that still matter, in order.
pub(crate) fn effective(rules: &[Rule]) -> (bool, &[Rule]) {
    match rules
        .iter()
        .rposition(|r| r.is_wildcard_all() && r.access == ACCESS_ALL)
    {
        Some(i) => (rules[i].allow, &rules[i + 1..]),
        None => (false, rules),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(allow: bool, kind: char, major: Option<i64>, minor: Option<i64>, a: &str) -> Rule {
        Rule {
            allow,
            kind,
            major,
            minor,
            access: parse_access(a).unwrap(),
        }
    }

    #[test]
    fn v1_lines() {
        assert_eq!(
            rule(true, 'c', Some(1), Some(3), "rwm").v1_line(),
            "c 1:3 rwm"
        );
        assert_eq!(rule(false, 'a', None, None, "rwm").v1_line(), "a *:* rwm");
        assert_eq!(
            rule(true, 'c', Some(136), None, "rw").v1_line(),
            "c 136:* rw"
        );
    }

    #[test]
    fn last_wildcard_resets() {
        let rules = [
            rule(true, 'c', Some(1), Some(3), "rwm"),
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', Some(1), Some(5), "r"),
        ];
        let (default, rest) = effective(&rules);
        assert!(!default);
        assert_eq!(rest, &rules[2..]);
    }

    #[test]
    fn bad_access_is_rejected() {
        assert_eq!(parse_access("rwx"), None);
        assert_eq!(access_letters("rwa"), ACCESS_READ | ACCESS_WRITE);
        assert_eq!(access_letters("x"), 0);
        assert_eq!(parse_access("mr"), Some(ACCESS_READ | ACCESS_MKNOD));
    }
}
