//! Unique temporary directories removed on drop (no external crate).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A fresh directory under the system temp dir, removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// `/tmp/berth-test-<prefix>-<pid>-<counter>-<nanos>`, mode 0755.
    pub fn new(prefix: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "berth-test-{prefix}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        // Never follow into a mount a broken runtime may have left: skip if mounted.
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let p = self.path.to_string_lossy().to_string();
        if mountinfo.lines().any(|l| {
            l.split(' ')
                .nth(4)
                .is_some_and(|mp| mp == p || mp.starts_with(&format!("{p}/")))
        }) {
            eprintln!("warning: {p} still has mounts; not removing it");
            return;
        }
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
