//! cgroup v2 specifics: delegating controllers down to the container's cgroup, and the v2
//! freezer. Resource setting for the unified hierarchy goes here later.

use std::path::Path;
use std::thread::sleep;
use std::time::Duration;

use super::{fs, CgroupError};

const CONTROLLERS: &str = "cgroup.controllers";
const SUBTREE: &str = "cgroup.subtree_control";

/// Enables every controller the hierarchy's root offers in `subtree_control` of each
/// cgroup from the root down to `dir`'s parent, as runc does. Failures are ignored:
/// a controller that cannot be enabled shows up when its resources are set.
pub(crate) fn enable_controllers(mount: &Path, dir: &Path) -> Result<(), CgroupError> {
    let Ok(rel) = dir.strip_prefix(mount) else {
        return Ok(());
    };
    let available = fs::read(mount, CONTROLLERS)?;
    let wanted: Vec<String> = available
        .split_whitespace()
        .map(|c| format!("+{c}"))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let all = wanted.join(" ");
    let mut cur = mount.to_path_buf();
    for component in rel.components() {
        if fs::write(&cur, SUBTREE, &all).is_err() {
            for one in &wanted {
                let _ = fs::write(&cur, SUBTREE, one);
            }
        }
        cur.push(component);
    }
    Ok(())
}

const FREEZE: &str = "cgroup.freeze";
const EVENTS: &str = "cgroup.events";

pub(crate) fn freeze(dir: &Path) -> Result<(), CgroupError> {
    set_frozen(dir, true)
}

pub(crate) fn thaw(dir: &Path) -> Result<(), CgroupError> {
    set_frozen(dir, false)
}

/// Writes cgroup.freeze, then waits until cgroup.events reports the new state.
fn set_frozen(dir: &Path, frozen: bool) -> Result<(), CgroupError> {
    let want = if frozen { "1" } else { "0" };
    if let Err(e) = fs::write(dir, FREEZE, want) {
        // Without a freezer there is nothing to thaw.
        return if frozen {
            Err(CgroupError::Freezer {
                path: dir.to_path_buf(),
                reason: format!("freezer not supported: {e}"),
            })
        } else {
            Ok(())
        };
    }
    for _ in 0..1000 {
        if events_frozen(dir)? == frozen {
            return Ok(());
        }
        sleep(Duration::from_millis(10));
    }
    Err(CgroupError::Freezer {
        path: dir.to_path_buf(),
        reason: format!("timeout of 10s reached waiting for {EVENTS} to show frozen {want}"),
    })
}

fn events_frozen(dir: &Path) -> Result<bool, CgroupError> {
    let events = fs::read(dir, EVENTS)?;
    match events
        .lines()
        .find_map(|l| l.strip_prefix("frozen "))
        .map(str::trim)
    {
        Some("1") => Ok(true),
        Some(_) => Ok(false),
        None => Err(CgroupError::Freezer {
            path: dir.to_path_buf(),
            reason: format!("no \"frozen\" line in {EVENTS}"),
        }),
    }
}

/// cgroup.freeze is 1 and the kernel has finished freezing. An absent cgroup (or a
/// kernel without the v2 freezer) is not frozen.
pub(crate) fn is_frozen(dir: &Path) -> Result<bool, CgroupError> {
    match fs::read_optional(dir, FREEZE)?.as_deref().map(str::trim) {
        None | Some("0") => Ok(false),
        Some("1") => events_frozen(dir),
        Some(other) => Err(CgroupError::Freezer {
            path: dir.to_path_buf(),
            reason: format!("unknown {FREEZE} state {other:?}"),
        }),
    }
}
