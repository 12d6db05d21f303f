//! `start`: containerd runs this with the bundle as working directory. It finds or starts
//! the long-running shim for the container's group, prints its ttrpc address and writes
//! the `address` and `shim.pid` files. Containers of one Kubernetes pod (same
//! `io.kubernetes.cri.sandbox-id` annotation) share one shim.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;

use crate::args::Args;
use crate::serve::LISTENER_FD;

const SANDBOX_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";
const SOCKET_DIR: &str = "/run/containerd/s";

/// The group a container is served in: its pod sandbox, or itself.
pub fn group_of(bundle: &Path, id: &str) -> String {
    let sandbox = std::fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|data| serde_json::from_slice::<serde_json::Value>(&data).ok())
        .and_then(|v| {
            v["annotations"][SANDBOX_ANNOTATION]
                .as_str()
                .map(String::from)
        });
    sandbox
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| id.to_string())
}

/// FNV-1a over the parts (each followed by a NUL): stable across builds, unlike std's
/// hasher, so a newer shim finds what an older one made.
pub fn stable_hash(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts
        .iter()
        .flat_map(|p| p.bytes().chain(std::iter::once(0)))
    {
        h ^= u64::from(byte);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A short, stable socket path per (containerd address, namespace, group).
pub fn socket_path(address: &str, namespace: &str, group: &str) -> PathBuf {
    let h = stable_hash(&[address, namespace, group]);
    PathBuf::from(SOCKET_DIR).join(format!("berth-{h:016x}"))
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    // Runtime options (a protobuf Any) arrive on stdin; none are used yet.
    let mut opts = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut opts);
    let bundle = match &args.bundle {
        Some(b) => b.clone(),
        None => std::env::current_dir().context("working directory")?,
    };
    let group = group_of(&bundle, &args.id);
    let path = socket_path(&args.address, &args.namespace, &group);
    let address = format!("unix://{}", path.display());

    if UnixStream::connect(&path).is_ok() {
        // A shim already serves this group.
        write_file(&bundle.join("address"), &address)?;
        print!("{address}");
        return Ok(());
    }
    std::fs::create_dir_all(SOCKET_DIR).with_context(|| format!("create {SOCKET_DIR}"))?;
    let _ = std::fs::remove_file(&path);
    let listener =
        UnixListener::bind(&path).with_context(|| format!("listen on {}", path.display()))?;

    let exe = std::env::current_exe().context("find own binary")?;
    let mut cmd = Command::new(exe);
    cmd.args(["-namespace", &args.namespace, "-id", &args.id])
        .args(["-address", &args.address])
        .arg("-publish-binary")
        .arg(&args.publish_binary)
        .args(["-socket", &address]);
    if args.debug {
        cmd.arg("-debug");
    }
    let log = open_log(&bundle);
    cmd.current_dir(&bundle)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let fd = listener.as_raw_fd();
    // SAFETY: `start` is single-threaded; the closure only makes async-signal-safe calls.
    unsafe {
        cmd.pre_exec(move || {
            let moved = if fd == LISTENER_FD {
                // Already in place: dup2 would be a no-op that keeps CLOEXEC set.
                libc::fcntl(fd, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, LISTENER_FD)
            };
            if libc::setsid() < 0 || moved < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().context("spawn shim")?;
    write_file(&bundle.join("shim.pid"), &child.id().to_string())?;
    write_file(&bundle.join("address"), &address)?;
    print!("{address}");
    Ok(())
}

/// containerd reads the shim's log from the `log` fifo in the bundle.
fn open_log(bundle: &Path) -> Stdio {
    let path = bundle.join("log");
    let opened = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path);
    match opened {
        Ok(f) => Stdio::from(f),
        Err(_) => Stdio::null(),
    }
}

use std::os::unix::fs::OpenOptionsExt;

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_share_a_socket() {
        let dir = std::env::temp_dir().join(format!("berth-shim-group-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.json"),
            r#"{"annotations":{"io.kubernetes.cri.sandbox-id":"pod1"}}"#,
        )
        .unwrap();
        assert_eq!(group_of(&dir, "c1"), "pod1");
        assert_eq!(group_of(Path::new("/nonexistent"), "c1"), "c1");
        std::fs::remove_dir_all(&dir).unwrap();
        let a = socket_path("/run/c.sock", "k8s.io", "pod1");
        assert_eq!(a, socket_path("/run/c.sock", "k8s.io", "pod1"));
        assert_ne!(a, socket_path("/run/c.sock", "default", "pod1"));
        assert!(a.as_os_str().len() < 100);
    }
}
