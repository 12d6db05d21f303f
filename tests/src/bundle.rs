//! Bundles made from Debian's busybox-static, with a `config.json` built from runc's
//! default spec.

use crate::tempdir::TempDir;
use serde_json::Value;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

pub(crate) const BUSYBOX: &str = "/bin/busybox";

/// `runc spec` output of runc 1.1.5, with `"terminal": false`.
pub const RUNC_DEFAULT_SPEC: &str = r##"
{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": false,
		"user": {
			"uid": 0,
			"gid": 0
		},
		"args": [
			"sh"
		],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"effective": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"permitted": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"ambient": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			]
		},
		"rlimits": [
			{
				"type": "RLIMIT_NOFILE",
				"hard": 1024,
				"soft": 1024
			}
		],
		"noNewPrivileges": true
	},
	"root": {
		"path": "rootfs",
		"readonly": true
	},
	"hostname": "runc",
	"mounts": [
		{
			"destination": "/proc",
			"type": "proc",
			"source": "proc"
		},
		{
			"destination": "/dev",
			"type": "tmpfs",
			"source": "tmpfs",
			"options": [
				"nosuid",
				"strictatime",
				"mode=755",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/pts",
			"type": "devpts",
			"source": "devpts",
			"options": [
				"nosuid",
				"noexec",
				"newinstance",
				"ptmxmode=0666",
				"mode=0620",
				"gid=5"
			]
		},
		{
			"destination": "/dev/shm",
			"type": "tmpfs",
			"source": "shm",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"mode=1777",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/mqueue",
			"type": "mqueue",
			"source": "mqueue",
			"options": [
				"nosuid",
				"noexec",
				"nodev"
			]
		},
		{
			"destination": "/sys",
			"type": "sysfs",
			"source": "sysfs",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"ro"
			]
		},
		{
			"destination": "/sys/fs/cgroup",
			"type": "cgroup",
			"source": "cgroup",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"relatime",
				"ro"
			]
		}
	],
	"linux": {
		"resources": {
			"devices": [
				{
					"allow": false,
					"access": "rwm"
				}
			]
		},
		"namespaces": [
			{
				"type": "pid"
			},
			{
				"type": "network"
			},
			{
				"type": "ipc"
			},
			{
				"type": "uts"
			},
			{
				"type": "mount"
			}
		],
		"maskedPaths": [
			"/proc/acpi",
			"/proc/asound",
			"/proc/kcore",
			"/proc/keys",
			"/proc/latency_stats",
			"/proc/timer_list",
			"/proc/timer_stats",
			"/proc/sched_debug",
			"/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus",
			"/proc/fs",
			"/proc/irq",
			"/proc/sys",
			"/proc/sysrq-trigger"
		]
	}
}"##;

/// An OCI bundle in a unique temp dir (removed on drop): `rootfs/` with busybox and
/// its applets, `/etc/passwd` and `/etc/group`, and a config held as JSON until
/// [`Bundle::write`] (called by the runtime helpers before each use).
pub struct Bundle {
    dir: TempDir,
    /// The config that will be written as `config.json`; edit freely.
    pub config: Value,
}

impl Default for Bundle {
    fn default() -> Self {
        Self::new()
    }
}

impl Bundle {
    /// A bundle running `sh` (no terminal) with runc's default config.
    pub fn new() -> Bundle {
        crate::require_environment();
        let dir = TempDir::new("bundle");
        let root = dir.path().join("rootfs");
        for d in [
            "bin",
            "sbin",
            "etc",
            "dev",
            "proc",
            "sys",
            "tmp",
            "root",
            "home/user",
            "usr/bin",
            "var",
            "run",
            "mnt",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777))
            .unwrap();
        std::fs::copy(BUSYBOX, root.join("bin/busybox")).expect("copy busybox");
        for applet in APPLETS {
            symlink("busybox", root.join("bin").join(applet)).unwrap();
        }
        std::fs::write(
            root.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\n\
             user:x:1000:1000:user:/home/user:/bin/sh\n\
             nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        std::fs::write(
            root.join("etc/group"),
            "root:x:0:\nuser:x:1000:\nextra:x:2000:user\nnogroup:x:65534:\n",
        )
        .unwrap();
        let c = std::ffi::CString::new(root.join("home/user").to_str().unwrap()).unwrap();
        // SAFETY: chown(2) of a path we just made, through a NUL-terminated string that
        // outlives the call.
        unsafe { libc::chown(c.as_ptr(), 1000, 1000) };
        let config = serde_json::from_str(RUNC_DEFAULT_SPEC).expect("default spec parses");
        Bundle { dir, config }
    }

    /// A bundle whose process is `sh -c SCRIPT`.
    pub fn sh(script: &str) -> Bundle {
        let mut b = Bundle::new();
        b.args(&["sh", "-c", script]);
        b
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    /// Set `process.args`.
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.set("process.args", serde_json::json!(args))
    }

    /// Set the field at a dotted path (`"process.user.uid"`, `"mounts.0.options"`),
    /// creating objects on the way; array elements by index, `-` appends.
    pub fn set(&mut self, path: &str, value: Value) -> &mut Self {
        let mut cur = &mut self.config;
        let parts: Vec<&str> = path.split('.').collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i == parts.len() - 1;
            if let Value::Array(arr) = cur {
                if *part == "-" {
                    arr.push(Value::Null);
                    let n = arr.len() - 1;
                    cur = &mut arr[n];
                } else {
                    let n: usize = part.parse().unwrap_or_else(|_| panic!("bad index {part}"));
                    cur = &mut arr[n];
                }
            } else {
                if !cur.is_object() {
                    *cur = Value::Object(Default::default());
                }
                cur = cur
                    .as_object_mut()
                    .unwrap()
                    .entry(part.to_string())
                    .or_insert(Value::Null);
            }
            if last {
                *cur = value;
                return self;
            }
        }
        self
    }

    /// Remove the field at a dotted path (object keys only).
    pub fn remove(&mut self, path: &str) -> &mut Self {
        let (parent, key) = path.rsplit_once('.').unwrap_or(("", path));
        let obj = if parent.is_empty() {
            Some(&mut self.config)
        } else {
            self.config
                .pointer_mut(&format!("/{}", parent.replace('.', "/")))
        };
        if let Some(Value::Object(m)) = obj {
            m.remove(key);
        }
        self
    }

    /// Edit the config with a closure.
    pub fn with(&mut self, f: impl FnOnce(&mut Value)) -> &mut Self {
        f(&mut self.config);
        self
    }

    /// Append to the array at a dotted path (created if missing).
    pub fn push(&mut self, path: &str, value: Value) -> &mut Self {
        let ptr = format!("/{}", path.replace('.', "/"));
        if self.config.pointer(&ptr).map(|v| v.is_array()) != Some(true) {
            self.set(path, Value::Array(vec![]));
        }
        self.config
            .pointer_mut(&ptr)
            .unwrap()
            .as_array_mut()
            .unwrap()
            .push(value);
        self
    }

    /// A writable root filesystem (runc's default spec is read-only).
    pub fn writable(&mut self) -> &mut Self {
        self.set("root.readonly", Value::Bool(false))
    }

    /// Add a namespace `{"type": kind}` (with `path` if given) unless already present.
    pub fn namespace(&mut self, kind: &str, path: Option<&str>) -> &mut Self {
        let nss = self.config["linux"]["namespaces"].as_array_mut().unwrap();
        nss.retain(|n| n["type"] != kind);
        let mut ns = serde_json::json!({ "type": kind });
        if let Some(p) = path {
            ns["path"] = Value::String(p.to_string());
        }
        nss.push(ns);
        self
    }

    /// Drop a namespace type from `linux.namespaces`.
    pub fn without_namespace(&mut self, kind: &str) -> &mut Self {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .retain(|n| n["type"] != kind);
        self
    }

    /// Bind-mount a host directory into the container (read-write).
    pub fn bind(&mut self, host: &Path, dest: &str, extra: &[&str]) -> &mut Self {
        let mut opts = vec!["rbind".to_string()];
        opts.extend(extra.iter().map(|s| s.to_string()));
        self.push(
            "mounts",
            serde_json::json!({
                "destination": dest, "type": "bind", "source": host, "options": opts
            }),
        )
    }

    /// Write `config.json` (pretty, as runc writes it).
    pub fn write(&self) {
        std::fs::write(
            self.config_path(),
            serde_json::to_vec_pretty(&self.config).unwrap(),
        )
        .expect("write config.json");
    }
}

/// Busybox applets linked into every rootfs (what the tests use, and a bit more).
const APPLETS: &[&str] = &[
    "sh",
    "ash",
    "cat",
    "echo",
    "ls",
    "id",
    "sleep",
    "true",
    "false",
    "pwd",
    "env",
    "mkdir",
    "touch",
    "rm",
    "grep",
    "head",
    "tail",
    "hostname",
    "domainname",
    "mount",
    "umount",
    "readlink",
    "stat",
    "sysctl",
    "test",
    "[",
    "printf",
    "wc",
    "sort",
    "cut",
    "tr",
    "ps",
    "kill",
    "nsenter",
    "unshare",
    "date",
    "uname",
    "chmod",
    "chown",
    "ln",
    "cp",
    "mv",
    "awk",
    "sed",
    "dd",
    "find",
    "xargs",
    "tee",
    "seq",
    "mknod",
    "nc",
    "ip",
    "ifconfig",
    "whoami",
    "timeout",
    "yes",
    "basename",
    "dirname",
    "uptime",
];
