//! Mount option names → mount(2) flags: one table, parsed once per mount entry.

use nix::mount::MsFlags;

use super::mount_attr as attr;

/// What an option does to the mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// Set these flags.
    Set(MsFlags),
    /// Clear these flags.
    Clear(MsFlags),
    /// A propagation change, applied with its own mount(2) call after the mount.
    Propagation(MsFlags),
    /// Accepted and ignored (see the table).
    Ignore,
    /// An idmapped bind mount (see `idmap.rs`).
    Idmap(IdmapKind),
    /// A recursive attribute (`rro`, …): set or clear a MOUNT_ATTR_* bit on the whole tree
    /// with mount_setattr(AT_RECURSIVE) after the mount.
    RecSet(u64),
    RecClear(u64),
}

const fn set(f: MsFlags) -> Effect {
    Effect::Set(f)
}
const fn clear(f: MsFlags) -> Effect {
    Effect::Clear(f)
}
const fn prop(f: MsFlags) -> Effect {
    Effect::Propagation(f)
}

const REC: MsFlags = MsFlags::MS_REC;

/// Every option name runc knows. Anything else becomes filesystem data.
const TABLE: &[(&str, Effect)] = &[
    ("ro", set(MsFlags::MS_RDONLY)),
    ("rw", clear(MsFlags::MS_RDONLY)),
    ("nosuid", set(MsFlags::MS_NOSUID)),
    ("suid", clear(MsFlags::MS_NOSUID)),
    ("nodev", set(MsFlags::MS_NODEV)),
    ("dev", clear(MsFlags::MS_NODEV)),
    ("noexec", set(MsFlags::MS_NOEXEC)),
    ("exec", clear(MsFlags::MS_NOEXEC)),
    ("sync", set(MsFlags::MS_SYNCHRONOUS)),
    ("async", clear(MsFlags::MS_SYNCHRONOUS)),
    ("dirsync", set(MsFlags::MS_DIRSYNC)),
    ("remount", set(MsFlags::MS_REMOUNT)),
    ("mand", set(MsFlags::MS_MANDLOCK)),
    ("nomand", clear(MsFlags::MS_MANDLOCK)),
    ("noatime", set(MsFlags::MS_NOATIME)),
    ("atime", clear(MsFlags::MS_NOATIME)),
    ("nodiratime", set(MsFlags::MS_NODIRATIME)),
    ("diratime", clear(MsFlags::MS_NODIRATIME)),
    ("relatime", set(MsFlags::MS_RELATIME)),
    ("norelatime", clear(MsFlags::MS_RELATIME)),
    ("strictatime", set(MsFlags::MS_STRICTATIME)),
    ("nostrictatime", clear(MsFlags::MS_STRICTATIME)),
    ("lazytime", set(MsFlags::MS_LAZYTIME)),
    ("nolazytime", clear(MsFlags::MS_LAZYTIME)),
    ("bind", set(MsFlags::MS_BIND)),
    ("rbind", set(MsFlags::MS_BIND.union(REC))),
    ("private", prop(MsFlags::MS_PRIVATE)),
    ("rprivate", prop(MsFlags::MS_PRIVATE.union(REC))),
    ("shared", prop(MsFlags::MS_SHARED)),
    ("rshared", prop(MsFlags::MS_SHARED.union(REC))),
    ("slave", prop(MsFlags::MS_SLAVE)),
    ("rslave", prop(MsFlags::MS_SLAVE.union(REC))),
    ("unbindable", prop(MsFlags::MS_UNBINDABLE)),
    ("runbindable", prop(MsFlags::MS_UNBINDABLE.union(REC))),
    // Copy-up of the destination's contents into a tmpfs (a runc extension): accepted
    // and ignored for now, the tmpfs starts empty.
    ("tmpcopyup", Effect::Ignore),
    ("idmap", Effect::Idmap(IdmapKind::Top)),
    ("ridmap", Effect::Idmap(IdmapKind::Recursive)),
    ("rro", Effect::RecSet(attr::MOUNT_ATTR_RDONLY)),
    ("rrw", Effect::RecClear(attr::MOUNT_ATTR_RDONLY)),
    ("rnosuid", Effect::RecSet(attr::MOUNT_ATTR_NOSUID)),
    ("rsuid", Effect::RecClear(attr::MOUNT_ATTR_NOSUID)),
    ("rnodev", Effect::RecSet(attr::MOUNT_ATTR_NODEV)),
    ("rdev", Effect::RecClear(attr::MOUNT_ATTR_NODEV)),
    ("rnoexec", Effect::RecSet(attr::MOUNT_ATTR_NOEXEC)),
    ("rexec", Effect::RecClear(attr::MOUNT_ATTR_NOEXEC)),
    ("rnodiratime", Effect::RecSet(attr::MOUNT_ATTR_NODIRATIME)),
    ("rdiratime", Effect::RecClear(attr::MOUNT_ATTR_NODIRATIME)),
    ("rrelatime", Effect::RecSet(attr::MOUNT_ATTR_RELATIME)),
    ("rnorelatime", Effect::RecClear(attr::MOUNT_ATTR_RELATIME)),
    ("rnoatime", Effect::RecSet(attr::MOUNT_ATTR_NOATIME)),
    ("ratime", Effect::RecClear(attr::MOUNT_ATTR_NOATIME)),
    ("rstrictatime", Effect::RecSet(attr::MOUNT_ATTR_STRICTATIME)),
    (
        "rnostrictatime",
        Effect::RecClear(attr::MOUNT_ATTR_STRICTATIME),
    ),
    ("rnosymfollow", Effect::RecSet(attr::MOUNT_ATTR_NOSYMFOLLOW)),
    ("rsymfollow", Effect::RecClear(attr::MOUNT_ATTR_NOSYMFOLLOW)),
];

/// A mount entry's options, split into what mount(2) needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountOptions {
    /// Flags for the mount itself.
    pub flags: MsFlags,
    /// Propagation changes, in the order given.
    pub propagation: Vec<MsFlags>,
    /// Unknown options joined with commas: the filesystem's data string.
    pub data: String,
    /// `idmap` or `ridmap`, if given (the last one wins).
    pub idmap: Option<IdmapKind>,
    /// MOUNT_ATTR_* bits to set and clear on the whole tree (recursive options).
    pub rec_set: u64,
    pub rec_clr: u64,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: String::new(),
            idmap: None,
            rec_set: 0,
            rec_clr: 0,
        }
    }
}

impl MountOptions {
    /// A spec mount's options, with `"type": "bind"` counting as the bind option.
    pub(crate) fn of(m: &oci_spec::runtime::Mount) -> Self {
        let mut opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
        if m.typ().as_deref() == Some("bind") {
            opts.flags.insert(MsFlags::MS_BIND);
        }
        opts
    }

    pub(crate) fn parse<S: AsRef<str>>(options: &[S]) -> Self {
        let mut out = MountOptions::default();
        let mut data: Vec<&str> = Vec::new();
        for opt in options {
            let opt = opt.as_ref();
            match lookup(opt) {
                Some(Effect::Set(f)) => out.flags.insert(f),
                Some(Effect::Clear(f)) => out.flags.remove(f),
                Some(Effect::Propagation(f)) => out.propagation.push(f),
                Some(Effect::Ignore) => {}
                Some(Effect::Idmap(k)) => out.idmap = Some(k),
                Some(Effect::RecSet(bit)) => {
                    out.rec_set |= bit;
                    // An atime mode replaces the others (runc: set it, clear the mask).
                    if bit & attr::MOUNT_ATTR_ATIME == bit {
                        out.rec_clr |= attr::MOUNT_ATTR_ATIME;
                    }
                }
                Some(Effect::RecClear(bit)) => out.rec_clr |= bit,
                None => data.push(opt),
            }
        }
        out.data = data.join(",");
        out
    }

    pub(crate) fn has_rec_attrs(&self) -> bool {
        self.rec_set != 0 || self.rec_clr != 0
    }

    pub(crate) fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// Flags that need a second MS_REMOUNT pass when given on a bind mount (the kernel
    /// ignores them on the bind itself).
    pub(crate) fn bind_remount_flags(&self) -> MsFlags {
        self.flags - (MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
    }
}

fn lookup(name: &str) -> Option<Effect> {
    TABLE.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
}

/// Propagation flags from `linux.rootfsPropagation` (same names as the mount options).
pub(crate) fn propagation_flags(name: &str) -> Option<MsFlags> {
    match lookup(name) {
        Some(Effect::Propagation(f)) => Some(f),
        _ => None,
    }
}

/// Whether `idmap` applies to the whole tree (`ridmap`) or its top mount only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdmapKind {
    Top,
    Recursive,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_no_duplicates() {
        for (i, (a, _)) in TABLE.iter().enumerate() {
            assert!(TABLE[i + 1..].iter().all(|(b, _)| a != b), "duplicate {a}");
        }
    }

    #[test]
    fn set_and_clear_in_order() {
        let o = MountOptions::parse(&["ro", "nosuid", "rw", "noexec", "exec", "nodev"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NODEV);
        assert!(o.data.is_empty());
        let o = MountOptions::parse(&["strictatime", "nostrictatime", "relatime"]);
        assert_eq!(o.flags, MsFlags::MS_RELATIME);
    }

    #[test]
    fn unknown_options_are_data() {
        let o = MountOptions::parse(&["nosuid", "mode=755", "size=65536k", "strictatime"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(o.data, "mode=755,size=65536k");
    }

    #[test]
    fn bind_and_propagation() {
        let o = MountOptions::parse(&["rbind", "ro", "rprivate", "shared"]);
        assert!(o.is_bind());
        assert!(o.flags.contains(MsFlags::MS_REC));
        assert_eq!(o.bind_remount_flags(), MsFlags::MS_RDONLY);
        assert_eq!(
            o.propagation,
            vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC, MsFlags::MS_SHARED]
        );
        assert!(!MountOptions::parse(&["nosuid"]).is_bind());
    }

    #[test]
    fn ignored_and_idmap() {
        let o = MountOptions::parse(&["tmpcopyup", "idmap"]);
        assert!(o.data.is_empty());
        assert_eq!(o.idmap, Some(IdmapKind::Top));
        let o = MountOptions::parse(&["rbind", "ridmap"]);
        assert_eq!(o.idmap, Some(IdmapKind::Recursive));
        assert_eq!(MountOptions::parse(&["bind"]).idmap, None);
    }

    #[test]
    fn recursive_options_become_mount_attributes() {
        let o = MountOptions::parse(&["rbind", "rro", "rnoatime", "rexec", "rw"]);
        assert_eq!(
            o.rec_set,
            attr::MOUNT_ATTR_RDONLY | attr::MOUNT_ATTR_NOATIME
        );
        assert_eq!(o.rec_clr, attr::MOUNT_ATTR_ATIME | attr::MOUNT_ATTR_NOEXEC);
        assert!(o.data.is_empty(), "{o:?}");
        assert!(!MountOptions::parse(&["ro"]).has_rec_attrs());
    }

    #[test]
    fn rootfs_propagation_names() {
        assert_eq!(
            propagation_flags("rslave"),
            Some(MsFlags::MS_SLAVE | MsFlags::MS_REC)
        );
        assert_eq!(propagation_flags("private"), Some(MsFlags::MS_PRIVATE));
        assert_eq!(propagation_flags("ro"), None);
        assert_eq!(propagation_flags("bogus"), None);
    }
}
