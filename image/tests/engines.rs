//! docker-archive interop with the real engines: `berth-image save` output loads into
//! `docker load` (Debian's dockerd, started here with private roots and socket) and
//! `podman load` (private --root/--runroot), and their `save` output loads into
//! berth-image with the same image id. Skipped when the tools are not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The image id (config digest) of `name` in a berth-image store.
fn image_id(root: &Path, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&ok(root, &["inspect", name])).unwrap();
    v["Id"]
        .as_str()
        .or(v["Config"]["digest"].as_str())
        .unwrap_or_else(|| panic!("no image id in {v}"))
        .to_string()
}

/// dockerd with its own data root, exec root, pid file and socket under a temp dir,
/// no bridge and no iptables; stopped by pid (SIGTERM, then SIGKILL) on drop.
struct Dockerd {
    child: Child,
    sock: String,
    client: PathBuf,
    dir: Tmp,
}

impl Dockerd {
    fn start() -> Dockerd {
        let dir = Tmp::new("dockerd");
        let d = dir.path();
        std::fs::write(d.join("daemon.json"), "{}").unwrap();
        let sock = format!("unix://{}", d.join("docker.sock").display());
        let log = std::fs::File::create(d.join("dockerd.log")).unwrap();
        let child = Command::new("dockerd")
            .arg("--config-file")
            .arg(d.join("daemon.json"))
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("docker.pid"))
            .args(["--host", &sock])
            .args(["--bridge", "none", "--iptables=false", "--ip-forward=false"])
            .args(["--ip-masq=false", "--storage-driver", "vfs"])
            .args([
                "--containerd-namespace",
                &format!("berth-it-{}", std::process::id()),
            ])
            .args([
                "--containerd-plugins-namespace",
                &format!("berth-it-{}-plugins", std::process::id()),
            ])
            .args(["--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        // Debian's client matches the daemon's API version; any docker CLI will do.
        let client = ["/usr/bin/docker"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("docker"));
        let mut dk = Dockerd {
            child,
            sock,
            client,
            dir,
        };
        let t = Instant::now();
        loop {
            if dk.docker(&["version"]).status.success() {
                return dk;
            }
            if t.elapsed() > Duration::from_secs(30) || dk.child.try_wait().ok().flatten().is_some()
            {
                let log =
                    std::fs::read_to_string(dk.dir.path().join("dockerd.log")).unwrap_or_default();
                let last: Vec<&str> = log.lines().rev().take(3).collect();
                panic!("dockerd did not start: {}", last.join(" | "));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.client)
            .args(["--host", &self.sock])
            .args(args)
            .env("DOCKER_CONFIG", self.dir.path().join("client"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.docker(args);
        assert!(
            o.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(15) {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn docker_loads_ours_and_we_load_dockers() {
    require!("dockerd");
    require!("docker");
    let a = Tmp::new("docker-interop");
    busybox(a.path(), "bb:1", "gzip");
    let ours = a.path().join("ours.tar");
    ok(a.path(), &["save", "bb:1", "-o", ours.to_str().unwrap()]);
    let id = image_id(a.path(), "bb:1");

    let dk = Dockerd::start();
    let out = dk.ok(&["load", "-i", ours.to_str().unwrap()]);
    assert!(out.contains("Loaded image: bb:1"), "{out}");
    let got = dk.ok(&["image", "inspect", "--format", "{{.Id}}", "bb:1"]);
    assert_eq!(got.trim(), id, "docker's image id is the config digest");

    dk.ok(&["tag", "bb:1", "fromdocker/bb:2"]);
    let theirs = a.path().join("theirs.tar");
    dk.ok(&["save", "-o", theirs.to_str().unwrap(), "fromdocker/bb:2"]);
    let b = Tmp::new("docker-interop-b");
    ok(b.path(), &["load", "-i", theirs.to_str().unwrap()]);
    assert_eq!(image_id(b.path(), "fromdocker/bb:2"), id);
    let bundle = b.path().join("bundle");
    ok(
        b.path(),
        &["bundle", "fromdocker/bb:2", bundle.to_str().unwrap()],
    );
    assert!(bundle.join("rootfs/bin/busybox").exists());
}

#[test]
fn podman_loads_ours_and_we_load_podmans() {
    require!("podman");
    let a = Tmp::new("podman-interop");
    busybox(a.path(), "bb:1", "zstd");
    let ours = a.path().join("ours.tar");
    ok(a.path(), &["save", "bb:1", "-o", ours.to_str().unwrap()]);
    let id = image_id(a.path(), "bb:1");

    // podman refuses a runroot longer than 50 characters: a short private dir.
    let short = Tmp(std::env::temp_dir().join(format!("bi-pm-{}", std::process::id())));
    let p = short.path().to_path_buf();
    let podman = |args: &[&str]| {
        let o = Command::new("podman")
            .arg("--root")
            .arg(p.join("root"))
            .arg("--runroot")
            .arg(p.join("runroot"))
            .arg("--tmpdir")
            .arg(p.join("tmp"))
            .args(["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file", "--log-level", "error"])
            .args(args)
            .env("XDG_CONFIG_HOME", p.join("config"))
            .env("CONTAINERS_REGISTRIES_CONF", p.join("registries.conf"))
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "podman {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(
        p.join("registries.conf"),
        "unqualified-search-registries = []\n",
    )
    .unwrap();
    let out = podman(&["load", "-i", ours.to_str().unwrap()]);
    assert!(out.contains("bb:1"), "{out}");
    let got = podman(&["image", "inspect", "--format", "{{.Id}}", "bb:1"]);
    assert_eq!(format!("sha256:{}", got.trim()), id);

    podman(&["tag", "bb:1", "frompodman/bb:2"]);
    let theirs = a.path().join("theirs.tar");
    podman(&[
        "save",
        "--format",
        "docker-archive",
        "-o",
        theirs.to_str().unwrap(),
        "frompodman/bb:2",
    ]);
    let b = Tmp::new("podman-interop-b");
    ok(b.path(), &["load", "-i", theirs.to_str().unwrap()]);
    assert_eq!(image_id(b.path(), "frompodman/bb:2"), id);
    podman(&["rmi", "-a", "-f"]);
}
