//! `start`: containerd runs this with the bundle as working directory. It finds or starts
//! the long-running shim for the container's group, tells containerd its ttrpc address
//! and writes the `address` and `shim.pid` files. Containers of one Kubernetes pod (same
//! `io.kubernetes.cri.sandbox-id` annotation) share one shim.
//!
//! Two exchanges on stdin/stdout, told apart by what containerd sends: containerd ≥ 2.3
//! sends BootstrapParams (protobuf) and reads a BootstrapResult (protobuf: version 3 =
//! the Task API v3, the address, "ttrpc"); containerd 1.6–2.2 send the runtime options
//! (or nothing) and read the bare address (version 2 of the exchange, which they answer
//! with the Task API v2; we serve both).

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;
use containerd_shim_protos::bootstrap_api::{BootstrapParams, BootstrapResult};
use protobuf::Message;

use crate::args::Args;

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

/// The listening socket `start` passes to the shim it spawns (serve.rs takes it).
pub const LISTENER_FD: std::os::fd::RawFd = 3;

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
pub fn socket_path(dir: &Path, address: &str, namespace: &str, group: &str) -> PathBuf {
    let h = stable_hash(&[address, namespace, group]);
    dir.join(format!("berth-{h:016x}"))
}

/// The bootstrap parameters, when stdin holds them. Runtime options of an older
/// containerd can decode as BootstrapParams by chance, so the id and namespace must match
/// the command line (containerd's own shim library checks the same).
fn bootstrap_params(input: &[u8], args: &Args) -> Option<BootstrapParams> {
    let params = BootstrapParams::parse_from_bytes(input).ok()?;
    (!input.is_empty() && params.instance_id == args.id && params.namespace == args.namespace)
        .then_some(params)
}

/// What `start` prints: a BootstrapResult for the bootstrap exchange, else the address.
fn start_reply(bootstrap: bool, address: &str) -> anyhow::Result<Vec<u8>> {
    if !bootstrap {
        return Ok(address.as_bytes().to_vec());
    }
    let mut result = BootstrapResult::new();
    result.version = 3;
    result.address = address.into();
    result.protocol = "ttrpc".into();
    result.write_to_bytes().context("encode BootstrapResult")
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    // Bootstrap parameters or runtime options (a protobuf Any; none used yet).
    let mut input = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut input);
    let bootstrap = bootstrap_params(&input, args);
    let socket_dir = bootstrap
        .as_ref()
        .and_then(|p| p.socket_dir.clone())
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SOCKET_DIR));
    let reply = |address: &str| -> anyhow::Result<()> {
        let bytes = start_reply(bootstrap.is_some(), address)?;
        std::io::stdout()
            .write_all(&bytes)
            .context("write the start reply")
    };
    let bundle = match &args.bundle {
        Some(b) => b.clone(),
        None => std::env::current_dir().context("working directory")?,
    };
    let group = group_of(&bundle, &args.id);
    let path = socket_path(&socket_dir, &args.address, &args.namespace, &group);
    let address = format!("unix://{}", path.display());

    if UnixStream::connect(&path).is_ok() {
        // A shim already serves this group.
        write_file(&bundle.join("address"), &address)?;
        return reply(&address);
    }
    std::fs::create_dir_all(&socket_dir)
        .with_context(|| format!("create {}", socket_dir.display()))?;
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
    reply(&address)
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
        let dir = Path::new(SOCKET_DIR);
        let a = socket_path(dir, "/run/c.sock", "k8s.io", "pod1");
        assert_eq!(a, socket_path(dir, "/run/c.sock", "k8s.io", "pod1"));
        assert_ne!(a, socket_path(dir, "/run/c.sock", "default", "pod1"));
        assert!(a.as_os_str().len() < 100);
    }

    fn args(id: &str, ns: &str) -> Args {
        Args::parse(["-namespace", ns, "-id", id, "start"].map(String::from)).unwrap()
    }

    fn params(id: &str, ns: &str) -> Vec<u8> {
        let mut p = BootstrapParams::new();
        p.instance_id = id.into();
        p.namespace = ns.into();
        p.containerd_ttrpc_address = "/run/containerd/containerd.sock.ttrpc".into();
        p.socket_dir = Some("/run/c/s".into());
        p.write_to_bytes().unwrap()
    }

    #[test]
    fn bootstrap_params_are_told_from_legacy_input() {
        let got = bootstrap_params(&params("c1", "default"), &args("c1", "default")).unwrap();
        assert_eq!(got.socket_dir.as_deref(), Some("/run/c/s"));
        // Another container's or namespace's parameters are not ours.
        assert!(bootstrap_params(&params("c2", "default"), &args("c1", "default")).is_none());
        assert!(bootstrap_params(&params("c1", "k8s.io"), &args("c1", "default")).is_none());
        // containerd 1.6-2.2: nothing, or the runtime options as an Any.
        assert!(bootstrap_params(&[], &args("c1", "default")).is_none());
        let mut opts = protobuf::well_known_types::any::Any::new();
        opts.type_url = "containerd.runc.v1.Options".into();
        let opts = opts.write_to_bytes().unwrap();
        assert!(bootstrap_params(&opts, &args("c1", "default")).is_none());
    }

    #[test]
    fn start_replies_in_the_callers_form() {
        let addr = "unix:///run/containerd/s/berth-0123456789abcdef";
        assert_eq!(start_reply(false, addr).unwrap(), addr.as_bytes());
        let result = BootstrapResult::parse_from_bytes(&start_reply(true, addr).unwrap()).unwrap();
        assert_eq!(
            (
                result.version,
                result.address.as_str(),
                result.protocol.as_str()
            ),
            (3, addr, "ttrpc")
        );
    }
}
