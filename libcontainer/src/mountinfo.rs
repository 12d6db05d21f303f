//! `/proc/<pid>/mountinfo` and `/proc/<pid>/cgroup`, parsed once for the mount code and
//! the cgroup code.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountInfo {
    /// The path inside the filesystem that is mounted (field 4).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Optional fields such as `shared:1`, `master:2`.
    pub optional: Vec<String>,
    pub fs_type: String,
    /// Superblock options (the last field).
    pub super_options: String,
}

/// Parses mountinfo text; malformed lines are skipped.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines().filter_map(parse_line).collect()
}

/// One mountinfo line: `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`.
pub(crate) fn parse_line(line: &str) -> Option<MountInfo> {
    let (left, right) = line.split_once(" - ")?;
    let mut l = left.split(' ');
    let _id = l.next()?;
    let _parent = l.next()?;
    let _dev = l.next()?;
    let root = unescape(l.next()?);
    let mount_point = unescape(l.next()?);
    let _opts = l.next()?;
    let optional = l.filter(|s| !s.is_empty()).map(str::to_string).collect();
    let mut r = right.split(' ');
    let fs_type = r.next()?.to_string();
    let _source = r.next()?;
    let super_options = r.next().unwrap_or("").to_string();
    Some(MountInfo {
        root: root.into(),
        mount_point: mount_point.into(),
        optional,
        fs_type,
        super_options,
    })
}

/// Undoes the kernel's octal escapes (`\040` for space, `\011`, `\012`, `\134`).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') as u32 * 64
                + (b[i + 2] - b'0') as u32 * 8
                + (b[i + 3] - b'0') as u32;
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One line of `/proc/self/cgroup`: `id:controllers:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupLine {
    /// Controllers (`cpu`, `cpuacct`, `name=systemd`); empty for the v2 line.
    pub controllers: Vec<String>,
    pub path: PathBuf,
}

/// Parses `/proc/<pid>/cgroup` text; malformed lines are skipped.
pub(crate) fn parse_proc_cgroup(text: &str) -> Vec<CgroupLine> {
    text.lines().filter_map(parse_cgroup_line).collect()
}

pub(crate) fn parse_cgroup_line(line: &str) -> Option<CgroupLine> {
    let mut parts = line.splitn(3, ':');
    let _id = parts.next()?;
    let ctrls = parts.next()?;
    let path = parts.next()?;
    let controllers = ctrls
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    Some(CgroupLine {
        controllers,
        path: path.into(),
    })
}

impl MountInfo {
    /// Controllers of a v1 cgroup mount, from its superblock options.
    pub(crate) fn cgroup_controllers(&self) -> Vec<String> {
        self.super_options
            .split(',')
            .filter(|o| !o.is_empty() && *o != "rw" && *o != "ro")
            .filter(|o| {
                !matches!(
                    *o,
                    "clone_children" | "noprefix" | "xattr" | "cpuset_v2_mode"
                ) && !o.starts_with("release_agent=")
            })
            .map(str::to_string)
            .collect()
    }

    pub(crate) fn is_shared(&self) -> bool {
        self.optional.iter().any(|o| o.starts_with("shared:"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn unescapes_octal_fields() {
        let e = parse_line("99 31 0:32 /a\\134b /mnt/mem\\040x rw - cgroup c rw,memory").unwrap();
        assert_eq!(e.mount_point, Path::new("/mnt/mem x"));
        assert_eq!(e.root, Path::new("/a\\b"));
        assert_eq!(unescape("\\04"), "\\04");
    }

    const SAMPLE: &str = "\
27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 27 0:40 /a\\040b /mnt/with\\040space rw - tmpfs tmpfs rw
";

    #[test]
    fn parses_mountinfo() {
        let m = parse_mountinfo(SAMPLE);
        assert_eq!(m.len(), 5);
        assert!(m[0].is_shared());
        assert!(!m[1].is_shared());
        assert_eq!(m[1].cgroup_controllers(), vec!["cpu", "cpuacct"]);
        assert_eq!(m[2].cgroup_controllers(), vec!["name=systemd"]);
        assert_eq!(m[3].fs_type, "cgroup2");
        assert_eq!(m[4].mount_point, PathBuf::from("/mnt/with space"));
        assert_eq!(m[4].root, PathBuf::from("/a b"));
    }

    #[test]
    fn parses_proc_cgroup() {
        let c = parse_proc_cgroup("9:name=systemd:/a\n2:cpu,cpuacct:/b\n0::/c\n");
        assert_eq!(c[0].controllers, vec!["name=systemd"]);
        assert_eq!(c[1].controllers, vec!["cpu", "cpuacct"]);
        assert!(c[2].controllers.is_empty());
        assert_eq!(c[2].path, PathBuf::from("/c"));
    }
}
