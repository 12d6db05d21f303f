//! `linux.intelRdt` (Intel RDT through the resctrl filesystem), checked as runc checks
//! it: the closID must be a plain name, and a schema needs resctrl with the matching
//! feature (CAT for L3, MBA for MB). Where resctrl is absent a config that only names a
//! closID (or asks for monitoring) runs without RDT, as under runc. Applying schemata
//! where resctrl is mounted is not implemented: such a config is refused with that said,
//! rather than run without the limits it asks for.

use std::path::PathBuf;

use oci_spec::runtime::LinuxIntelRdt;

/// Whether resctrl is mounted here (for `berth features`).
pub fn resctrl_mounted() -> bool {
    resctrl_root().is_some()
}

/// Where resctrl is mounted, if it is.
fn resctrl_root() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    crate::mountinfo::parse_mountinfo(&text)
        .into_iter()
        .find(|m| m.fs_type == "resctrl")
        .map(|m| m.mount_point)
}

/// Whether resctrl offers a resource ("L3" for CAT, "MB" for MBA) on this host.
fn has_resource(root: &Option<PathBuf>, name: &str) -> bool {
    root.as_ref()
        .is_some_and(|r| r.join("info").join(name).is_dir())
}

/// The problem with `rdt` on this host, as (field, message); None when it can run.
pub(crate) fn check(rdt: &LinuxIntelRdt) -> Option<(&'static str, String)> {
    if let Some(id) = rdt.clos_id().as_deref() {
        if id == "." || id == ".." || id.contains('/') {
            return Some((
                "linux.intelRdt.closID",
                format!("invalid intelRdt.ClosID {id:?}"),
            ));
        }
    }
    let root = resctrl_root();
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    if set(rdt.l3_cache_schema()) && !has_resource(&root, "L3") {
        return Some((
            "linux.intelRdt.l3CacheSchema",
            "intelRdt.l3CacheSchema is specified in config, but Intel RDT/CAT is not enabled"
                .into(),
        ));
    }
    if set(rdt.mem_bw_schema()) && !has_resource(&root, "MB") {
        return Some((
            "linux.intelRdt.memBwSchema",
            "intelRdt.memBwSchema is specified in config, but Intel RDT/MBA is not enabled".into(),
        ));
    }
    let schemata = rdt.schemata().iter().flatten().any(|s| !s.is_empty());
    if schemata && root.is_none() {
        return Some((
            "linux.intelRdt.schemata",
            "intelRdt.schemata is specified in config, but Intel RDT is not supported or enabled (resctrl is not mounted)".into(),
        ));
    }
    if root.is_some() && (schemata || set(rdt.l3_cache_schema()) || set(rdt.mem_bw_schema())) {
        return Some((
            "linux.intelRdt",
            "applying Intel RDT schemata is not implemented in berth yet".into(),
        ));
    }
    None
}
