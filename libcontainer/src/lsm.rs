//! Linux security modules: the AppArmor profile and SELinux label the user program is
//! exec'd with. Both are written to /proc before execve and take effect at it.

use std::path::Path;

use crate::error::{Error, Result};

/// Whether SELinux is enabled on this host (selinuxfs is mounted), as runc checks it.
pub(crate) fn selinux_enabled() -> bool {
    Path::new("/sys/fs/selinux/enforce").exists()
}

/// Whether AppArmor is enabled on this host; without it, applying a profile fails.
pub(crate) fn apparmor_enabled() -> bool {
    std::fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|s| s.trim() == "Y")
}

/// Has the next execve run under AppArmor profile `name`. runc does not check whether
/// AppArmor is enabled: without it the kernel refuses the write, and so do we, with
/// runc's text.
pub(crate) fn apply_apparmor(name: Option<&str>) -> Result<()> {
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return Ok(());
    };
    // Kernels with LSM stacking have a per-LSM file; older ones only the shared one.
    let path = if Path::new("/proc/self/attr/apparmor/exec").exists() {
        "/proc/self/attr/apparmor/exec"
    } else {
        "/proc/self/attr/exec"
    };
    std::fs::write(path, format!("exec {name}")).map_err(|e| {
        Error::Lsm(format!(
            "unable to apply apparmor profile: apparmor failed to apply profile: write {path}: {}",
            crate::error::SysError::from(e)
        ))
    })
}

/// Has the next execve run with SELinux label `label` (the spec is validated first, so
/// SELinux is enabled when a label is given).
pub(crate) fn apply_selinux(label: Option<&str>) -> Result<()> {
    let Some(label) = label.filter(|l| !l.is_empty()) else {
        return Ok(());
    };
    let path = "/proc/thread-self/attr/exec";
    std::fs::write(path, label).map_err(|e| Error::sys(format!("write {path}"), e))
}
