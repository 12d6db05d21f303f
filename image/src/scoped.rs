//! Path resolution confined to a root directory: symlinks are followed as if the root
//! were `/`, and `..` stops at the root, so a result is always inside the root.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

const MAX_LINKS: usize = 40;

/// Turn a tar entry name into a relative path of plain components; `..` is refused.
pub fn clean_entry_path(raw: &[u8]) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                return Err(Error::Unsafe {
                    path: String::from_utf8_lossy(raw).into_owned(),
                    reason: "path contains '..'".into(),
                })
            }
            c => out.push(std::ffi::OsStr::from_bytes(c)),
        }
    }
    Ok(out)
}

/// Resolve `rel` inside `root`. With `follow_last` false the final component is not
/// followed when it is a symlink. Components that do not exist are taken literally.
pub fn resolve(root: &Path, rel: &Path, follow_last: bool) -> Result<PathBuf> {
    let mut todo: Vec<OsString> = components(rel);
    todo.reverse();
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        if c == "." || c.is_empty() {
            continue;
        }
        let is_last = todo.is_empty();
        let mut cand = root.to_path_buf();
        cand.extend(&done);
        cand.push(&c);
        let meta = std::fs::symlink_metadata(&cand);
        match meta {
            Ok(m) if m.file_type().is_symlink() && (!is_last || follow_last) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Error::Unsafe {
                        path: rel.display().to_string(),
                        reason: "too many levels of symbolic links".into(),
                    });
                }
                let target = std::fs::read_link(&cand).map_err(|e| Error::Io {
                    path: cand.clone(),
                    source: e,
                })?;
                if target.is_absolute() {
                    done.clear();
                }
                let mut t = components(&target);
                t.reverse();
                todo.extend(t);
            }
            _ => done.push(c),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(done);
    Ok(out)
}

fn components(p: &Path) -> Vec<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn clean() {
        assert_eq!(clean_entry_path(b"./a//b/").unwrap(), PathBuf::from("a/b"));
        assert_eq!(clean_entry_path(b"/etc/x").unwrap(), PathBuf::from("etc/x"));
        assert!(clean_entry_path(b"a/../../x").is_err());
    }

    #[test]
    fn symlinks_stay_inside() {
        let t = crate::testutil::tempdir("scoped");
        let root = t.path();
        std::fs::create_dir_all(root.join("real")).unwrap();
        symlink("/", root.join("abs")).unwrap();
        symlink("../../../..", root.join("up")).unwrap();
        symlink("/real", root.join("toreal")).unwrap();
        assert_eq!(
            resolve(root, Path::new("abs/etc"), true).unwrap(),
            root.join("etc")
        );
        assert_eq!(
            resolve(root, Path::new("up/etc"), true).unwrap(),
            root.join("etc")
        );
        assert_eq!(
            resolve(root, Path::new("toreal/f"), true).unwrap(),
            root.join("real/f")
        );
        assert_eq!(
            resolve(root, Path::new("toreal"), false).unwrap(),
            root.join("toreal")
        );
        symlink("loop", root.join("loop")).unwrap();
        assert!(resolve(root, Path::new("loop/x"), true).is_err());
    }
}
