//! `berth spec`: writes runc's example `config.json`, byte for byte.
//!
//! runc builds the document from Go structs (`specconv.Example()`, then `ToRootless()`
//! for `--rootless`) and writes `json.MarshalIndent(spec, "", "\t")`: tab indentation,
//! fields in the Go structs' order, empty fields left out, no trailing newline, mode
//! 0666 before the umask. The structs below hold exactly the fields that document uses,
//! in that order.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct SpecArgs {
    /// path to the root of the bundle directory
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// generate a configuration for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

pub fn run(args: &SpecArgs) -> anyhow::Result<()> {
    let bundle = args.bundle.as_deref().unwrap_or(Path::new(""));
    // runc chdirs into the bundle first, and fails there for a missing one.
    if !bundle.as_os_str().is_empty() {
        std::fs::metadata(bundle)
            .and_then(|m| {
                if m.is_dir() {
                    Ok(())
                } else {
                    Err(std::io::Error::from_raw_os_error(libc::ENOTDIR))
                }
            })
            .map_err(|e| go_error("chdir", bundle, &e))?;
    }
    let path = bundle.join("config.json");
    // runc's checkNoFile: stat, and only "does not exist" is fine.
    match std::fs::metadata(&path) {
        Ok(_) => bail!("File config.json exists. Remove it first"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(go_error("stat", Path::new("config.json"), &e)),
    }
    let data = render(
        args.rootless,
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o666)
        .open(&path)
        .map_err(|e| go_error("open", Path::new("config.json"), &e))?;
    file.write_all(data.as_bytes())
        .with_context(|| format!("write {}", path.display()))?;
    Ok(())
}

/// An error as Go's `*PathError` prints it: `op path: lower-case strerror`.
fn go_error(op: &str, path: &Path, e: &std::io::Error) -> anyhow::Error {
    let errno = nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    anyhow::anyhow!("{op} {}: {}", path.display(), libcontainer::SysError(errno))
}

/// The document `runc spec [--rootless]` writes, for a runtime running as `uid`/`gid`
/// (only used by the rootless variant's id mappings).
pub fn render(rootless: bool, uid: u32, gid: u32) -> String {
    let mut spec = example();
    if rootless {
        to_rootless(&mut spec, uid, gid);
    }
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    spec.serialize(&mut ser)
        .expect("serializing plain structs cannot fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Spec {
    oci_version: &'static str,
    process: Process,
    root: Root,
    hostname: &'static str,
    mounts: Vec<Mount>,
    linux: Linux,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Process {
    terminal: bool,
    user: User,
    args: Vec<&'static str>,
    env: Vec<&'static str>,
    cwd: &'static str,
    capabilities: Capabilities,
    rlimits: Vec<Rlimit>,
    no_new_privileges: bool,
}

#[derive(Serialize)]
struct User {
    uid: u32,
    gid: u32,
}

#[derive(Serialize)]
struct Capabilities {
    bounding: Vec<&'static str>,
    effective: Vec<&'static str>,
    permitted: Vec<&'static str>,
    ambient: Vec<&'static str>,
}

#[derive(Serialize)]
struct Rlimit {
    #[serde(rename = "type")]
    kind: &'static str,
    hard: u64,
    soft: u64,
}

#[derive(Serialize)]
struct Root {
    path: &'static str,
    readonly: bool,
}

#[derive(Serialize)]
struct Mount {
    destination: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    source: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    options: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Linux {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    uid_mappings: Vec<IdMapping>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    gid_mappings: Vec<IdMapping>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resources: Option<Resources>,
    namespaces: Vec<Namespace>,
    masked_paths: Vec<&'static str>,
    readonly_paths: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IdMapping {
    #[serde(rename = "containerID")]
    container_id: u32,
    #[serde(rename = "hostID")]
    host_id: u32,
    size: u32,
}

#[derive(Serialize)]
struct Resources {
    devices: Vec<DeviceRule>,
}

#[derive(Serialize)]
struct DeviceRule {
    allow: bool,
    access: &'static str,
}

#[derive(Serialize)]
struct Namespace {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// runc's `specconv.Example()`.
fn example() -> Spec {
    const CAPS: [&str; 3] = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let mount = |destination, kind, source, options: &[&'static str]| Mount {
        destination,
        kind,
        source,
        options: options.to_vec(),
    };
    Spec {
        oci_version: "1.0.2-dev",
        process: Process {
            terminal: true,
            user: User { uid: 0, gid: 0 },
            args: vec!["sh"],
            env: vec![
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm",
            ],
            cwd: "/",
            capabilities: Capabilities {
                bounding: CAPS.to_vec(),
                effective: CAPS.to_vec(),
                permitted: CAPS.to_vec(),
                ambient: CAPS.to_vec(),
            },
            rlimits: vec![Rlimit {
                kind: "RLIMIT_NOFILE",
                hard: 1024,
                soft: 1024,
            }],
            no_new_privileges: true,
        },
        root: Root {
            path: "rootfs",
            readonly: true,
        },
        hostname: "runc",
        mounts: vec![
            mount("/proc", "proc", "proc", &[]),
            mount(
                "/dev",
                "tmpfs",
                "tmpfs",
                &["nosuid", "strictatime", "mode=755", "size=65536k"],
            ),
            mount(
                "/dev/pts",
                "devpts",
                "devpts",
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ],
            ),
            mount(
                "/dev/shm",
                "tmpfs",
                "shm",
                &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
            ),
            mount(
                "/dev/mqueue",
                "mqueue",
                "mqueue",
                &["nosuid", "noexec", "nodev"],
            ),
            mount(
                "/sys",
                "sysfs",
                "sysfs",
                &["nosuid", "noexec", "nodev", "ro"],
            ),
            mount(
                "/sys/fs/cgroup",
                "cgroup",
                "cgroup",
                &["nosuid", "noexec", "nodev", "relatime", "ro"],
            ),
        ],
        linux: Linux {
            uid_mappings: Vec::new(),
            gid_mappings: Vec::new(),
            resources: Some(Resources {
                devices: vec![DeviceRule {
                    allow: false,
                    access: "rwm",
                }],
            }),
            namespaces: ["pid", "network", "ipc", "uts", "mount"]
                .into_iter()
                .map(|kind| Namespace { kind })
                .collect(),
            masked_paths: vec![
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            readonly_paths: vec![
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ],
        },
    }
}

/// runc's `specconv.ToRootless()`: no network namespace, a user namespace mapping
/// root to the caller, `/sys` bind-mounted, no `uid=`/`gid=` mount options, no
/// cgroup resources.
fn to_rootless(spec: &mut Spec, uid: u32, gid: u32) {
    let linux = &mut spec.linux;
    linux
        .namespaces
        .retain(|ns| ns.kind != "network" && ns.kind != "user");
    linux.namespaces.push(Namespace { kind: "user" });
    linux.uid_mappings = vec![IdMapping {
        container_id: 0,
        host_id: uid,
        size: 1,
    }];
    linux.gid_mappings = vec![IdMapping {
        container_id: 0,
        host_id: gid,
        size: 1,
    }];
    linux.resources = None;
    for m in &mut spec.mounts {
        if m.destination == "/sys" {
            *m = Mount {
                destination: "/sys",
                kind: "none",
                source: "/sys",
                options: vec!["rbind", "nosuid", "noexec", "nodev", "ro"],
            };
        } else {
            m.options
                .retain(|o| !o.starts_with("uid=") && !o.starts_with("gid="));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_and_ends_like_runc() {
        let s = render(false, 0, 0);
        assert!(s.starts_with(
            "{\n\t\"ociVersion\": \"1.0.2-dev\",\n\t\"process\": {\n\t\t\"terminal\": true,"
        ));
        assert!(s.ends_with("\t\t]\n\t}\n}"), "no trailing newline");
        assert!(s.contains("\t\"hostname\": \"runc\",\n"));
        assert!(s.contains("\t\t\t\"destination\": \"/proc\",\n\t\t\t\"type\": \"proc\",\n\t\t\t\"source\": \"proc\"\n\t\t},"));
    }

    #[test]
    fn rootless_maps_the_caller() {
        let s = render(true, 1000, 1001);
        assert!(s.contains("\"uidMappings\": [\n\t\t\t{\n\t\t\t\t\"containerID\": 0,\n\t\t\t\t\"hostID\": 1000,\n\t\t\t\t\"size\": 1\n"));
        assert!(s.contains("\"hostID\": 1001,"));
        assert!(!s.contains("\"network\""));
        assert!(!s.contains("gid=5"));
        assert!(!s.contains("resources"));
        assert!(s.contains("\"type\": \"user\""));
    }

    /// Runs `runc spec` in a scratch directory when runc is installed.
    fn runc_spec(rootless: bool) -> Option<Vec<u8>> {
        let dir = tempdir("runc");
        let mut cmd = std::process::Command::new("runc");
        cmd.arg("spec").current_dir(&dir);
        if rootless {
            cmd.arg("--rootless");
        }
        let out = match cmd.output() {
            Ok(out) => out,
            Err(_) => {
                eprintln!("runc not found: skipping the comparison");
                return None;
            }
        };
        assert!(
            out.status.success(),
            "runc spec: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let data = std::fs::read(dir.join("config.json")).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        Some(data)
    }

    fn tempdir(tag: &str) -> PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "berth-spec-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn identical_to_runc() {
        let (uid, gid) = (
            nix::unistd::geteuid().as_raw(),
            nix::unistd::getegid().as_raw(),
        );
        for rootless in [false, true] {
            if let Some(expected) = runc_spec(rootless) {
                let ours = render(rootless, uid, gid);
                assert_eq!(
                    ours,
                    String::from_utf8(expected).unwrap(),
                    "rootless={rootless}"
                );
            }
        }
    }

    #[test]
    fn writes_once_then_refuses() {
        let dir = tempdir("run");
        let args = SpecArgs {
            bundle: Some(dir.clone()),
            rootless: false,
        };
        run(&args).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.join("config.json")).unwrap(),
            render(false, 0, 0)
        );
        let err = run(&args).unwrap_err();
        assert_eq!(err.to_string(), "File config.json exists. Remove it first");
        std::fs::remove_dir_all(&dir).unwrap();

        let missing = dir.join("missing");
        let err = run(&SpecArgs {
            bundle: Some(missing.clone()),
            rootless: false,
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("chdir {}: no such file or directory", missing.display())
        );
    }
}
