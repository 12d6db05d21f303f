//! User and group ids: the process's ids must be mapped in a new user namespace, and an
//! unprivileged runtime may only map what /etc/subuid and /etc/subgid grant it.

use oci_spec::runtime::{LinuxIdMapping, LinuxNamespaceType};

use super::{Bundle, Report};

pub(super) fn check(b: &Bundle, r: &mut Report) {
    let Some(linux) = b.spec.linux() else { return };
    let new_userns = linux
        .namespaces()
        .iter()
        .flatten()
        .any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let uids = linux.uid_mappings().as_deref().unwrap_or_default();
    let gids = linux.gid_mappings().as_deref().unwrap_or_default();
    if new_userns && !uids.is_empty() && !gids.is_empty() {
        if let Some(user) = b.spec.process().as_ref().map(|p| p.user()) {
            let unmapped = |maps: &[LinuxIdMapping], id: u32| !maps.iter().any(|m| inside(m, id));
            if unmapped(uids, user.uid()) {
                r.error(
                    "process.user.uid",
                    format!("uid {} is not mapped by linux.uidMappings", user.uid()),
                    "a uid inside one of the uidMappings' containerID ranges",
                );
            }
            if unmapped(gids, user.gid()) {
                r.error(
                    "process.user.gid",
                    format!("gid {} is not mapped by linux.gidMappings", user.gid()),
                    "a gid inside one of the gidMappings' containerID ranges",
                );
            }
            for (i, g) in user.additional_gids().iter().flatten().enumerate() {
                if unmapped(gids, *g) {
                    r.error(
                        format!("process.user.additionalGids[{i}]"),
                        format!("gid {g} is not mapped by linux.gidMappings"),
                        "only gids inside the gidMappings' containerID ranges",
                    );
                }
            }
        }
    }
    if new_userns && crate::rootless::is_rootless() {
        let euid = nix::unistd::geteuid().as_raw();
        let egid = nix::unistd::getegid().as_raw();
        subordinate("linux.uidMappings", uids, euid, "/etc/subuid", r);
        subordinate("linux.gidMappings", gids, egid, "/etc/subgid", r);
    }
}

fn inside(m: &LinuxIdMapping, id: u32) -> bool {
    id >= m.container_id() && u64::from(id) < u64::from(m.container_id()) + u64::from(m.size())
}

/// Without privilege a mapping is either our own id alone (written directly) or a range
/// newuidmap/newgidmap grant from `file`.
fn subordinate(field: &str, maps: &[LinuxIdMapping], own: u32, file: &str, r: &mut Report) {
    let name = user_name(own);
    let ranges = granted(file, own, name.as_deref());
    for (i, m) in maps.iter().enumerate() {
        if m.size() == 1 && m.host_id() == own {
            continue;
        }
        let start = u64::from(m.host_id());
        let end = start + u64::from(m.size());
        let ok = ranges.iter().any(|(s, n)| start >= *s && end <= s + n);
        if !ok {
            r.error(
                format!("{field}[{i}]"),
                format!(
                    "host ids {start}-{} are not granted to {} in {file}",
                    end.saturating_sub(1),
                    name.as_deref().unwrap_or("this user")
                ),
                format!("a range listed in {file}, or only your own id with size 1"),
            );
        }
    }
}

/// `(start, count)` ranges of `file` for the user (by name or number).
fn granted(file: &str, uid: u32, name: Option<&str>) -> Vec<(u64, u64)> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            let mine = who == uid.to_string() || Some(who) == name;
            mine.then(|| Some((start.parse().ok()?, count.parse().ok()?)))
                .flatten()
        })
        .collect()
}

fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[2] == uid.to_string()).then(|| f[0].to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_inclusive_of_their_start() {
        let m: LinuxIdMapping = serde_json::from_value(
            serde_json::json!({"containerID": 10, "hostID": 1000, "size": 5}),
        )
        .unwrap();
        assert!(inside(&m, 10) && inside(&m, 14));
        assert!(!inside(&m, 9) && !inside(&m, 15));
    }
}
