//! One entry of `spec.mounts()` → the kind of mount it asks for (idmapped bind, cgroup,
//! bind, filesystem), then its recursive attributes. Dispatching here, above both
//! mounts.rs and cgroup.rs, keeps the cgroup mount (which is made of mounts.rs's binds)
//! from being imported by the module it imports.

use std::os::fd::{AsFd, RawFd};
use std::path::Path;

use nix::mount::MsFlags;
use oci_spec::runtime::Mount;

use super::mount_attr::{set_attr, MountAttr};
use super::mount_options::MountOptions;
use super::mounts::{bind, bind_idmapped, fs_mount, MountCtx};
use super::secure_join::Create;
use super::{cgroup, idmap, RootfsError};

/// Mounts one entry of `spec.mounts()`; `idmapped` is its detached, idmapped tree if the
/// entry asks for one (made by the runtime, see `idmap.rs`).
pub(crate) fn mount_entry(
    ctx: &MountCtx<'_>,
    m: &Mount,
    idmapped: Option<RawFd>,
    source_fd: Option<RawFd>,
) -> Result<(), RootfsError> {
    let dest = m.destination();
    let typ = m.typ().as_deref().unwrap_or("");
    let src = m
        .source()
        .as_deref()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut opts = MountOptions::parse(m.options().as_deref().unwrap_or(&[]));
    if typ == "bind" {
        opts.flags.insert(MsFlags::MS_BIND);
    }
    let result = if idmap::wants_idmap(m, &opts) {
        match idmapped {
            Some(tree) => bind_idmapped(ctx, tree, Path::new(&src), dest, &opts),
            None => Err(RootfsError::Idmap(
                "idmapped mount was not prepared by the runtime".into(),
            )),
        }
    } else if typ == "cgroup" {
        cgroup::mount_cgroup(ctx, dest, &opts)
    } else if opts.is_bind() {
        bind(ctx, Path::new(&src), source_fd, dest, &opts)
    } else {
        fs_mount(ctx, &src, dest, typ, &opts)
    };
    result
        .and_then(|()| apply_rec_attrs(ctx, dest, &opts))
        .map_err(|e| RootfsError::mount(src, dest.to_string_lossy(), e))
}

/// The recursive options (`rro`, `rnosuid`, …) on the mount just made and every mount
/// below it, as runc does after the mount.
fn apply_rec_attrs(
    ctx: &MountCtx<'_>,
    dest: &Path,
    opts: &MountOptions,
) -> Result<(), RootfsError> {
    if !opts.has_rec_attrs() {
        return Ok(());
    }
    let target = ctx.open(dest, Create::Nothing)?;
    let attr = MountAttr {
        attr_set: opts.rec_set,
        attr_clr: opts.rec_clr,
        ..MountAttr::default()
    };
    set_attr(target.as_fd(), &attr, true).map_err(|e| RootfsError::sys("mount_setattr", e))
}
