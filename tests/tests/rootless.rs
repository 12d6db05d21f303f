//! Rootless mode: the runtime run by an unprivileged user (a system user made for the
//! test, removed afterwards), through `setpriv`. State under $XDG_RUNTIME_DIR, id maps
//! written directly (own id) or by newuidmap/newgidmap (/etc/subuid, /etc/subgid entries
//! added for the test and removed again), cgroups skipped.

use berth_tests::*;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// /etc/passwd, /etc/subuid and /etc/subgid are edited by one test at a time.
static ETC: Mutex<()> = Mutex::new(());
static N: AtomicU32 = AtomicU32::new(0);

/// Subordinate ids given to the test user when a test asks for them.
const SUB: u32 = 300000;

/// An unprivileged user with its own XDG_RUNTIME_DIR; removed (with any subuid/subgid
/// lines we added) on drop.
struct TestUser {
    name: String,
    uid: u32,
    gid: u32,
    xdg: TempDir,
    sub_line: Option<String>,
}

impl TestUser {
    fn new(subids: bool) -> TestUser {
        let _g = ETC.lock().unwrap_or_else(|e| e.into_inner());
        let name = format!(
            "brl{}x{}",
            std::process::id() % 100000,
            N.fetch_add(1, Ordering::SeqCst)
        );
        let st = Command::new("useradd")
            .args(["-r", "-M", "-s", "/bin/sh", &name])
            .status()
            .expect("useradd");
        assert!(st.success(), "useradd {name}");
        let id = |flag: &str| -> u32 {
            let out = Command::new("id").args([flag, &name]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let (uid, gid) = (id("-u"), id("-g"));
        let xdg = TempDir::new("xdg");
        std::os::unix::fs::chown(xdg.path(), Some(uid), Some(gid)).unwrap();
        let sub_line = subids.then(|| {
            let line = format!("{name}:{SUB}:65536\n");
            for f in ["/etc/subuid", "/etc/subgid"] {
                let mut text = std::fs::read_to_string(f).unwrap_or_default();
                text.push_str(&line);
                replace_file(f, &text).unwrap();
            }
            line
        });
        TestUser {
            name,
            uid,
            gid,
            xdg,
            sub_line,
        }
    }

    /// `setpriv ... env XDG_RUNTIME_DIR=... <runtime> ARGS` (no --root: the default rule).
    fn command(&self, rt: &Runtime, args: &[&str], cwd: &Path) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .arg("--init-groups")
            .arg("env")
            .arg(format!("XDG_RUNTIME_DIR={}", self.xdg.path().display()))
            .arg("HOME=/")
            .arg(&rt.bin)
            .args(args)
            .current_dir(cwd)
            .stdin(std::process::Stdio::null());
        cmd
    }

    fn run(&self, rt: &Runtime, args: &[&str], cwd: &Path) -> Output {
        rt.run_cmd(self.command(rt, args, cwd))
    }

    /// The runtime's state root by runc's rule.
    fn state_root(&self, rt: &Runtime) -> PathBuf {
        self.xdg.path().join(rt.name())
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _g = ETC.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(line) = &self.sub_line {
            for f in ["/etc/subuid", "/etc/subgid"] {
                if let Ok(text) = std::fs::read_to_string(f) {
                    let _ = replace_file(f, &text.replacen(line.as_str(), "", 1));
                }
            }
        }
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}

/// Writes `path` through a rename: newuidmap/newgidmap of a test running alongside read
/// these files without our lock, and a truncate-then-write once showed one an empty
/// /etc/subgid ("gid range ... not allowed").
fn replace_file(path: &str, text: &str) -> std::io::Result<()> {
    let tmp = format!("{path}.berth-test-{}", std::process::id());
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// A bundle dir the user may write (for `spec`) with a busybox rootfs.
fn user_bundle(user: &TestUser) -> Bundle {
    let b = Bundle::new();
    std::os::unix::fs::chown(b.path(), Some(user.uid), Some(user.gid)).unwrap();
    b
}

/// `<rt> spec --rootless` run by the user in the bundle, read back into the bundle, with
/// the process replaced by `sh -c script`.
fn rootless_spec(rt: &Runtime, user: &TestUser, b: &mut Bundle, script: &str) {
    let _ = std::fs::remove_file(b.config_path());
    user.run(rt, &["spec", "--rootless"], b.path()).ok();
    let text = std::fs::read_to_string(b.config_path()).unwrap();
    b.config = serde_json::from_str(&text).unwrap();
    b.set("process.terminal", json!(false));
    b.args(&["sh", "-c", script]);
}

/// Runs the bundle to completion as the user; (exit code, stdout, stderr).
fn run_as(rt: &Runtime, user: &TestUser, b: &Bundle) -> Output {
    b.write();
    let id = rt.id("rl");
    let out = user.run(rt, &["run", &id], b.path());
    let _ = user.run(rt, &["delete", "--force", &id], b.path());
    out
}

// `spec --rootless` end to end: root inside is the user outside, the single-id gid map
// needs setgroups denied, and no cgroup may be created (it runs anyway).
compare_test!(rootless_spec_runs_end_to_end, |rt| -> String {
    let user = TestUser::new(false);
    let mut b = user_bundle(&user);
    rootless_spec(
        rt,
        &user,
        &mut b,
        "id -u; cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; \
         grep -c ' /sys ' /proc/self/mountinfo",
    );
    let out = run_as(rt, &user, &b);
    assert!(out.success(), "{out:?}");
    let text: Vec<String> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let (u, g) = (user.uid, user.gid);
    assert_eq!(
        text[..4],
        [
            "0".to_string(),
            format!("0 {u} 1"),
            format!("0 {g} 1"),
            "deny".into()
        ]
    );
    text.join("|")
        .replace(&u.to_string(), "U")
        .replace(&g.to_string(), "G")
});

// Not root and no --root: state under $XDG_RUNTIME_DIR/<runtime>, private and sticky.
compare_test!(rootless_state_under_xdg_runtime_dir, |rt| -> (
    bool,
    u32,
    String
) {
    let user = TestUser::new(false);
    let mut b = user_bundle(&user);
    rootless_spec(rt, &user, &mut b, "sleep 1000");
    b.write();
    let id = rt.id("rl");
    user.run(rt, &["create", &id], b.path()).ok();
    let root = user.state_root(rt);
    let present = root.join(&id).join("state.json").exists();
    let mode = std::fs::metadata(&root)
        .map(|m| m.mode() & 0o7777)
        .unwrap_or(0);
    let status = user.run(rt, &["state", &id], b.path()).ok().stdout;
    let status: Value = serde_json::from_str(&status).unwrap();
    user.run(rt, &["delete", "--force", &id], b.path()).ok();
    assert!(present, "no state in {}", root.display());
    assert!(!root.join(&id).exists(), "state left after delete");
    (
        present,
        mode,
        status["status"].as_str().unwrap().to_string(),
    )
});

// More than the caller's own id: newuidmap/newgidmap write the maps from /etc/subuid and
// /etc/subgid; what the container chowns lands on the subordinate ids.
compare_test!(rootless_newuidmap_ranges, |rt| -> (String, u32, u32) {
    let user = TestUser::new(true);
    let mut b = user_bundle(&user);
    rootless_spec(
        rt,
        &user,
        &mut b,
        "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; \
         touch /mnt/f && chown 5:6 /mnt/f",
    );
    let (u, g) = (user.uid, user.gid);
    b.set(
        "linux.uidMappings",
        json!([{"containerID": 0, "hostID": u, "size": 1},
               {"containerID": 1, "hostID": SUB, "size": 65536}]),
    );
    b.set(
        "linux.gidMappings",
        json!([{"containerID": 0, "hostID": g, "size": 1},
               {"containerID": 1, "hostID": SUB, "size": 65536}]),
    );
    for set in ["bounding", "effective", "permitted"] {
        b.push(&format!("process.capabilities.{set}"), json!("CAP_CHOWN"));
    }
    let vol = TempDir::new("rl-vol");
    std::os::unix::fs::chown(vol.path(), Some(u), Some(g)).unwrap();
    b.bind(vol.path(), "/mnt", &[]);
    let out = run_as(rt, &user, &b);
    assert!(out.success(), "{out:?}");
    let m = std::fs::metadata(vol.path().join("f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (SUB + 4, SUB + 5));
    let maps = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("|")
        .replace(&u.to_string(), "U")
        .replace(&g.to_string(), "G");
    (maps, m.uid(), m.gid())
});

// Cgroups: the unprivileged runtime cannot create one, so the container stays in the
// caller's cgroup (as runc's rootless manager does).
compare_test!(rootless_cgroup_skipped, |rt| -> String {
    let user = TestUser::new(false);
    let mut b = user_bundle(&user);
    rootless_spec(rt, &user, &mut b, "cat /proc/self/cgroup");
    let out = run_as(rt, &user, &b);
    assert!(out.success(), "{out:?}");
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert_eq!(out.stdout, own);
    out.stdout
});
