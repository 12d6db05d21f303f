//! Rootless mode: `berth` run by an unprivileged user (or as root of a user namespace).
//!
//! - Detection follows runc's `--rootless=auto`: rootless when the effective uid is not 0,
//!   or when we run in a user namespace that does not map the whole id range.
//! - Id maps: an unprivileged process may only map its own uid/gid (and must deny
//!   setgroups to map its gid); anything more goes through the setuid helpers
//!   `newuidmap`/`newgidmap` (Debian's `uidmap`), which check /etc/subuid and /etc/subgid.
//! - Cgroups: a cgroup we may not create (EACCES/EPERM/EROFS) is skipped, as runc's
//!   rootless cgroup manager does; a delegated, writable one is used.

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::unistd::{getegid, geteuid, Pid};
use oci_spec::runtime::LinuxIdMapping;

use crate::error::{Error, Result};

/// The runtime's effective uid was not 0 when it spawned this process (runc's
/// `RootlessEUID`). Recorded by the parent before it clones; the child reads its copy.
static UNPRIVILEGED_RUNTIME: AtomicBool = AtomicBool::new(false);

/// Called by the runtime before it spawns a container process.
pub(crate) fn note_runtime_euid() {
    UNPRIVILEGED_RUNTIME.store(!geteuid().is_root(), Ordering::Relaxed);
}

/// In a container process: whether an unprivileged runtime spawned us.
pub(crate) fn spawned_unprivileged() -> bool {
    UNPRIVILEGED_RUNTIME.load(Ordering::Relaxed)
}

/// Whether we run without full privileges over the host (runc's rootless "auto").
pub(crate) fn is_rootless() -> bool {
    !geteuid().is_root() || in_user_namespace()
}

/// Whether this process runs in a user namespace other than the initial one: its
/// uid_map is not the identity over the whole range.
pub(crate) fn in_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map")
        .map(|s| {
            let f: Vec<&str> = s.split_whitespace().collect();
            f != ["0", "0", "4294967295"]
        })
        .unwrap_or(false)
}

/// Writes the uid and gid maps of `pid` (which has just made its user namespace).
pub(crate) fn write_id_maps(
    pid: Pid,
    uid_maps: &[LinuxIdMapping],
    gid_maps: &[LinuxIdMapping],
) -> Result<()> {
    let privileged = geteuid().is_root() && !in_user_namespace();
    if privileged || only_self(uid_maps, geteuid().as_raw()) {
        write_file(pid, "uid_map", uid_maps)?;
    } else {
        helper("newuidmap", pid, uid_maps)?;
    }
    if privileged {
        write_file(pid, "gid_map", gid_maps)
    } else if only_self(gid_maps, getegid().as_raw()) {
        // Mapping our own gid without CAP_SETGID requires setgroups to be denied first.
        let path = PathBuf::from(format!("/proc/{pid}/setgroups"));
        std::fs::write(&path, "deny").map_err(|e| Error::path(path, e))?;
        write_file(pid, "gid_map", gid_maps)
    } else {
        helper("newgidmap", pid, gid_maps)
    }
}

/// The one mapping an unprivileged process may write itself: its own id, size 1.
fn only_self(maps: &[LinuxIdMapping], id: u32) -> bool {
    matches!(maps, [m] if m.host_id() == id && m.size() == 1)
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

fn write_file(pid: Pid, file: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let path = PathBuf::from(format!("/proc/{pid}/{file}"));
    std::fs::write(&path, map_text(maps)).map_err(|e| Error::path(path, e))
}

/// `newuidmap PID CID HID SIZE...` (or newgidmap); its stderr becomes the error text.
fn helper(program: &str, pid: Pid, maps: &[LinuxIdMapping]) -> Result<()> {
    let mut cmd = Command::new(program);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.container_id().to_string(),
            m.host_id().to_string(),
            m.size().to_string(),
        ]);
    }
    let out = cmd
        .output()
        .map_err(|e| Error::sys(format!("run {program} (install uidmap)"), e))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr);
        return Err(Error::Start(format!(
            "{program} {pid}: {}",
            text.trim().lines().next().unwrap_or("failed")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(c: u32, h: u32, s: u32) -> LinuxIdMapping {
        serde_json::from_value(serde_json::json!({"containerID": c, "hostID": h, "size": s}))
            .unwrap()
    }

    #[test]
    fn only_own_id_is_written_directly() {
        assert!(only_self(&[map(0, 1000, 1)], 1000));
        assert!(!only_self(&[map(0, 1000, 2)], 1000));
        assert!(!only_self(&[map(0, 1001, 1)], 1000));
        assert!(!only_self(&[map(0, 1000, 1), map(1, 100000, 65536)], 1000));
        assert!(!only_self(&[], 1000));
    }

    #[test]
    fn map_lines() {
        assert_eq!(
            map_text(&[map(0, 1000, 1), map(1, 100000, 65536)]),
            "0 1000 1\n1 100000 65536\n"
        );
    }
}
