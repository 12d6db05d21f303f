//! `mounts`, `linux.devices` and `linux.rootfsPropagation`: filesystem types this kernel
//! can mount, bind sources that exist, idmapped mounts the source filesystem accepts,
//! and device nodes `mknod` can make.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Mount, Spec};

use super::{Bundle, Report};
use crate::rootfs::{wants_idmap, MountOptions};

pub(super) fn check(b: &Bundle, r: &mut Report) {
    let filesystems = Filesystems::load();
    for (i, m) in b.spec.mounts().iter().flatten().enumerate() {
        let mut opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
        let typ = m.typ().as_deref().unwrap_or("");
        if typ == "bind" {
            opts.flags.insert(nix::mount::MsFlags::MS_BIND);
        }
        if opts.is_bind() {
            let Some(src) = source(b.dir, m) else {
                r.error(
                    format!("mounts[{i}].source"),
                    "a bind mount needs a source",
                    "the host path to bind into the container",
                );
                continue;
            };
            if let Err(e) = std::fs::metadata(&src) {
                r.error(
                    format!("mounts[{i}].source"),
                    format!("{}: {}", src.display(), crate::errno::SysError::from(e)),
                    "an existing host path (relative paths start at the bundle directory)",
                );
                continue;
            }
            if wants_idmap(m, &opts) {
                idmapped(b.spec, i, m, r);
            }
        } else {
            if wants_idmap(m, &opts) {
                r.error(
                    format!("mounts[{i}].options"),
                    "idmapped mounts are only supported for bind mounts",
                    "add \"bind\" or \"rbind\" to options, or drop idmap and the mount's uid/gid mappings",
                );
            }
            if !typ.is_empty() && !filesystems.knows(typ) {
                r.error(
                    format!("mounts[{i}].type"),
                    format!(
                        "this kernel cannot mount {typ:?} (not in /proc/filesystems, no module)"
                    ),
                    "a filesystem type listed in /proc/filesystems, or \"bind\" with a source",
                );
            }
        }
    }
    if let Err(e) = crate::rootfs::root_propagation(b.spec) {
        r.error(
            "linux.rootfsPropagation",
            e.to_string(),
            "one of shared, slave, private, unbindable (or rshared, rslave, rprivate, runbindable)",
        );
    }
    let devices = b.spec.linux().as_ref().and_then(|l| l.devices().as_ref());
    for (i, d) in devices.into_iter().flatten().enumerate() {
        if let Err(e) = crate::rootfs::node_from_spec(d) {
            r.error(
                format!("linux.devices[{i}]"),
                format!("cannot make the node: {e}"),
                "type c, b, u or p with major and minor numbers of 0 or more",
            );
        }
        if !d.path().starts_with("/dev") {
            r.warn(
                format!("linux.devices[{i}].path"),
                format!("{} is outside /dev", d.path().display()),
                "device nodes usually live under /dev",
            );
        }
    }
}

/// The bind source as the init resolves it: relative to the bundle directory.
fn source(bundle: &Path, m: &Mount) -> Option<PathBuf> {
    let src = m.source().as_deref()?;
    if src.as_os_str().is_empty() {
        return None;
    }
    Some(if src.is_absolute() {
        src.to_path_buf()
    } else {
        bundle.join(src)
    })
}

/// Makes the idmapped mount the way `create` does (detached, then dropped): whether the
/// source's filesystem accepts an idmap only the kernel knows.
fn idmapped(spec: &Spec, i: usize, m: &Mount, r: &mut Report) {
    let mut probe = spec.clone();
    probe.set_mounts(Some(vec![m.clone()]));
    if let Err(e) = crate::rootfs::open_idmapped(&probe) {
        r.error(
            format!("mounts[{i}]"),
            format!("idmapped mount refused: {e}"),
            "a source on a filesystem that supports idmapped mounts (ext4, xfs, btrfs, tmpfs), \
             with uidMappings and gidMappings on the mount or in linux",
        );
    }
}

/// The filesystem types this kernel has, or can load.
struct Filesystems {
    listed: Vec<String>,
    modules: String,
}

impl Filesystems {
    fn load() -> Filesystems {
        let listed = std::fs::read_to_string("/proc/filesystems")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_whitespace().last().map(str::to_string))
            .collect();
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let release = release.trim();
        let modules = std::fs::read_to_string(format!("/lib/modules/{release}/modules.dep"))
            .unwrap_or_default();
        Filesystems { listed, modules }
    }

    fn knows(&self, typ: &str) -> bool {
        // fuse.sshfs and the like are mounted as fuse.
        let base = typ.split('.').next().unwrap_or(typ);
        self.listed.iter().any(|f| f == base) || self.modules.contains(&format!("/{base}.ko"))
    }
}
