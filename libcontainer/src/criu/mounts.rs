//! The mounts CRIU must be told about. A bind mount's source lies outside the
//! container's mount namespace, so CRIU cannot dump it: it is declared external at
//! dump time under a name (its destination, as runc names it) and mapped back to a host
//! path at restore time. The same goes for device nodes bound from the host and for
//! masked files (binds of /dev/null). Cgroup mounts are left to CRIU: berth mounts a
//! cgroup2 filesystem, not binds of host directories.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Mount, Spec};

use super::CriuError;
use crate::rootfs::{device_list, normalize, open_in_root, open_root, Create, MountOptions};

/// `(key, value)` of one CRIU `ext_mnt` entry.
pub(crate) type ExtMount = (String, String);

/// The name every masked file is recorded under, and the host file bound there again.
const MASK_SOURCE: &str = "/dev/null";

fn in_container(dest: &Path) -> String {
    format!("/{}", normalize(dest).display())
}

fn is_bind(m: &Mount) -> bool {
    MountOptions::of(m).is_bind()
}

fn device_paths(spec: &Spec) -> Vec<String> {
    device_list(spec)
        .map(|nodes| nodes.iter().map(|n| in_container(&n.path)).collect())
        .unwrap_or_default()
}

/// For a dump of the container whose init is `pid`: every bind mount, device node and
/// masked file, each under its own name.
pub(crate) fn dump_mounts(spec: &Spec, pid: i32) -> Vec<ExtMount> {
    let mut out: Vec<ExtMount> = spec
        .mounts()
        .iter()
        .flatten()
        .filter(|m| is_bind(m))
        .map(|m| {
            let dest = in_container(m.destination());
            (dest.clone(), dest)
        })
        .collect();
    // Masked files only (a masked directory is a tmpfs CRIU dumps); whether it is one is
    // asked of the container's view, as the path may not exist in the rootfs directory.
    for path in masked_paths(spec) {
        let seen = PathBuf::from(format!("/proc/{pid}/root")).join(normalize(Path::new(&path)));
        match std::fs::metadata(&seen) {
            Ok(meta) if !meta.is_dir() => {
                out.push((in_container(Path::new(&path)), MASK_SOURCE.into()))
            }
            _ => {}
        }
    }
    out.extend(device_paths(spec).into_iter().map(|p| (p.clone(), p)));
    out
}

/// For a restore: each name recorded at dump time, mapped to the host path bound there.
pub(crate) fn restore_mounts(spec: &Spec, bundle: &Path) -> Vec<ExtMount> {
    let mut out: Vec<ExtMount> = spec
        .mounts()
        .iter()
        .flatten()
        .filter(|m| is_bind(m))
        .filter_map(|m| {
            let source = bundle.join(m.source().as_deref()?);
            Some((in_container(m.destination()), source.display().to_string()))
        })
        .collect();
    if !masked_paths(spec).is_empty() {
        out.push((MASK_SOURCE.into(), MASK_SOURCE.into()));
    }
    out.extend(device_paths(spec).into_iter().map(|p| (p.clone(), p)));
    out
}

fn masked_paths(spec: &Spec) -> Vec<String> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.masked_paths().clone())
        .unwrap_or_default()
}

/// CRIU restores mounts onto mount points it expects to exist in the rootfs: a rootfs
/// fresh from an image may lack them. Each mount's destination is made (a directory, or
/// a file for a bind of a file) inside the rootfs, as the create path would, except
/// where it lies inside another mount of the container (a tmpfs, proc, sysfs): those are
/// restored with their contents, and the rootfs directory beneath must not change.
pub(crate) fn make_restore_mountpoints(
    spec: &Spec,
    rootfs: &Path,
    bundle: &Path,
) -> Result<(), CriuError> {
    let mounts: Vec<&Mount> = spec.mounts().iter().flatten().collect();
    let root = open_root(rootfs)
        .map_err(|e| CriuError::sys(format!("open rootfs {}", rootfs.display()), e))?;
    let cgroupns = spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .is_some_and(|ns| ns.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup));
    for m in &mounts {
        let dest = normalize(m.destination());
        let nested = mounts.iter().any(|other| {
            let outer = normalize(other.destination());
            !is_bind(other) && outer != dest && dest.starts_with(&outer)
        });
        if nested || (cgroupns && m.typ().as_deref() == Some("cgroup")) {
            continue;
        }
        let file = is_bind(m)
            && m.source()
                .as_deref()
                .and_then(|s| std::fs::metadata(bundle.join(s)).ok())
                .is_some_and(|meta| !meta.is_dir());
        let create = if file { Create::File } else { Create::Dir };
        open_in_root(std::os::fd::AsFd::as_fd(&root), &dest, create).map_err(|e| {
            CriuError::sys(
                format!(
                    "make mount point {} in {}",
                    in_container(&dest),
                    rootfs.display()
                ),
                e,
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: &str) -> Spec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn binds_and_devices_are_external() {
        let s = spec(
            r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
               "mounts":[{"destination":"/proc","type":"proc","source":"proc"},
                         {"destination":"/data/","type":"none","source":"vol","options":["rbind","ro"]}],
               "linux":{"maskedPaths":["/proc/kcore"],
                        "devices":[{"path":"/dev/fuse","type":"c","major":10,"minor":229}]}}"#,
        );
        let restore = restore_mounts(&s, Path::new("/b"));
        assert!(restore.contains(&("/data".into(), "/b/vol".into())));
        assert!(restore.contains(&("/dev/null".into(), "/dev/null".into())));
        assert!(restore.contains(&("/dev/fuse".into(), "/dev/fuse".into())));
        assert!(!restore.iter().any(|(k, _)| k == "/proc"));
        let dump = dump_mounts(&s, std::process::id() as i32);
        assert!(dump.contains(&("/data".into(), "/data".into())));
        assert!(dump.contains(&("/dev/fuse".into(), "/dev/fuse".into())));
    }
}
