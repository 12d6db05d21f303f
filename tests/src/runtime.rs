//! A runtime binary (runc or berth) with its own state root and cleanup on drop.

use crate::bundle::Bundle;
use crate::tempdir::TempDir;
use serde_json::Value;
use std::cell::RefCell;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

static IDS: AtomicU64 = AtomicU64::new(0);

/// Longest any single runtime command may take before the harness kills it (by PID).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    Runc,
    Berth,
}

/// What a runtime command did.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit code; `None` if killed by a signal (or by the harness's timeout).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// Panic with the command's output unless it exited 0.
    #[track_caller]
    pub fn ok(self) -> Output {
        assert!(self.success(), "command failed: {self:?}");
        self
    }

    /// Panic unless it failed (non-zero exit); returns it for more checks.
    #[track_caller]
    pub fn fails(self) -> Output {
        assert!(
            !self.success() && self.code.is_some(),
            "command should fail: {self:?}"
        );
        self
    }
}

/// One runtime under test, with its own `--root` in a temp dir. Containers it made are
/// force-deleted on drop; processes left by a broken runtime are killed by PID only.
pub struct Runtime {
    pub kind: RuntimeKind,
    pub bin: PathBuf,
    root: TempDir,
    /// Scratch dir for captured stdio and other files of this test.
    work: TempDir,
    containers: RefCell<Vec<String>>,
    pids: RefCell<Vec<i64>>,
    extra_env: RefCell<Vec<(String, String)>>,
}

impl Runtime {
    /// Debian's `runc` from PATH.
    pub fn runc() -> Runtime {
        crate::require_environment();
        let bin = which("runc").unwrap_or_else(|| panic!("runc not on PATH: apt-get install runc"));
        Runtime::new(RuntimeKind::Runc, bin)
    }

    /// `berth` from `$BERTH_BIN`, else `target/debug/berth` beside this test binary.
    pub fn berth() -> Runtime {
        crate::require_environment();
        let bin = berth_bin();
        assert!(
            bin.exists(),
            "berth binary not found at {} (build it: cargo build -p berth, or set BERTH_BIN)",
            bin.display()
        );
        Runtime::new(RuntimeKind::Berth, bin)
    }

    fn new(kind: RuntimeKind, bin: PathBuf) -> Runtime {
        let name = match kind {
            RuntimeKind::Runc => "runc",
            RuntimeKind::Berth => "berth",
        };
        Runtime {
            kind,
            bin,
            root: TempDir::new(&format!("{name}-root")),
            work: TempDir::new(&format!("{name}-work")),
            containers: RefCell::new(Vec::new()),
            pids: RefCell::new(Vec::new()),
            extra_env: RefCell::new(Vec::new()),
        }
    }

    /// "runc" or "berth": the program name as it appears in error messages.
    pub fn name(&self) -> &'static str {
        match self.kind {
            RuntimeKind::Runc => "runc",
            RuntimeKind::Berth => "berth",
        }
    }

    /// The runtime-spec version the runtime reports in state documents and `spec`:
    /// runc 1.1.5 says "1.0.2-dev"; berth the version it implements in full.
    pub fn oci_version(&self) -> &'static str {
        match self.kind {
            RuntimeKind::Runc => "1.0.2-dev",
            RuntimeKind::Berth => "1.2.1",
        }
    }

    pub fn is_runc(&self) -> bool {
        self.kind == RuntimeKind::Runc
    }

    /// The state root passed as `--root`.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// A scratch directory for this test (removed on drop).
    pub fn work(&self) -> &Path {
        self.work.path()
    }

    /// Entries of the state root (container state dirs), sorted.
    pub fn root_entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.root())
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// A unique container id `<prefix>-<pid>-<n>`, remembered for cleanup.
    pub fn id(&self, prefix: &str) -> String {
        let id = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            IDS.fetch_add(1, Ordering::SeqCst)
        );
        self.containers.borrow_mut().push(id.clone());
        id
    }

    /// Remember a PID to SIGKILL on drop if it is still alive (a process the test started).
    pub fn track_pid(&self, pid: i64) {
        self.pids.borrow_mut().push(pid);
    }

    /// Set an environment variable for every later runtime command.
    pub fn env(&self, key: &str, value: &str) {
        self.extra_env.borrow_mut().push((key.into(), value.into()));
    }

    /// A command for `<bin> --root <root> ARGS...` (stdin null), for custom spawning.
    pub fn command<S: AsRef<str>>(&self, args: &[S]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.arg("--root").arg(self.root());
        for a in args {
            cmd.arg(a.as_ref());
        }
        for (k, v) in self.extra_env.borrow().iter() {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Run `<bin> --root <root> ARGS...`, stdout/stderr captured through files (so a
    /// container that inherits them cannot block us), killed after [`COMMAND_TIMEOUT`].
    pub fn run<S: AsRef<str>>(&self, args: &[S]) -> Output {
        self.run_cmd(self.command(args))
    }

    /// Run a prepared command with stdio captured as in [`Runtime::run`].
    pub fn run_cmd(&self, mut cmd: Command) -> Output {
        let n = IDS.fetch_add(1, Ordering::SeqCst);
        let out_path = self.work().join(format!("out-{n}"));
        let err_path = self.work().join(format!("err-{n}"));
        let out = std::fs::File::create(&out_path).unwrap();
        let err = std::fs::File::create(&err_path).unwrap();
        cmd.stdout(out).stderr(err);
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", self.bin));
        let end = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break Some(st);
            }
            if Instant::now() > end {
                let _ = child.kill(); // by PID
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
        let mut stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
        if status.is_none() {
            stderr.push_str(&format!("\n[harness: killed after {COMMAND_TIMEOUT:?}]"));
        }
        let _ = std::fs::remove_file(&out_path);
        let _ = std::fs::remove_file(&err_path);
        Output {
            code: status.and_then(|s| s.code()),
            stdout,
            stderr,
        }
    }

    /// `create --bundle B ID` (config written first).
    pub fn create(&self, id: &str, bundle: &Bundle) -> Output {
        bundle.write();
        self.run(&["create", "--bundle", path_str(bundle.path()), id])
    }

    pub fn start(&self, id: &str) -> Output {
        self.run(&["start", id])
    }

    /// `state ID` parsed as JSON (panics if it fails).
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.run(&["state", id]);
        assert!(out.success(), "state {id} failed: {out:?}");
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state {id}: bad JSON ({e}): {:?}", out.stdout))
    }

    /// The `status` field of `state ID`.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The container's init PID from `state ID`.
    #[track_caller]
    pub fn pid(&self, id: &str) -> i64 {
        self.state(id)["pid"].as_i64().unwrap()
    }

    /// Wait until `state ID` reports `status` (10s max).
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str) {
        let ok = crate::wait_for(Duration::from_secs(10), || {
            let out = self.run(&["state", id]);
            serde_json::from_str::<Value>(&out.stdout)
                .map(|v| v["status"] == status)
                .unwrap_or(false)
        });
        assert!(
            ok,
            "container {id} never reached {status}: {:?}",
            self.run(&["state", id])
        );
    }

    pub fn kill(&self, id: &str, signal: &str) -> Output {
        self.run(&["kill", id, signal])
    }

    pub fn delete(&self, id: &str) -> Output {
        self.run(&["delete", id])
    }

    pub fn delete_force(&self, id: &str) -> Output {
        self.run(&["delete", "--force", id])
    }

    /// `exec ARGS...` (ARGS include the id and the command).
    pub fn exec<S: AsRef<str>>(&self, args: &[S]) -> Output {
        let mut v: Vec<&str> = vec!["exec"];
        v.extend(args.iter().map(|s| s.as_ref()));
        self.run(&v)
    }

    pub fn list<S: AsRef<str>>(&self, args: &[S]) -> Output {
        let mut v: Vec<&str> = vec!["list"];
        v.extend(args.iter().map(|s| s.as_ref()));
        self.run(&v)
    }

    /// `run --bundle B ID` in the foreground; returns the whole Output. Removes the
    /// stopped container afterwards.
    pub fn run_bundle(&self, bundle: &Bundle) -> Output {
        bundle.write();
        let id = self.id("run");
        let out = self.run(&["run", "--bundle", path_str(bundle.path()), &id]);
        let _ = self.run(&["delete", "--force", &id]);
        out
    }

    /// Run a bundle to completion: (exit code, stdout, stderr). Exit code -1 if the
    /// runtime was killed by a signal.
    pub fn run_container(&self, bundle: &Bundle) -> (i32, String, String) {
        let out = self.run_bundle(bundle);
        (out.code.unwrap_or(-1), out.stdout, out.stderr)
    }

    /// Run a bundle that must exit 0 and return its stdout.
    #[track_caller]
    pub fn output_of(&self, bundle: &Bundle) -> String {
        let out = self.run_bundle(bundle);
        assert!(out.success(), "{} run failed: {out:?}", self.name());
        out.stdout
    }

    /// Create and start a container running `sleep 1000` (or the bundle's args); returns
    /// its id once it is running.
    #[track_caller]
    pub fn start_detached(&self, bundle: &Bundle) -> String {
        let id = self.id("bg");
        self.create(&id, bundle).ok();
        self.start(&id).ok();
        self.wait_status(&id, "running");
        id
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for id in self.containers.borrow().iter() {
            if !self.root().join(id).exists() {
                continue;
            }
            let pid = self
                .run(&["state", id])
                .stdout
                .parse::<Value>()
                .ok()
                .and_then(|v| v["pid"].as_i64())
                .unwrap_or(0);
            let _ = self.run(&["delete", "--force", id]);
            if pid > 0 && crate::pid_alive(pid) {
                eprintln!("cleanup: {} left pid {pid} of {id}; SIGKILL", self.name());
                // SAFETY: kill(2) of a specific PID this test's container owned.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
        for &pid in self.pids.borrow().iter() {
            if crate::pid_alive(pid) {
                // SAFETY: kill(2) of a specific PID the test started.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        }
    }
}

/// The berth binary: `$BERTH_BIN`, else `<target>/debug/berth` next to this test binary
/// (`target/debug/deps/<test>` → `target/debug/berth`), else `<workspace>/target/debug/berth`.
pub fn berth_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_BIN") {
        return PathBuf::from(p);
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent().and_then(|d| d.parent()) {
            let cand = dir.join("berth");
            if cand.exists() {
                return cand;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/berth")
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

pub(crate) fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Spawn helpers that need extra fds in the child (for `--preserve-fds`).
pub trait CommandFds {
    /// Make `fds[i].0` appear as fd `fds[i].1` in the child.
    fn with_fds(&mut self, fds: Vec<(i32, i32)>) -> &mut Self;
}

impl CommandFds for Command {
    fn with_fds(&mut self, fds: Vec<(i32, i32)>) -> &mut Self {
        // SAFETY: only async-signal-safe dup2/fcntl between fork and exec.
        unsafe {
            self.pre_exec(move || {
                for &(from, to) in &fds {
                    if from == to {
                        let flags = libc::fcntl(from, libc::F_GETFD);
                        libc::fcntl(from, libc::F_SETFD, flags & !libc::FD_CLOEXEC);
                    } else if libc::dup2(from, to) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            })
        };
        self
    }
}
