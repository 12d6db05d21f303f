//! `USER` / `-u`: `name`, `uid`, `name:group`, `uid:gid`, resolved against the image's
//! own /etc/passwd and /etc/group (read inside the rootfs, never the host's).

use std::path::Path;

use crate::error::{Error, Result};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct PwEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GrEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn read_in_rootfs(rootfs: &Path, rel: &str) -> String {
    crate::scoped::resolve(rootfs, Path::new(rel), true)
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

fn passwd(text: &str) -> Vec<PwEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PwEntry {
                name: f[0].into(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].into(),
            })
        })
        .collect()
}

fn groups(text: &str) -> Vec<GrEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GrEntry {
                name: f[0].into(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(Into::into)
                    .collect(),
            })
        })
        .collect()
}

/// Resolve `spec` (empty = root) against the files in `rootfs`.
pub fn resolve(rootfs: &Path, spec: &str) -> Result<ResolvedUser> {
    resolve_from(
        spec,
        &read_in_rootfs(rootfs, "etc/passwd"),
        &read_in_rootfs(rootfs, "etc/group"),
    )
}

pub fn resolve_from(spec: &str, passwd_text: &str, group_text: &str) -> Result<ResolvedUser> {
    let users = passwd(passwd_text);
    let grps = groups(group_text);
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = match u.parse::<u32>() {
        Ok(uid) => users.iter().find(|e| e.uid == uid),
        Err(_) => Some(users.iter().find(|e| e.name == u).ok_or_else(|| {
            Error::Usage(format!(
                "unable to find user {u}: no matching entries in passwd file"
            ))
        })?),
    };
    let uid = match entry {
        Some(e) => e.uid,
        None => u.parse().unwrap_or(0),
    };
    let mut gid = entry.map(|e| e.gid).unwrap_or(0);
    if let Some(g) = g {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => grps
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "unable to find group {g}: no matching entries in group file"
                    ))
                })?,
        };
    }
    let mut additional_gids = Vec::new();
    if let Some(e) = entry {
        for gr in &grps {
            if gr.members.contains(&e.name) && gr.gid != gid && !additional_gids.contains(&gr.gid) {
                additional_gids.push(gr.gid);
            }
        }
    }
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home: entry.map(|e| e.home.clone()).unwrap_or_else(|| "/".into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::busybox::{GROUP, PASSWD};

    #[test]
    fn resolves() {
        let r = resolve_from("", PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (0, 0, "/root"));
        let r = resolve_from("user", PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid), (1000, 1000));
        assert_eq!(r.additional_gids, vec![2000]);
        let r = resolve_from("user:extra", PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid), (1000, 2000));
        assert!(r.additional_gids.is_empty());
        let r = resolve_from("1234:55", PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid, r.home.as_str()), (1234, 55, "/"));
        let r = resolve_from("65534", PASSWD, GROUP).unwrap();
        assert_eq!((r.uid, r.gid), (65534, 65534));
        assert!(resolve_from("nosuch", PASSWD, GROUP)
            .unwrap_err()
            .to_string()
            .contains("nosuch"));
        assert!(resolve_from("user:nogrp", PASSWD, GROUP).is_err());
    }
}
