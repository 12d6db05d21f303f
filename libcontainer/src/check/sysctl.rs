//! `linux.sysctl`: keys this kernel has. (Which namespace a key needs is a spec check,
//! shared with `create`.)

use std::path::PathBuf;

use super::{Bundle, Report};

pub(super) fn check(b: &Bundle, r: &mut Report) {
    let Some(sysctl) = b.spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) else {
        return;
    };
    let mut keys: Vec<&String> = sysctl.keys().collect();
    keys.sort();
    for key in keys {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        if key.contains("..") || key.starts_with('.') || !path.exists() {
            r.error(
                format!("linux.sysctl.{key}"),
                format!(
                    "this kernel has no sysctl {key} ({} is missing)",
                    path.display()
                ),
                "a key listed by `sysctl -a` on this host",
            );
        }
    }
}
