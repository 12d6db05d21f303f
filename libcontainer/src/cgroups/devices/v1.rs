//! cgroup v1 devices controller: reset with the last "all devices" rule, then write the
//! remaining rules in order to devices.allow / devices.deny.

use std::path::Path;

use super::{effective, Rule};
use crate::cgroups::{set, CgroupError};

pub(crate) fn apply(dir: &Path, rules: &[Rule]) -> Result<(), CgroupError> {
    let (default_allow, rest) = effective(rules);
    let reset = if default_allow {
        "devices.allow"
    } else {
        "devices.deny"
    };
    set::write(dir, reset, "a")?;
    for rule in rest {
        let file = if rule.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        set::write(dir, file, &rule.v1_line())?;
    }
    Ok(())
}
