//! Real tests: each forks a child that unshares a mount namespace, builds the
//! container's filesystem with `prepare`/`enter`/`finalize` and checks it from inside.
//! The test harness is multi-threaded, so the child only makes syscalls, writes its
//! report to a pipe and leaves with `_exit`.

use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, pipe, ForkResult};
use oci_spec::runtime::Spec;

use super::{enter, finalize, prepare, RootfsOptions};

/// A directory under /tmp removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = PathBuf::from(format!(
            "/tmp/berth-rootfs-{name}-{}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `f` in a forked child with its own mount namespace; returns what the child
/// reported (its `Err` text, or "ok") and its output lines.
fn in_child(f: impl FnOnce(&mut String) -> Result<(), String>) -> String {
    let (rd, wr): (OwnedFd, OwnedFd) = pipe().expect("pipe");
    // SAFETY: the child runs only the closure (syscalls through nix, no locks shared
    // with other threads besides glibc malloc, which is fork-safe) and then _exit.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            drop(rd);
            let mut out = String::new();
            let res = unshare(CloneFlags::CLONE_NEWNS)
                .map_err(|e| format!("unshare: {e}"))
                .and_then(|()| f(&mut out));
            let report = match res {
                Ok(()) => format!("ok\n{out}"),
                Err(e) => format!("{e}\n{out}"),
            };
            let _ = nix::unistd::write(&wr, report.as_bytes());
            // SAFETY: leave without running the parent's atexit handlers or destructors.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Parent { child } => {
            drop(wr);
            let mut text = String::new();
            let _ = fs::File::from(rd).read_to_string(&mut text);
            let status = waitpid(child, None).expect("waitpid");
            assert!(
                matches!(status, WaitStatus::Exited(_, 0)),
                "child: {status:?}: {text}"
            );
            text
        }
    }
}

fn spec(json: &str) -> Spec {
    serde_json::from_str(json).expect("spec")
}

fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}

fn errno_of(r: std::io::Result<impl Sized>) -> Option<i32> {
    r.err().and_then(|e| e.raw_os_error())
}

/// The full runc default-like spec plus a bind, a symlink escape and masks.
fn full_flow(opts: RootfsOptions) {
    let tmp = TempDir::new("full");
    let rootfs = tmp.path().join("rootfs");
    let outside = tmp.path().join("outside");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    let hostfile = tmp.path().join("hostfile");
    fs::write(&hostfile, b"hello").unwrap();
    // An absolute symlink that would leave the rootfs if followed on the host.
    std::os::unix::fs::symlink(&outside, rootfs.join("escape")).unwrap();
    let rootfs = rootfs.canonicalize().unwrap();
    let s = spec(&format!(
        r#"{{"ociVersion":"1.0.2","root":{{"path":"rootfs","readonly":true}},
        "mounts":[
          {{"destination":"/proc","type":"proc","source":"proc"}},
          {{"destination":"/dev","type":"tmpfs","source":"tmpfs","options":["nosuid","strictatime","mode=755","size=65536k"]}},
          {{"destination":"/dev/pts","type":"devpts","source":"devpts","options":["nosuid","noexec","newinstance","ptmxmode=0666","mode=0620","gid=5"]}},
          {{"destination":"/dev/shm","type":"tmpfs","source":"shm","options":["nosuid","noexec","nodev","mode=1777","size=65536k"]}},
          {{"destination":"/dev/mqueue","type":"mqueue","source":"mqueue","options":["nosuid","noexec","nodev"]}},
          {{"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]}},
          {{"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]}},
          {{"destination":"/mnt/file","type":"bind","source":"{hostfile}","options":["rbind","ro","nosuid"]}},
          {{"destination":"/escape/sub","type":"tmpfs","source":"tmpfs","options":["noexec","size=1m","mode=700"]}},
          {{"destination":"/rotmp","type":"tmpfs","source":"tmpfs","options":["ro","size=1m"]}}
        ],
        "linux":{{
          "namespaces":[{{"type":"mount"}}],
          "devices":[{devices}],
          "maskedPaths":["/proc/keys","/proc/acpi","/proc/kcore","/nonexistent"],
          "readonlyPaths":["/proc/sys","/proc/nonexistent"]
        }}}}"#,
        hostfile = hostfile.display(),
        // In a user namespace nodes are bound from the host, so the path must exist there.
        devices = if opts.in_user_ns {
            ""
        } else {
            r#"{"path":"/dev/sub/mynull","type":"c","major":1,"minor":3,"fileMode":384,"uid":5,"gid":6}"#
        }
    ));
    let outside_in_container = outside.clone();
    let report = in_child(move |out| {
        prepare(&s, &rootfs, &opts).map_err(|e| format!("prepare: {e}"))?;
        enter(&rootfs, &opts).map_err(|e| format!("enter: {e}"))?;
        finalize(&s).map_err(|e| format!("finalize: {e}"))?;
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
        out.push_str(&mountinfo);

        let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
        check(cwd == Path::new("/"), "cwd is /")?;
        let null = fs::metadata("/dev/null").map_err(|e| format!("/dev/null: {e}"))?;
        check(
            null.file_type().is_char_device(),
            "/dev/null is a char device",
        )?;
        check(
            null.rdev() == nix::sys::stat::makedev(1, 3),
            "/dev/null is 1:3",
        )?;
        if !opts.in_user_ns {
            check(
                null.permissions().mode() & 0o7777 == 0o666,
                "/dev/null mode 0666",
            )?;
            let my =
                fs::metadata("/dev/sub/mynull").map_err(|e| format!("/dev/sub/mynull: {e}"))?;
            check(
                my.permissions().mode() & 0o7777 == 0o600,
                "mynull mode 0600",
            )?;
            check((my.uid(), my.gid()) == (5, 6), "mynull owner 5:6")?;
        }
        check(
            fs::read_link("/dev/ptmx").ok() == Some(PathBuf::from("pts/ptmx")),
            "/dev/ptmx link",
        )?;
        check(
            fs::read_link("/dev/fd").ok() == Some(PathBuf::from("/proc/self/fd")),
            "/dev/fd link",
        )?;
        check(
            fs::read_link("/dev/stderr").ok() == Some(PathBuf::from("/proc/self/fd/2")),
            "/dev/stderr",
        )?;
        check(
            fs::read("/proc/keys")
                .map(|v| v.is_empty())
                .unwrap_or(false),
            "/proc/keys masked",
        )?;
        if Path::new("/proc/acpi").exists() {
            let n = fs::read_dir("/proc/acpi").map(|d| d.count()).unwrap_or(1);
            check(n == 0, "/proc/acpi masked")?;
        }
        check(
            fs::read("/mnt/file").ok().as_deref() == Some(&b"hello"[..]),
            "bind file readable",
        )?;
        let w = fs::OpenOptions::new().write(true).open("/mnt/file");
        check(errno_of(w) == Some(libc::EROFS), "bind file read-only")?;
        check(
            errno_of(fs::write("/newfile", b"x")) == Some(libc::EROFS),
            "root read-only",
        )?;
        let w = fs::OpenOptions::new()
            .write(true)
            .open("/proc/sys/kernel/hostname");
        check(errno_of(w) == Some(libc::EROFS), "/proc/sys read-only")?;
        check(fs::write("/dev/shm/x", b"x").is_ok(), "/dev/shm writable")?;
        check(fs::write("/dev/x", b"x").is_ok(), "/dev writable")?;
        check(
            errno_of(fs::write("/rotmp/x", b"x")) == Some(libc::EROFS),
            "ro tmpfs",
        )?;
        // The tmpfs behind the escaping symlink landed inside the rootfs.
        check(
            outside_in_container.join("sub").is_dir(),
            "escape target created inside",
        )?;
        check(
            fs::write(outside_in_container.join("sub/y"), b"y").is_ok(),
            "tmpfs writable",
        )?;
        if Path::new("/proc/self/cgroup").exists()
            && fs::read_to_string("/proc/self/cgroup")
                .unwrap_or_default()
                .contains(":memory:")
        {
            check(
                Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists(),
                "memory cgroup bound",
            )?;
        }
        Ok(())
    });
    assert!(report.starts_with("ok\n"), "{report}");
    // Nothing was created outside the rootfs, and the host's view is untouched.
    assert!(!outside.join("sub").exists(), "escaped the rootfs");
    let host = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !host.contains(tmp.path().to_str().unwrap()),
        "mount leaked to the host"
    );
    if std::env::var_os("BERTH_ROOTFS_DUMP").is_some() {
        eprintln!("{report}");
    }
}

#[test]
fn rootfs_full_flow_pivot() {
    full_flow(RootfsOptions {
        in_user_ns: false,
        no_pivot: false,
        own_mount_ns: true,
        idmapped: None,
        bind_sources: None,
    });
}

#[test]
fn rootfs_full_flow_no_pivot_bind_devices() {
    full_flow(RootfsOptions {
        in_user_ns: true,
        no_pivot: true,
        own_mount_ns: true,
        idmapped: None,
        bind_sources: None,
    });
}

#[test]
fn rootfs_missing_bind_source_error_like_runc() {
    let tmp = TempDir::new("nosrc");
    let rootfs = tmp.path().join("rootfs");
    fs::create_dir_all(&rootfs).unwrap();
    let s = spec(
        r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
        "mounts":[{"destination":"/mnt","type":"bind","source":"/nonexist","options":["rbind"]}]}"#,
    );
    let report = in_child(move |_| match prepare(&s, &rootfs, &own_ns()) {
        Ok(()) => Err("prepare succeeded".into()),
        Err(e) => Err(e.to_string()),
    });
    assert_eq!(
        report.lines().next(),
        Some(
            r#"error mounting "/nonexist" to rootfs at "/mnt": stat /nonexist: no such file or directory"#
        )
    );
}

#[test]
fn rootfs_unprepared_idmap_and_bad_propagation() {
    let tmp = TempDir::new("idmap");
    let rootfs = tmp.path().join("rootfs");
    fs::create_dir_all(&rootfs).unwrap();
    let s = spec(
        r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
        "mounts":[{"destination":"/mnt","type":"bind","source":"/tmp","options":["rbind","idmap"]}]}"#,
    );
    let r2 = rootfs.clone();
    let report = in_child(move |_| match prepare(&s, &r2, &own_ns()) {
        Ok(()) => Err("prepare succeeded".into()),
        Err(e) => Err(e.to_string()),
    });
    assert_eq!(
        report.lines().next(),
        Some(
            r#"error mounting "/tmp" to rootfs at "/mnt": idmapped mount was not prepared by the runtime"#
        )
    );
    let s = spec(
        r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},"linux":{"rootfsPropagation":"sideways"}}"#,
    );
    let report = in_child(move |_| match prepare(&s, &rootfs, &own_ns()) {
        Ok(()) => Err("prepare succeeded".into()),
        Err(e) => Err(e.to_string()),
    });
    assert_eq!(
        report.lines().next(),
        Some(r#"invalid rootfs propagation "sideways""#)
    );
}

#[test]
fn rootfs_cgroup_namespace_mounts_real_hierarchies() {
    let tmp = TempDir::new("cgns");
    let rootfs = tmp.path().join("rootfs");
    fs::create_dir_all(&rootfs).unwrap();
    let s = spec(
        r#"{"ociVersion":"1.0.2","root":{"path":"rootfs"},
        "mounts":[
          {"destination":"/proc","type":"proc","source":"proc"},
          {"destination":"/sys","type":"sysfs","source":"sysfs","options":["nosuid","noexec","nodev","ro"]},
          {"destination":"/sys/fs/cgroup","type":"cgroup","source":"cgroup","options":["nosuid","noexec","nodev","relatime","ro"]}],
        "linux":{"namespaces":[{"type":"mount"},{"type":"cgroup"}]}}"#,
    );
    let report = in_child(move |out| {
        unshare(CloneFlags::CLONE_NEWCGROUP).map_err(|e| format!("unshare cgroup: {e}"))?;
        let opts = RootfsOptions::default();
        prepare(&s, &rootfs, &opts).map_err(|e| format!("prepare: {e}"))?;
        enter(&rootfs, &opts).map_err(|e| format!("enter: {e}"))?;
        finalize(&s).map_err(|e| format!("finalize: {e}"))?;
        out.push_str(&fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?);
        let mode = fs::metadata("/sys/fs/cgroup")
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        out.push_str(&format!("cgroup root mode {mode:o}\n"));
        let v1 = fs::read_to_string("/proc/self/cgroup")
            .unwrap_or_default()
            .contains(":memory:");
        if v1 {
            check(
                Path::new("/sys/fs/cgroup/memory/cgroup.procs").exists(),
                "memory hierarchy",
            )?;
        } else {
            check(
                Path::new("/sys/fs/cgroup/cgroup.procs").exists(),
                "cgroup2 mounted",
            )?;
        }
        Ok(())
    });
    assert!(report.starts_with("ok\n"), "{report}");
    if std::env::var_os("BERTH_ROOTFS_DUMP").is_some() {
        eprintln!("{report}");
    }
}

/// The options of a container with its own mount namespace (as `in_child` gives it).
fn own_ns() -> RootfsOptions<'static> {
    RootfsOptions {
        own_mount_ns: true,
        ..Default::default()
    }
}
