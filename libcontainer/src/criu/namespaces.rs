//! Namespaces the config joins by path are not the container's to dump: CRIU records
//! each as external under a name (runc's names), and a restore hands it the same
//! namespace, opened, under that name.

use std::path::Path;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

/// One joined namespace: CRIU's kind (`net`, `pid`), the name it is recorded under, and
/// the path the config joins.
pub(crate) struct Joined<'a> {
    pub kind: &'static str,
    pub key: &'static str,
    pub path: &'a Path,
}

pub(crate) fn joined_namespaces(spec: &Spec) -> Vec<Joined<'_>> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
        .filter_map(|ns| {
            let (kind, key) = match ns.typ() {
                LinuxNamespaceType::Network => ("net", "extRootNetNS"),
                LinuxNamespaceType::Pid => ("pid", "extRootPidNS"),
                _ => return None,
            };
            Some(Joined {
                kind,
                key,
                path: ns.path().as_deref()?,
            })
        })
        .collect()
}
