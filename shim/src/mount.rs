//! The rootfs mounts containerd puts in a Create request (an overlay or a bind of the
//! snapshot), mounted on `<bundle>/rootfs` and taken down again on delete.

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};

#[derive(Debug, thiserror::Error)]
#[error("mount {kind} {src} on {target}: {errno}")]
pub struct MountError {
    kind: String,
    src: String,
    target: String,
    errno: nix::errno::Errno,
}

/// Option names that are mount flags; `true` sets, `false` clears. Everything else is
/// passed to the filesystem as data.
const FLAGS: &[(&str, bool, MsFlags)] = &[
    ("ro", true, MsFlags::MS_RDONLY),
    ("rw", false, MsFlags::MS_RDONLY),
    ("nosuid", true, MsFlags::MS_NOSUID),
    ("suid", false, MsFlags::MS_NOSUID),
    ("nodev", true, MsFlags::MS_NODEV),
    ("dev", false, MsFlags::MS_NODEV),
    ("noexec", true, MsFlags::MS_NOEXEC),
    ("exec", false, MsFlags::MS_NOEXEC),
    ("bind", true, MsFlags::MS_BIND),
    ("rbind", true, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("noatime", true, MsFlags::MS_NOATIME),
    ("relatime", true, MsFlags::MS_RELATIME),
    ("sync", true, MsFlags::MS_SYNCHRONOUS),
];

pub fn parse_options(options: &[String]) -> (MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut data = Vec::new();
    for opt in options {
        match FLAGS.iter().find(|(name, _, _)| name == opt) {
            Some((_, true, f)) => flags.insert(*f),
            Some((_, false, f)) => flags.remove(*f),
            None => data.push(opt.as_str()),
        }
    }
    (flags, data.join(","))
}

/// Mounts each of `mounts` (type, source, options) on `target`, in order.
pub fn mount_all(
    mounts: &[(String, String, Vec<String>)],
    target: &Path,
) -> Result<(), MountError> {
    for (kind, source, options) in mounts {
        let (flags, data) = parse_options(options);
        let err = |errno| MountError {
            kind: kind.clone(),
            src: source.clone(),
            target: target.display().to_string(),
            errno,
        };
        let data = (!data.is_empty()).then_some(data.as_str());
        mount(
            Some(source.as_str()),
            target,
            Some(kind.as_str()),
            flags,
            data,
        )
        .map_err(err)?;
        // A bind ignores MS_RDONLY on the first call; remount to apply it.
        if flags.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY) {
            mount(
                None::<&str>,
                target,
                None::<&str>,
                flags | MsFlags::MS_REMOUNT,
                None::<&str>,
            )
            .map_err(err)?;
        }
    }
    Ok(())
}

/// Unmounts everything stacked on `target`; absent or unmounted targets are fine.
pub fn unmount_all(target: &Path) {
    for _ in 0..16 {
        match umount2(target, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_and_data() {
        let opts: Vec<String> = ["ro", "nosuid", "lowerdir=/a:/b", "index=off"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (flags, data) = parse_options(&opts);
        assert_eq!(flags, MsFlags::MS_RDONLY | MsFlags::MS_NOSUID);
        assert_eq!(data, "lowerdir=/a:/b,index=off");
        let (flags, _) = parse_options(&["ro".into(), "rw".into(), "rbind".into()]);
        assert_eq!(flags, MsFlags::MS_BIND | MsFlags::MS_REC);
    }
}
