//! Switching to the process's user: supplementary groups, gid, uid, umask.

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

use crate::error::{Result, SysContext};

/// Whether setgroups(2) is allowed here: an unprivileged user namespace writes "deny".
fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() != "deny")
        .unwrap_or(true)
}

pub(crate) fn switch(user: &User) -> Result<()> {
    // Like runc, an unprivileged runtime leaves the supplementary groups alone even where
    // setgroups is allowed (newgidmap maps): there is no way to honour /etc/group anyway.
    if setgroups_allowed() && !crate::rootless::spawned_unprivileged() {
        let groups: Vec<Gid> = user
            .additional_gids()
            .iter()
            .flatten()
            .map(|g| Gid::from_raw(*g))
            .collect();
        setgroups(&groups).ctx(|| "setgroups".into())?;
    }
    let gid = Gid::from_raw(user.gid());
    setresgid(gid, gid, gid).ctx(|| format!("setgid {}", user.gid()))?;
    let uid = Uid::from_raw(user.uid());
    setresuid(uid, uid, uid).ctx(|| format!("setuid {}", user.uid()))?;
    Ok(())
}

pub(crate) fn set_umask(user: &User) {
    let mask = user.umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
}
