//! Which cgroup hierarchies this machine has and where they are mounted: parsed from
//! `/proc/self/mountinfo` once per process. Also the calling process's own cgroups
//! (`/proc/self/cgroup`), which relative `cgroupsPath`s are resolved against.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::CgroupError;

const MOUNTINFO: &str = "/proc/self/mountinfo";
const SELF_CGROUP: &str = "/proc/self/cgroup";
/// Where runc (and so Berth) expects the unified hierarchy on a pure v2 host.
pub(crate) const V2_ROOT: &str = "/sys/fs/cgroup";
/// Where the hybrid layout mounts the unified hierarchy.
const HYBRID_UNIFIED: &str = "/sys/fs/cgroup/unified";

/// The three layouts a host can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    /// Only v1 hierarchies.
    V1,
    /// v1 hierarchies for the controllers, plus cgroup2 at /sys/fs/cgroup/unified.
    Hybrid,
    /// cgroup2 at /sys/fs/cgroup, nothing else.
    V2,
}

/// One mounted hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// Where the hierarchy is mounted, e.g. `/sys/fs/cgroup/memory`.
    pub mountpoint: PathBuf,
    /// The cgroup (inside the hierarchy) that is the mount's root; `/` unless bind-mounted
    /// from a sub-cgroup (nested containers).
    pub root: PathBuf,
    /// The super options of a v1 mount (`cpu`, `cpuacct`, `name=systemd`, `xattr`, ...);
    /// empty for cgroup2. Controller names are picked out of these by matching
    /// `/proc/self/cgroup`.
    pub options: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Layout {
    pub mode: Mode,
    /// v1 hierarchies, first mount of each in mountinfo order.
    pub v1: Vec<Mount>,
    /// The cgroup2 mount (hybrid and v2).
    pub unified: Option<Mount>,
}

static LAYOUT: OnceLock<Layout> = OnceLock::new();

/// The host's layout, detected on first use and then reused for the life of the process.
pub(crate) fn layout() -> Result<&'static Layout, CgroupError> {
    if let Some(layout) = LAYOUT.get() {
        return Ok(layout);
    }
    let text = read_proc(MOUNTINFO)?;
    let layout = Layout::from_mountinfo(&text)?;
    Ok(LAYOUT.get_or_init(|| layout))
}

impl Layout {
    pub(crate) fn from_mountinfo(text: &str) -> Result<Layout, CgroupError> {
        let mut v1: Vec<Mount> = Vec::new();
        let mut cgroup2: Vec<Mount> = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let entry = crate::mountinfo::parse_line(line).ok_or_else(|| CgroupError::Parse {
                file: PathBuf::from(MOUNTINFO),
                line: line.to_string(),
            })?;
            match entry.fs_type.as_str() {
                "cgroup" => {
                    let mount = Mount {
                        mountpoint: entry.mount_point,
                        root: entry.root,
                        options: entry.super_options.split(',').map(str::to_string).collect(),
                    };
                    // The same hierarchy mounted twice: the first mount wins, as in runc.
                    if !v1.iter().any(|m| same_hierarchy(m, &mount)) {
                        v1.push(mount);
                    }
                }
                "cgroup2" => cgroup2.push(Mount {
                    mountpoint: entry.mount_point,
                    root: entry.root,
                    options: Vec::new(),
                }),
                _ => {}
            }
        }

        if let Some(unified) = cgroup2.iter().find(|m| m.mountpoint == Path::new(V2_ROOT)) {
            return Ok(Layout {
                mode: Mode::V2,
                v1: Vec::new(),
                unified: Some(unified.clone()),
            });
        }
        if v1.is_empty() {
            return Err(CgroupError::NoHierarchies);
        }
        let unified = cgroup2
            .iter()
            .find(|m| m.mountpoint == Path::new(HYBRID_UNIFIED))
            .or_else(|| cgroup2.first())
            .cloned();
        let mode = if unified.is_some() {
            Mode::Hybrid
        } else {
            Mode::V1
        };
        Ok(Layout { mode, v1, unified })
    }
}

fn same_hierarchy(a: &Mount, b: &Mount) -> bool {
    significant_options(a) == significant_options(b)
}

fn significant_options(m: &Mount) -> Vec<&str> {
    let mut o: Vec<&str> = m
        .options
        .iter()
        .map(String::as_str)
        .filter(|o| *o != "rw" && *o != "ro")
        .collect();
    o.sort_unstable();
    o
}

/// One line of `/proc/<pid>/cgroup`: `hierarchy-id:controller-list:path`; the
/// controllers are empty for the unified hierarchy.
pub(crate) use crate::mountinfo::CgroupLine as OwnCgroup;

/// The calling process's cgroups, read fresh each time (a process can be moved).
pub(crate) fn own_cgroups() -> Result<Vec<OwnCgroup>, CgroupError> {
    parse_proc_cgroup(&read_proc(SELF_CGROUP)?, Path::new(SELF_CGROUP))
}

/// Like [`crate::mountinfo::parse_proc_cgroup`], but a malformed line is an error: cgroup
/// placement must not guess.
pub(crate) fn parse_proc_cgroup(text: &str, file: &Path) -> Result<Vec<OwnCgroup>, CgroupError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            crate::mountinfo::parse_cgroup_line(line).ok_or_else(|| CgroupError::Parse {
                file: file.to_path_buf(),
                line: line.to_string(),
            })
        })
        .collect()
}

impl Mount {
    /// The controllers of this v1 hierarchy, as named in `/proc/self/cgroup`.
    pub(crate) fn controllers<'a>(&self, own: &'a [OwnCgroup]) -> Option<&'a OwnCgroup> {
        own.iter().find(|o| {
            !o.controllers.is_empty() && o.controllers.iter().all(|c| self.options.contains(c))
        })
    }
}

fn read_proc(file: &str) -> Result<String, CgroupError> {
    std::fs::read_to_string(file).map_err(|e| CgroupError::io("read", file, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
99 31 0:32 /sub /mnt/mem\\040x rw,relatime - cgroup cgroup rw,memory
";

    #[test]
    fn detects_hybrid() {
        let l = Layout::from_mountinfo(HYBRID).unwrap();
        assert_eq!(l.mode, Mode::Hybrid);
        assert_eq!(l.v1.len(), 3, "second memory mount is the same hierarchy");
        assert_eq!(
            l.unified.unwrap().mountpoint,
            Path::new("/sys/fs/cgroup/unified")
        );
    }

    #[test]
    fn detects_v2_and_v1() {
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        assert_eq!(Layout::from_mountinfo(v2).unwrap().mode, Mode::V2);
        let v1 = "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
        let l = Layout::from_mountinfo(v1).unwrap();
        assert_eq!(l.mode, Mode::V1);
        assert_eq!(l.v1[0].mountpoint, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert!(matches!(
            Layout::from_mountinfo("1 0 0:1 / / rw - ext4 /dev/x rw\n"),
            Err(CgroupError::NoHierarchies)
        ));
    }

    #[test]
    fn parses_proc_cgroup_and_matches_mounts() {
        let own = parse_proc_cgroup(
            "12:cpu,cpuacct:/a\n4:memory:/p/q\n1:name=systemd:/s\n0::/u\n",
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(own[3].controllers, Vec::<String>::new());
        let m = Mount {
            mountpoint: "/sys/fs/cgroup/cpu,cpuacct".into(),
            root: "/".into(),
            options: vec!["rw".into(), "cpu".into(), "cpuacct".into()],
        };
        assert_eq!(m.controllers(&own).unwrap().path, Path::new("/a"));
        assert!(parse_proc_cgroup("garbage\n", Path::new("x")).is_err());
    }
}
