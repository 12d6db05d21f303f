//! Shared by the integration tests: temp dirs, running berth-image, a private
//! docker-registry on 127.0.0.1, and a busybox image.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub struct Tmp(pub PathBuf);

impl Tmp {
    pub fn new(what: &str) -> Tmp {
        let p = std::env::temp_dir().join(format!(
            "berth-image-it-{what}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn have(tool: &str) -> bool {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .any(|d| d.join(tool).is_file())
}

/// Skip (with a note) when a tool is missing.
#[macro_export]
macro_rules! require {
    ($tool:expr) => {
        if !common::have($tool) {
            eprintln!("skipped: {} not installed (make packages-test)", $tool);
            return;
        }
    };
}

pub fn bi(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth-image"))
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Run berth-image and demand success; returns stdout.
pub fn ok(root: &Path, args: &[&str]) -> String {
    let o = bi(root, args);
    assert!(
        o.status.success(),
        "berth-image {args:?} failed: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Run berth-image and demand failure; returns stderr.
pub fn fails(root: &Path, args: &[&str]) -> String {
    let o = bi(root, args);
    assert!(!o.status.success(), "berth-image {args:?} should fail");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn sh(cmd: &mut Command) -> String {
    let o = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        o.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn busybox(root: &Path, name: &str, compression: &str) {
    ok(root, &["busybox", name, "--compression", compression]);
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// docker-registry on 127.0.0.1 with private storage; killed (by pid) on drop.
pub struct Registry {
    child: Child,
    pub addr: String,
    _dir: Tmp,
}

/// bcrypt of "s3cret" (cost 4), for the htpasswd file.
pub const HTPASSWD: &str = "berth:$2b$04$4VIv7BuYwwTLCs2kiMHRHO.9jdvLY1Tv5C/57GLNvA0VnBVpHaWEW\n";

impl Registry {
    pub fn start(htpasswd: bool) -> Registry {
        Registry::start_with(htpasswd, None)
    }

    /// With `tls` = (certificate PEM, key PEM): an https registry.
    pub fn start_with(htpasswd: bool, tls: Option<(&str, &str)>) -> Registry {
        let dir = Tmp::new("registry");
        let port = free_port();
        let mut cfg = format!(
            "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\n  delete: {{enabled: true}}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if htpasswd {
            let hp = dir.path().join("htpasswd");
            std::fs::write(&hp, HTPASSWD).unwrap();
            cfg.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth\n    path: {}\n",
                hp.display()
            ));
        }
        if let Some((cert, key)) = tls {
            let (c, k) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            std::fs::write(&c, cert).unwrap();
            std::fs::write(&k, key).unwrap();
            cfg.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                c.display(),
                k.display()
            ));
        }
        let cp = dir.path().join("config.yml");
        std::fs::write(&cp, cfg).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cp)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr = format!("127.0.0.1:{port}");
        let t = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(15),
                "docker-registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
