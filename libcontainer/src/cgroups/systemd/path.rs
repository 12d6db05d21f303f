//! `linux.cgroupsPath` for the systemd driver, as runc 1.3 reads it: `slice:prefix:name`,
//! giving the unit `<prefix>-<name>.scope` (or `<name>` when it ends in `.slice`) in the
//! slice `slice` (`system.slice` when empty, `user.slice` for a user manager), whose
//! cgroup directory is the slice's expanded path joined with the unit's name.

use std::path::PathBuf;

/// Where the container's unit goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placement {
    /// `system.slice`, `kubepods-besteffort.slice`, ...
    pub slice: String,
    /// `docker-<id>.scope`, or a `.slice` when the name asks for one.
    pub unit: String,
    /// The unit's cgroup below the manager's root: `/system.slice/docker-<id>.scope`.
    pub cgroup: PathBuf,
}

/// Why a cgroupsPath cannot be used, in runc's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PathError {
    Format(String),
    Slice(String),
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PathError::Format(path) => write!(
                f,
                "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got {path:?} instead"
            ),
            PathError::Slice(slice) => write!(f, "invalid slice name: {slice}"),
        }
    }
}

/// The unit for `cgroups_path` (None or empty: `runc-<id>.scope` in the default slice).
pub(crate) fn place(
    cgroups_path: Option<&str>,
    id: &str,
    user: bool,
) -> Result<Placement, PathError> {
    let (slice, prefix, name) = match cgroups_path.filter(|p| !p.is_empty()) {
        None => ("", "runc", id),
        Some(path) => {
            let parts: Vec<&str> = path.split(':').collect();
            let [slice, prefix, name] = parts[..] else {
                return Err(PathError::Format(path.to_string()));
            };
            (slice, prefix, name)
        }
    };
    let default_slice = if user { "user.slice" } else { "system.slice" };
    let slice = if slice.is_empty() {
        default_slice
    } else {
        slice
    };
    let unit = if name.ends_with(".slice") {
        name.to_string()
    } else {
        format!("{prefix}-{name}.scope")
    };
    if unit.contains('/') {
        return Err(PathError::Format(cgroups_path.unwrap_or(id).to_string()));
    }
    let mut cgroup = expand_slice(slice)?;
    cgroup.push(&unit);
    Ok(Placement {
        slice: slice.to_string(),
        unit,
        cgroup,
    })
}

/// `a-b-c.slice` → `/a.slice/a-b.slice/a-b-c.slice`; `-.slice` is the root.
pub(crate) fn expand_slice(slice: &str) -> Result<PathBuf, PathError> {
    let bad = || PathError::Slice(slice.to_string());
    let stem = slice.strip_suffix(".slice").ok_or_else(bad)?;
    if slice.contains('/') {
        return Err(bad());
    }
    let mut path = PathBuf::from("/");
    if stem == "-" {
        return Ok(path);
    }
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return Err(bad());
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
        prefix.push('-');
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_expand_to_their_parents() {
        assert_eq!(
            expand_slice("kubepods-besteffort-pod1.slice").unwrap(),
            PathBuf::from(
                "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice"
            )
        );
        assert_eq!(expand_slice("-.slice").unwrap(), PathBuf::from("/"));
        for bad in ["system", "a--b.slice", "-a.slice", "a/b.slice", ".slice"] {
            assert_eq!(
                expand_slice(bad),
                Err(PathError::Slice(bad.into())),
                "{bad}"
            );
        }
    }

    #[test]
    fn paths_follow_runc() {
        let p = place(Some("system.slice:docker:abc"), "id", false).unwrap();
        assert_eq!(p.unit, "docker-abc.scope");
        assert_eq!(p.cgroup, PathBuf::from("/system.slice/docker-abc.scope"));
        let p = place(None, "id", false).unwrap();
        assert_eq!(p.unit, "runc-id.scope");
        assert_eq!(p.slice, "system.slice");
        let p = place(Some(":p:n"), "id", true).unwrap();
        assert_eq!(p.cgroup, PathBuf::from("/user.slice/p-n.scope"));
        let p = place(Some("machine.slice:x:pod-1.slice"), "id", false).unwrap();
        assert_eq!(p.unit, "pod-1.slice");
        assert_eq!(
            place(Some("bad"), "id", false),
            Err(PathError::Format("bad".into()))
        );
        assert_eq!(
            place(Some("a:b:c:d"), "id", false),
            Err(PathError::Format("a:b:c:d".into()))
        );
        assert_eq!(
            place(Some("nope:p:n"), "id", false),
            Err(PathError::Slice("nope".into()))
        );
        assert!(place(Some("system.slice:p:a/b"), "id", false).is_err());
        assert_eq!(
            PathError::Format("bad".into()).to_string(),
            "expected cgroupsPath to be of format \"slice:prefix:name\" for systemd cgroups, got \"bad\" instead"
        );
    }
}
