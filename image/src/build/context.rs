//! Where COPY/ADD read from: the build context (filtered by `.dockerignore`), or another
//! stage's or image's rootfs (`--from`, resolved as if that rootfs were `/`). Sources are
//! globbed and walked here, and hashed for the cache.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::dockerignore::{clean, Ignore};
use super::glob;

pub struct SourceTree {
    root: PathBuf,
    ignore: Ignore,
    /// A rootfs: resolve symlinks inside it.
    scoped: bool,
}

/// One matched source: its path on the host and its clean path relative to the tree.
#[derive(Clone, Debug)]
pub struct Source {
    pub host: PathBuf,
    pub rel: String,
}

impl SourceTree {
    /// The build context directory, with its `.dockerignore` if any.
    pub fn context(dir: &Path) -> std::io::Result<SourceTree> {
        let md = fs::metadata(dir)?;
        if !md.is_dir() {
            return Err(std::io::Error::other("build context is not a directory"));
        }
        let ignore = match fs::read_to_string(dir.join(".dockerignore")) {
            Ok(t) => Ignore::parse(&t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ignore::default(),
            Err(e) => return Err(e),
        };
        Ok(SourceTree {
            root: dir.to_path_buf(),
            ignore,
            scoped: false,
        })
    }

    pub fn rootfs(dir: &Path) -> SourceTree {
        SourceTree {
            root: dir.to_path_buf(),
            ignore: Ignore::default(),
            scoped: true,
        }
    }

    fn host(&self, rel: &str) -> PathBuf {
        if self.scoped {
            crate::scoped::resolve(&self.root, Path::new(rel), true)
                .unwrap_or_else(|_| self.root.join(rel))
        } else {
            self.root.join(rel)
        }
    }

    /// The sources a COPY argument names: a path or a glob, relative to the tree root
    /// (`..` cannot leave it). Excluded paths do not exist.
    pub fn expand(&self, pattern: &str) -> Result<Vec<Source>, String> {
        let pat = clean(pattern);
        if !glob::is_glob(&pat) {
            let host = self.host(&pat);
            if (!pat.is_empty() && self.ignore.excluded(&pat))
                || fs::symlink_metadata(&host).is_err()
            {
                return Err(format!(
                    "{pattern}: not found in {} (or excluded by .dockerignore)",
                    if self.scoped {
                        "the source rootfs"
                    } else {
                        "the build context"
                    }
                ));
            }
            return Ok(vec![Source { host, rel: pat }]);
        }
        // Walk from the longest glob-free prefix and match every path below it.
        let parts: Vec<&str> = pat.split('/').collect();
        let fixed = parts.iter().take_while(|p| !glob::is_glob(p)).count();
        let base = parts[..fixed].join("/");
        let depth = if parts[fixed..].contains(&"**") {
            usize::MAX
        } else {
            parts.len() - fixed
        };
        let mut out = Vec::new();
        let start = self.host(&base);
        for e in walkdir::WalkDir::new(&start)
            .min_depth(1)
            .max_depth(depth)
            .sort_by_file_name()
            .into_iter()
            .flatten()
        {
            let sub = e.path().strip_prefix(&start).unwrap_or(e.path());
            let rel = clean(&format!("{base}/{}", sub.display()));
            if glob::matches(&pat, &rel) && !self.ignore.excluded(&rel) {
                out.push(Source {
                    host: e.path().to_path_buf(),
                    rel,
                });
            }
        }
        if out.is_empty() {
            return Err(format!(
                "{pattern}: no source files were specified (nothing matches)"
            ));
        }
        Ok(out)
    }

    /// Everything below directory `src` (not `src` itself), parents before children,
    /// skipping excluded paths: (host path, path relative to `src`).
    pub fn walk(&self, src: &Source) -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        let mut it = walkdir::WalkDir::new(&src.host)
            .min_depth(1)
            .sort_by_file_name()
            .into_iter();
        while let Some(Ok(e)) = it.next() {
            let sub = e
                .path()
                .strip_prefix(&src.host)
                .unwrap_or(e.path())
                .display()
                .to_string();
            let ctx_rel = clean(&format!("{}/{sub}", src.rel));
            if self.ignore.excluded(&ctx_rel) {
                if e.file_type().is_dir() && !self.ignore.may_reinclude(&ctx_rel) {
                    it.skip_current_dir();
                }
                continue;
            }
            out.push((e.path().to_path_buf(), sub));
        }
        out
    }
}

/// A digest of what a set of sources would copy: names, types, modes, link targets and
/// file contents (not times, as Docker's cache does not).
pub fn hash_sources(tree: &SourceTree, sources: &[Source]) -> String {
    let mut h = Sha256::new();
    for s in sources {
        h.update(format!("src {}\n", s.rel));
        hash_one(&mut h, &s.host, "", true);
        if fs::metadata(&s.host).map(|m| m.is_dir()).unwrap_or(false) {
            for (p, sub) in tree.walk(s) {
                hash_one(&mut h, &p, &sub, false);
            }
        }
    }
    hex::encode(h.finalize())
}

fn hash_one(h: &mut Sha256, p: &Path, sub: &str, follow: bool) {
    let m = if follow {
        fs::metadata(p)
    } else {
        fs::symlink_metadata(p)
    };
    let Ok(m) = m else {
        h.update(format!("missing {sub}\n"));
        return;
    };
    // Owners are not hashed: COPY makes everything 0:0 unless --chown (in the key).
    h.update(format!("{sub} {:o}\n", m.permissions().mode()));
    if m.file_type().is_symlink() {
        if let Ok(t) = fs::read_link(p) {
            h.update(format!("-> {}\n", t.display()));
        }
    } else if m.is_file() {
        if let Ok(mut f) = fs::File::open(p) {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
        }
    }
}
