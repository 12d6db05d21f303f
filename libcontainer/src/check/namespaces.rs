//! Namespace kinds this kernel has, and namespaces to join that exist and are of the
//! kind listed.

use std::path::Path;

use oci_spec::runtime::LinuxNamespaceType;

use super::{Bundle, Report};
use crate::namespaces::proc_name;

pub(super) fn check(b: &Bundle, r: &mut Report) {
    let listed = b
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref());
    for (i, ns) in listed.into_iter().flatten().enumerate() {
        let name = proc_name(ns.typ());
        if !Path::new("/proc/self/ns").join(name).exists() {
            r.error(
                format!("linux.namespaces[{i}].type"),
                format!("this kernel has no {} namespace", ns.typ()),
                "remove it, or run on a kernel built with it",
            );
            continue;
        }
        match ns.path() {
            None if ns.typ() == LinuxNamespaceType::User => {
                let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces");
                if max.is_ok_and(|m| m.trim() == "0") {
                    r.error(
                        format!("linux.namespaces[{i}]"),
                        "user namespaces are disabled on this host (user.max_user_namespaces is 0)",
                        "raise user.max_user_namespaces, or drop the user namespace",
                    );
                }
            }
            None => {}
            Some(path) if path.is_absolute() => joined(i, name, path, r),
            // Relative paths are the spec checks' finding.
            Some(_) => {}
        }
    }
}

fn joined(i: usize, name: &str, path: &Path, r: &mut Report) {
    let field = format!("linux.namespaces[{i}].path");
    if let Err(e) = std::fs::File::open(path) {
        r.error(
            field,
            format!(
                "cannot open {}: {}",
                path.display(),
                crate::errno::SysError::from(e)
            ),
            format!("the {name} namespace of a live process, e.g. /proc/<pid>/ns/{name}"),
        );
        return;
    }
    // /proc/<pid>/ns/* links read "<kind>:[inode]"; a bind mount of one does not.
    if let Ok(target) = std::fs::read_link(path) {
        let target = target.to_string_lossy().into_owned();
        let kind = target.split(':').next().unwrap_or("");
        if target.contains(":[") && kind != name && !(name == "pid" && kind == "pid_for_children") {
            r.error(
                field,
                format!("{} is a {kind} namespace, not a {name} one", path.display()),
                format!("/proc/<pid>/ns/{name}"),
            );
        }
    }
}
