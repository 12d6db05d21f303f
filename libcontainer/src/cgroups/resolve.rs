//! Turning `linux.cgroupsPath` into one directory per hierarchy, the way runc's cgroupfs
//! driver does. Pure: takes the layout and the caller's own cgroups as data.
//!
//! What runc 1.1 does (observed on a hybrid host, caller's memory cgroup `/p/h`):
//! - absolute `/a/b`: `<mount>/a/b` in every hierarchy;
//! - relative `x/y`: v1 `<mount>/<own cgroup>/x/y` (memory: `/p/h/x/y`), but the hybrid
//!   unified hierarchy gets `<unified>/x/y` (not relative to the caller);
//! - pure v2, relative: under the PARENT of the caller's own cgroup (the caller's own
//!   cgroup usually has processes, so controllers cannot be delegated below it);
//! - no cgroupsPath: the container id, relative.

use std::path::{Component, Path, PathBuf};

use super::layout::{Layout, Mode, OwnCgroup};
use super::{v1, Cgroup, CgroupError, Hierarchy};

pub(crate) fn resolve(
    layout: &Layout,
    own: &[OwnCgroup],
    cgroups_path: Option<&Path>,
    id: &str,
) -> Result<Cgroup, CgroupError> {
    let requested = cgroups_path.filter(|p| !p.as_os_str().is_empty());
    let inner = match requested {
        Some(p) => {
            if is_systemd_style(p) {
                return Err(CgroupError::SystemdPath {
                    path: p.to_path_buf(),
                });
            }
            clean(p)
        }
        None => clean(Path::new(id)),
    };
    let shown = requested.map_or_else(|| PathBuf::from(id), Path::to_path_buf);
    if inner.as_os_str().is_empty() || inner == Path::new("/") {
        return Err(CgroupError::InvalidPath {
            path: shown,
            reason: "names no cgroup below the hierarchy's root",
        });
    }
    let absolute = inner.is_absolute();
    // `inner` without its leading `/`, to join under a mountpoint.
    let tail = inner.strip_prefix("/").unwrap_or(&inner).to_path_buf();

    let mut hierarchies = Vec::new();
    if layout.mode != Mode::V2 {
        for mount in &layout.v1 {
            let Some(own_entry) = mount.controllers(own) else {
                continue;
            };
            if !own_entry
                .controllers
                .iter()
                .any(|c| v1::SUBSYSTEMS.contains(&c.as_str()))
            {
                continue;
            }
            let dir = if absolute {
                mount.mountpoint.join(&tail)
            } else {
                let rel = own_entry.path.strip_prefix(&mount.root).map_err(|_| {
                    CgroupError::OwnCgroup {
                        hierarchy: mount.mountpoint.clone(),
                        reason: format!(
                            "own cgroup {} is outside the mount's root {}",
                            own_entry.path.display(),
                            mount.root.display()
                        ),
                    }
                })?;
                mount.mountpoint.join(rel).join(&tail)
            };
            hierarchies.push(Hierarchy {
                controllers: own_entry.controllers.clone(),
                mount: mount.mountpoint.clone(),
                dir,
            });
        }
        if !hierarchies.iter().any(|h| h.has(v1::REQUIRED)) {
            return Err(CgroupError::MissingController {
                controller: v1::REQUIRED,
            });
        }
    }
    if let Some(unified) = &layout.unified {
        let dir = if absolute || layout.mode == Mode::Hybrid {
            unified.mountpoint.join(&tail)
        } else {
            let own_entry = own
                .iter()
                .find(|o| o.controllers.is_empty())
                .ok_or_else(|| CgroupError::OwnCgroup {
                    hierarchy: unified.mountpoint.clone(),
                    reason: "no \"0::\" line in /proc/self/cgroup".into(),
                })?;
            let parent = own_entry.path.parent().unwrap_or(Path::new("/"));
            let parent = parent.strip_prefix("/").unwrap_or(parent);
            unified.mountpoint.join(parent).join(&tail)
        };
        hierarchies.push(Hierarchy {
            controllers: Vec::new(),
            mount: unified.mountpoint.clone(),
            dir,
        });
    }

    let mut cgroup = Cgroup {
        mode: layout.mode,
        path: PathBuf::new(),
        hierarchies,
        unit: None,
    };
    let primary = cgroup.primary().ok_or(CgroupError::NoHierarchies)?;
    let rel = primary
        .dir
        .strip_prefix(&primary.mount)
        .unwrap_or(&primary.dir);
    cgroup.path = Path::new("/").join(rel);
    Ok(cgroup)
}

/// The systemd driver's placement: the unit's cgroup (slice path + unit name) below the
/// manager's own cgroup (`/` for the system's, `/user.slice/user-1000.slice/user@1000.service`
/// for a user's), under every hierarchy's mount, as runc 1.3 computes it.
pub(crate) fn resolve_systemd(
    layout: &Layout,
    placement: super::systemd::path::Placement,
    user: bool,
    manager_cgroup: &Path,
) -> Result<Cgroup, CgroupError> {
    let inner = manager_cgroup.join(
        placement
            .cgroup
            .strip_prefix("/")
            .unwrap_or(&placement.cgroup),
    );
    let tail = inner.strip_prefix("/").unwrap_or(&inner).to_path_buf();
    let mut hierarchies = Vec::new();
    if layout.mode != Mode::V2 {
        for mount in &layout.v1 {
            let controllers: Vec<String> = mount
                .options
                .iter()
                .filter(|o| v1::SUBSYSTEMS.contains(&o.as_str()))
                .cloned()
                .collect();
            if controllers.is_empty() {
                continue;
            }
            hierarchies.push(Hierarchy {
                controllers,
                mount: mount.mountpoint.clone(),
                dir: mount.mountpoint.join(&tail),
            });
        }
    }
    if let Some(unified) = &layout.unified {
        hierarchies.push(Hierarchy {
            controllers: Vec::new(),
            mount: unified.mountpoint.clone(),
            dir: unified.mountpoint.join(&tail),
        });
    }
    let mut cgroup = Cgroup {
        mode: layout.mode,
        path: inner,
        hierarchies,
        unit: Some(super::systemd::Unit {
            name: placement.unit,
            slice: placement.slice,
            user,
        }),
    };
    if cgroup.primary().is_none() {
        return Err(CgroupError::NoHierarchies);
    }
    cgroup.path = Path::new("/").join(&tail);
    Ok(cgroup)
}

/// runc's systemd driver takes `slice:prefix:name`; the cgroupfs driver would take it as a
/// directory name, which is never what the user meant.
fn is_systemd_style(p: &Path) -> bool {
    let s = p.to_string_lossy();
    !s.starts_with('/') && s.split(':').count() == 3
}

/// Lexical clean as runc's `utils.CleanPath`: `.` and `..` resolved without leaving the
/// root, so a relative path can never climb above the caller's cgroup.
pub(crate) fn clean(p: &Path) -> PathBuf {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::ParentDir => {
                parts.pop();
            }
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
        }
    }
    let mut out = if p.is_absolute() {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    };
    out.extend(parts);
    out
}

#[cfg(test)]
mod tests {
    use super::super::layout::parse_proc_cgroup;
    use super::*;

    const HYBRID_MOUNTS: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices
37 31 0:39 / /sys/fs/cgroup/misc rw - cgroup cgroup rw,misc
40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
";
    const HYBRID_OWN: &str =
        "9:name=systemd:/\n8:misc:/\n5:devices:/d\n4:memory:/p/h\n2:cpu,cpuacct:/\n0::/u\n";

    fn run(mounts: &str, own: &str, path: Option<&str>) -> Result<Cgroup, CgroupError> {
        let layout = Layout::from_mountinfo(mounts)?;
        let own = parse_proc_cgroup(own, Path::new("test"))?;
        resolve(&layout, &own, path.map(Path::new), "cid")
    }

    fn dirs(cg: &Cgroup) -> Vec<String> {
        cg.hierarchies
            .iter()
            .map(|h| h.dir.display().to_string())
            .collect()
    }

    #[test]
    fn hybrid_absolute() {
        let cg = run(HYBRID_MOUNTS, HYBRID_OWN, Some("/a/../b/c")).unwrap();
        assert_eq!(
            dirs(&cg),
            [
                "/sys/fs/cgroup/cpu,cpuacct/b/c",
                "/sys/fs/cgroup/memory/b/c",
                "/sys/fs/cgroup/devices/b/c",
                "/sys/fs/cgroup/systemd/b/c",
                "/sys/fs/cgroup/unified/b/c",
            ]
        );
        assert_eq!(cg.path(), Path::new("/b/c"));
        assert_eq!(cg.hierarchies[0].controllers, ["cpu", "cpuacct"]);
    }

    #[test]
    fn hybrid_relative_and_default() {
        let cg = run(HYBRID_MOUNTS, HYBRID_OWN, Some("../../x/y")).unwrap();
        assert_eq!(
            dirs(&cg),
            [
                "/sys/fs/cgroup/cpu,cpuacct/x/y",
                "/sys/fs/cgroup/memory/p/h/x/y",
                "/sys/fs/cgroup/devices/d/x/y",
                "/sys/fs/cgroup/systemd/x/y",
                "/sys/fs/cgroup/unified/x/y",
            ]
        );
        assert_eq!(cg.path(), Path::new("/d/x/y"));
        let cg = run(HYBRID_MOUNTS, HYBRID_OWN, None).unwrap();
        assert_eq!(dirs(&cg)[1], "/sys/fs/cgroup/memory/p/h/cid");
        assert_eq!(cg, run(HYBRID_MOUNTS, HYBRID_OWN, Some("")).unwrap());
    }

    #[test]
    fn v2_relative_is_under_parent_of_own() {
        let mounts = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let own = "0::/user.slice/session-1.scope\n";
        let cg = run(mounts, own, Some("x")).unwrap();
        assert_eq!(dirs(&cg), ["/sys/fs/cgroup/user.slice/x"]);
        assert_eq!(cg.path(), Path::new("/user.slice/x"));
        let cg = run(mounts, "0::/\n", None).unwrap();
        assert_eq!(dirs(&cg), ["/sys/fs/cgroup/cid"]);
        let cg = run(mounts, own, Some("/m/n")).unwrap();
        assert_eq!(dirs(&cg), ["/sys/fs/cgroup/m/n"]);
    }

    #[test]
    fn v1_mount_root_is_accounted_for() {
        let mounts =
            "36 31 0:33 /docker/abc /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n";
        let cg = run(mounts, "5:devices:/docker/abc\n", Some("k")).unwrap();
        assert_eq!(dirs(&cg), ["/sys/fs/cgroup/devices/k"]);
        assert!(matches!(
            run(mounts, "5:devices:/elsewhere\n", Some("k")),
            Err(CgroupError::OwnCgroup { .. })
        ));
    }

    #[test]
    fn rejects_bad_paths() {
        assert!(matches!(
            run(HYBRID_MOUNTS, HYBRID_OWN, Some("system.slice:docker:abc")),
            Err(CgroupError::SystemdPath { .. })
        ));
        for p in ["/", ".", "..", "/.."] {
            assert!(matches!(
                run(HYBRID_MOUNTS, HYBRID_OWN, Some(p)),
                Err(CgroupError::InvalidPath { .. })
            ));
        }
        let no_devices = "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
        assert!(matches!(
            run(no_devices, "4:memory:/\n", None),
            Err(CgroupError::MissingController {
                controller: "devices"
            })
        ));
    }

    #[test]
    fn clean_matches_runc() {
        assert_eq!(clean(Path::new("a/./b/../../../c")), Path::new("c"));
        assert_eq!(clean(Path::new("/a//b/")), Path::new("/a/b"));
        assert_eq!(clean(Path::new("/../..")), Path::new("/"));
    }
}
