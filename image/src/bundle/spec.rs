//! The OCI runtime config a Docker container gets by default (moby's `oci/defaults.go`):
//! capabilities, namespaces, mounts, masked and read-only paths, device cgroup rules.

use serde_json::{json, Value};

use super::user::ResolvedUser;

/// Docker's default capability set.
pub const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

pub const MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// (type, major, minor, access) — `-1` is `*`.
const ALLOWED_DEVICES: &[(&str, i64, i64, &str)] = &[
    ("c", -1, -1, "m"),
    ("b", -1, -1, "m"),
    ("c", 1, 3, "rwm"),
    ("c", 1, 8, "rwm"),
    ("c", 1, 7, "rwm"),
    ("c", 5, 0, "rwm"),
    ("c", 1, 5, "rwm"),
    ("c", 1, 9, "rwm"),
    ("c", 5, 1, "rwm"),
    ("c", 136, -1, "rwm"),
    ("c", 5, 2, "rwm"),
    ("c", 10, 200, "rwm"),
];

/// A bind mount into the container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindMount {
    pub source: String,
    pub destination: String,
    pub readonly: bool,
}

pub struct SpecInput<'a> {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub user: &'a ResolvedUser,
    pub hostname: String,
    pub terminal: bool,
    pub host_network: bool,
    pub binds: &'a [BindMount],
    pub annotations: serde_json::Map<String, Value>,
}

fn device_rules() -> Vec<Value> {
    let mut v = vec![json!({"allow": false, "access": "rwm"})];
    for (t, maj, min, acc) in ALLOWED_DEVICES {
        let mut r = json!({"allow": true, "type": t, "access": acc});
        if *maj >= 0 {
            r["major"] = json!(maj);
        }
        if *min >= 0 {
            r["minor"] = json!(min);
        }
        v.push(r);
    }
    v
}

pub fn build(input: &SpecInput<'_>) -> Value {
    let caps = DEFAULT_CAPS;
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
               "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts",
               "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs",
               "options": ["nosuid", "noexec", "nodev", "ro"]}),
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["ro", "nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
               "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
               "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
    ];
    for b in input.binds {
        let mut opts = vec!["rbind", "rprivate"];
        if b.readonly {
            opts.push("ro");
        }
        mounts.push(json!({"destination": b.destination, "type": "bind",
                           "source": b.source, "options": opts}));
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
    ];
    if !input.host_network {
        namespaces.push(json!({"type": "network"}));
    }
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        namespaces.push(json!({"type": "cgroup"}));
    }
    let mut user = json!({"uid": input.user.uid, "gid": input.user.gid});
    if !input.user.additional_gids.is_empty() {
        user["additionalGids"] = json!(input.user.additional_gids);
    }
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": input.terminal,
            "user": user,
            "args": input.args,
            "env": input.env,
            "cwd": input.cwd,
            "capabilities": {
                "bounding": caps, "effective": caps, "permitted": caps,
            },
            "noNewPrivileges": false,
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": input.hostname,
        "mounts": mounts,
        "annotations": input.annotations,
        "linux": {
            "namespaces": namespaces,
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "resources": {"devices": device_rules()},
        },
    })
}
