//! Tests against the real cgroupfs of the machine (run as root). Each test uses its own
//! cgroup names and removes everything it made, also when it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}berth-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Kills the children and removes the given directories (deepest first) on drop.
#[derive(Default)]
struct Cleanup {
    children: Vec<Child>,
    dirs: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let mut dirs = self.dirs.clone();
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        let refs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
        let _ = fs::remove_all(&refs);
    }
}

impl Cleanup {
    fn sleeper(&mut self) -> i32 {
        let child = Command::new("sleep")
            .arg("100")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        self.children.push(child);
        pid
    }

    fn kill(&mut self, pid: i32) {
        if let Some(i) = self.children.iter().position(|c| c.id() as i32 == pid) {
            let mut c = self.children.remove(i);
            c.kill().expect("kill");
            c.wait().expect("wait");
        }
    }

    /// Registers `cg`'s dirs and their ancestors up to (excluding) the mount.
    fn track(&mut self, cg: &Cgroup) {
        for h in &cg.hierarchies {
            let mut d = h.dir.clone();
            while d != h.mount && d.starts_with(&h.mount) {
                self.dirs.push(d.clone());
                d.pop();
            }
        }
    }
}

fn proc_cgroup(pid: i32) -> Vec<layout::OwnCgroup> {
    let file = PathBuf::from(format!("/proc/{pid}/cgroup"));
    let text = std::fs::read_to_string(&file).expect("read /proc/pid/cgroup");
    layout::parse_proc_cgroup(&text, &file).expect("parse")
}

/// The path the process `pid` has in hierarchy `h`, as /proc/<pid>/cgroup shows it.
fn path_in(pid: i32, h: &Hierarchy) -> PathBuf {
    proc_cgroup(pid)
        .into_iter()
        .find(|o| o.controllers == h.controllers)
        .map(|o| o.path)
        .expect("hierarchy listed in /proc/pid/cgroup")
}

/// The state letter from /proc/<pid>/stat (after the parenthesised command name).
fn task_state(pid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
    after.chars().next().unwrap_or('?')
}

/// Where `h.dir` is inside its hierarchy, e.g. `/berth-test-1-2`.
fn inner(h: &Hierarchy) -> PathBuf {
    Path::new("/").join(h.dir.strip_prefix(&h.mount).expect("dir under mount"))
}

#[test]
fn absolute_path_full_cycle() {
    let mut guard = Cleanup::default();
    let name = unique("/");
    let cg = Cgroup::resolve(Some(Path::new(&name)), "ignored", Driver::Cgroupfs).unwrap();
    guard.track(&cg);
    assert_eq!(cg.path(), Path::new(&name));
    assert!(!cg.hierarchies.is_empty());
    for h in &cg.hierarchies {
        assert_eq!(
            h.dir,
            h.mount.join(&name[1..]),
            "absolute path is under the mount"
        );
    }

    cg.create().unwrap();
    cg.create().unwrap(); // idempotent
    let pid = guard.sleeper();
    cg.add_process(pid).unwrap();
    for h in &cg.hierarchies {
        assert_eq!(
            path_in(pid, h),
            Path::new(&name),
            "hierarchy {:?}",
            h.controllers
        );
    }
    assert_eq!(cg.pids().unwrap(), vec![pid]);

    assert!(!cg.is_frozen().unwrap());
    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    if let Some(h) = cg.freezer().filter(|h| !h.is_unified()) {
        assert_eq!(fs::read(&h.dir, "freezer.state").unwrap().trim(), "FROZEN");
        // The v1 freezer parks tasks in D; the v2 one stops them in the signal path (S).
        assert_eq!(
            task_state(pid),
            'D',
            "a v1-frozen task shows as D in /proc/<pid>/stat"
        );
    }
    cg.thaw().unwrap();
    assert!(!cg.is_frozen().unwrap());
    assert_eq!(task_state(pid), 'S');

    guard.kill(pid);
    cg.destroy().unwrap();
    for h in &cg.hierarchies {
        assert!(!h.dir.exists(), "{} remains", h.dir.display());
    }
    assert_eq!(cg.pids().unwrap(), Vec::<i32>::new());
}

#[test]
fn relative_path_is_under_own_cgroup() {
    let mut guard = Cleanup::default();
    let parent = unique("");
    let rel = format!("{parent}/sub");
    let cg = Cgroup::resolve(Some(Path::new(&rel)), "ignored", Driver::Cgroupfs).unwrap();
    guard.track(&cg);
    let own = proc_cgroup(std::process::id() as i32);
    for h in &cg.hierarchies {
        let mine = own.iter().find(|o| o.controllers == h.controllers).unwrap();
        let expected = match cg.mode {
            // runc puts the hybrid unified cgroup under the mount, not under our own.
            Mode::Hybrid if h.is_unified() => Path::new("/").join(&rel),
            Mode::V2 => mine.path.parent().unwrap_or(Path::new("/")).join(&rel),
            _ => mine.path.join(&rel),
        };
        assert_eq!(inner(h), expected, "hierarchy {:?}", h.controllers);
    }

    cg.create().unwrap();
    let pid = guard.sleeper();
    cg.add_process(pid).unwrap();
    for h in &cg.hierarchies {
        assert_eq!(path_in(pid, h), inner(h));
    }
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    guard.kill(pid);
    cg.destroy().unwrap();
    for h in &cg.hierarchies {
        assert!(!h.dir.exists(), "{} remains", h.dir.display());
        // runc leaves the parents of the container's cgroup in place.
        assert!(h.dir.parent().is_some_and(Path::exists));
    }
}

#[test]
fn default_path_is_the_id() {
    let guard_id = unique("");
    let cg = Cgroup::resolve(None, &guard_id, Driver::Cgroupfs).unwrap();
    assert_eq!(cg.path().file_name(), Some(std::ffi::OsStr::new(&guard_id)));
    assert_eq!(
        cg,
        Cgroup::resolve(Some(Path::new("")), &guard_id, Driver::Cgroupfs).unwrap()
    );
}

#[test]
fn nested_path_with_sub_cgroups() {
    let mut guard = Cleanup::default();
    let top = unique("/");
    let name = format!("{top}/a/b");
    let cg = Cgroup::resolve(Some(Path::new(&name)), "x", Driver::Cgroupfs).unwrap();
    guard.track(&cg);
    cg.create().unwrap();

    // A sub-cgroup inside the container's cgroup (as a nested runtime would make).
    let pid = guard.sleeper();
    for h in &cg.hierarchies {
        let sub = h.dir.join("inner");
        std::fs::create_dir(&sub).unwrap();
        if h.has("cpuset") {
            v1::prepare_cpuset(&h.mount, &sub).unwrap();
        }
        fs::write_procs(&sub, pid).unwrap();
    }
    assert_eq!(cg.pids().unwrap(), vec![pid]);
    assert_eq!(
        path_in(pid, &cg.hierarchies[0]),
        Path::new(&name).join("inner")
    );

    guard.kill(pid);
    cg.destroy().unwrap();
    for h in &cg.hierarchies {
        assert!(!h.dir.exists(), "{} remains", h.dir.display());
        assert!(
            h.mount.join(&top[1..]).join("a").exists(),
            "parents stay, as with runc"
        );
    }
}

#[test]
fn absent_cgroup() {
    let cg = Cgroup::resolve(Some(Path::new(&unique("/"))), "x", Driver::Cgroupfs).unwrap();
    cg.destroy().unwrap();
    assert_eq!(cg.pids().unwrap(), Vec::<i32>::new());
    assert!(!cg.is_frozen().unwrap());
    assert!(cg.add_process(std::process::id() as i32).is_err());
    let err = cg.freeze().unwrap_err().to_string();
    assert!(err.contains(&cg.path().display().to_string()), "{err}");
}

#[test]
fn state_file_round_trip() {
    let cg = Cgroup::resolve(Some(Path::new("/berth/rt")), "x", Driver::Cgroupfs).unwrap();
    let json = serde_json::to_string(&cg).unwrap();
    let back: Cgroup = serde_json::from_str(&json).unwrap();
    assert_eq!(cg, back);
}

#[test]
fn error_texts_name_path_and_cause() {
    let e = CgroupError::io(
        "mkdir",
        "/sys/fs/cgroup/x",
        std::io::Error::from_raw_os_error(libc::EACCES),
    );
    assert_eq!(e.to_string(), "mkdir /sys/fs/cgroup/x: permission denied");
    let e = Cgroup::resolve(
        Some(Path::new("system.slice:docker:abc")),
        "x",
        Driver::Cgroupfs,
    )
    .unwrap_err();
    assert!(e.to_string().contains("system.slice:docker:abc"), "{e}");
}

/// This machine has no systemd: the systemd driver says so in runc's words, after
/// checking the path's syntax first as runc does.
#[test]
fn systemd_driver_without_systemd() {
    if Path::new("/run/systemd/system").is_dir() {
        return;
    }
    let e = Cgroup::resolve(None, "x", Driver::Systemd).unwrap_err();
    assert_eq!(
        e.to_string(),
        "systemd not running on this host, cannot use systemd cgroups manager"
    );
    let e = Cgroup::resolve(Some(Path::new("bad")), "x", Driver::Systemd).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("expected cgroupsPath to be of format"),
        "{e}"
    );
}

#[test]
fn hugepage_sizes_are_checked_before_they_name_a_file() {
    for good in ["2MB", "1GB", "64KB", "16384KB"] {
        assert!(valid_hugepage_size(good), "{good}");
        assert_eq!(
            hugetlb_file(good, "max").unwrap(),
            format!("hugetlb.{good}.max")
        );
    }
    for bad in [
        "", "MB", "2mb", "2 MB", "02MB", "2MB/../x", "../2MB", "2TB", "-2MB", "2",
    ] {
        assert!(!valid_hugepage_size(bad), "{bad:?}");
        let err = hugetlb_file(bad, "max").unwrap_err().to_string();
        assert!(err.contains("pageSize") && !err.contains('\n'), "{err}");
    }
}
