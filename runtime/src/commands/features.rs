//! `berth features`: the OCI features document (runtime-spec `features.md`).
//!
//! Printed the way `runc features` prints it: Go's `json.Encoder` with a four-space
//! indent, fields in the Go structs' order, empty fields left out, map keys sorted, and
//! a trailing newline. oci-spec's `Features` type is not used for output: it writes
//! `null` for every absent field and keeps annotations in a `HashMap`.

use std::collections::BTreeMap;

use serde::Serialize;

#[derive(clap::Args, Debug)]
pub struct FeaturesArgs {}

pub fn run(_args: &FeaturesArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(render().as_bytes())?;
    out.flush()?;
    Ok(())
}

/// The newest runtime-spec version Berth implements in full (see libcontainer's state).
pub const OCI_VERSION_MAX: &str = libcontainer::state::OCI_VERSION;
pub const OCI_VERSION_MIN: &str = "1.0.0";

const HOOKS: &[&str] = &[
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Mount options the mount table understands (the same set runc 1.1.5 lists), sorted.
const MOUNT_OPTIONS: &[&str] = &[
    "acl",
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "iversion",
    "lazytime",
    "loud",
    "mand",
    "noacl",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "noiversion",
    "nolazytime",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "ratime",
    "rbind",
    "rdev",
    "rdiratime",
    "relatime",
    "remount",
    "rexec",
    "rnoatime",
    "rnodev",
    "rnodiratime",
    "rnoexec",
    "rnorelatime",
    "rnostrictatime",
    "rnosuid",
    "rnosymfollow",
    "ro",
    "rprivate",
    "rrelatime",
    "rro",
    "rrw",
    "rshared",
    "rslave",
    "rstrictatime",
    "rsuid",
    "rsymfollow",
    "runbindable",
    "rw",
    "shared",
    "silent",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "tmpcopyup",
    "unbindable",
];

/// Namespace types, sorted like runc sorts them.
const NAMESPACES: &[&str] = &[
    "cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts",
];

/// Every capability Linux 6.18 knows, in number order (CAP_CHOWN = 0 …
/// CAP_CHECKPOINT_RESTORE = 40).
const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Seccomp actions the filter compiler handles (NOTIFY is patched into seccompiler's
/// output and its listener relayed to `listenerPath`).
const SECCOMP_ACTIONS: &[&str] = &[
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
];

const SECCOMP_OPERATORS: &[&str] = &[
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
];

/// Architectures a filter can be compiled for (the syscall tables in
/// libcontainer/src/seccomp/tables).
const SECCOMP_ARCHS: &[&str] = &["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"];

/// Filter flags Berth knows and can apply (loading the BPF program with seccomp(2)).
const SECCOMP_FLAGS: &[&str] = &[
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_LOG",
];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Features {
    oci_version_min: &'static str,
    oci_version_max: &'static str,
    hooks: &'static [&'static str],
    mount_options: &'static [&'static str],
    linux: Linux,
    annotations: BTreeMap<&'static str, &'static str>,
    /// Annotations that change what the runtime does (runtime-spec 1.2): a client that
    /// passes user-set annotations through may want to filter these.
    potentially_unsafe_config_annotations: &'static [&'static str],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Linux {
    namespaces: &'static [&'static str],
    capabilities: &'static [&'static str],
    cgroup: Cgroup,
    seccomp: Seccomp,
    apparmor: Enabled,
    selinux: Enabled,
    /// Whether resctrl is there to use (`linux.intelRdt` with a schema needs it).
    intel_rdt: Enabled,
    mount_extensions: MountExtensions,
}

#[derive(Serialize)]
struct MountExtensions {
    idmap: Enabled,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Cgroup {
    v1: bool,
    v2: bool,
    systemd: bool,
    systemd_user: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Seccomp {
    enabled: bool,
    actions: &'static [&'static str],
    operators: &'static [&'static str],
    archs: &'static [&'static str],
    known_flags: &'static [&'static str],
    supported_flags: &'static [&'static str],
}

#[derive(Serialize)]
struct Enabled {
    enabled: bool,
}

fn features() -> Features {
    let mut annotations = BTreeMap::new();
    annotations.insert("io.berth.version", env!("CARGO_PKG_VERSION"));
    if let Some(commit) = option_env!("BERTH_COMMIT") {
        annotations.insert("io.berth.commit", commit);
    }
    Features {
        oci_version_min: OCI_VERSION_MIN,
        oci_version_max: OCI_VERSION_MAX,
        hooks: HOOKS,
        mount_options: MOUNT_OPTIONS,
        linux: Linux {
            namespaces: NAMESPACES,
            capabilities: CAPABILITIES,
            cgroup: Cgroup {
                v1: true,
                v2: true,
                systemd: true,
                // The user manager's path is written but untested: under podman's user
                // namespace rustbus would authenticate as uid 0 (see docs/cgroups.md).
                systemd_user: false,
            },
            seccomp: Seccomp {
                enabled: true,
                actions: SECCOMP_ACTIONS,
                operators: SECCOMP_OPERATORS,
                archs: SECCOMP_ARCHS,
                known_flags: SECCOMP_FLAGS,
                supported_flags: SECCOMP_FLAGS,
            },
            apparmor: Enabled { enabled: true },
            selinux: Enabled { enabled: true },
            intel_rdt: Enabled {
                enabled: libcontainer::resctrl_mounted(),
            },
            mount_extensions: MountExtensions {
                idmap: Enabled { enabled: true },
            },
        },
        annotations,
        // The systemd driver passes these on as unit properties.
        potentially_unsafe_config_annotations: &["org.systemd.property."],
    }
}

/// The document `berth features` prints, trailing newline included.
pub fn render() -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    features()
        .serialize(&mut ser)
        .expect("serializing plain structs cannot fail");
    out.push(b'\n');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn parses_as_oci_features() {
        let text = render();
        let f: libcontainer::oci_spec::runtime::Features = serde_json::from_str(&text).unwrap();
        assert_eq!(f.oci_version_max(), "1.2.1");
        let linux = f.linux().as_ref().unwrap();
        assert_eq!(linux.capabilities().as_ref().unwrap().len(), 41);
        assert_eq!(linux.namespaces().as_ref().unwrap().len(), 8);
        let seccomp = linux.seccomp().as_ref().unwrap();
        assert_eq!(
            seccomp.actions().as_ref().unwrap().len(),
            SECCOMP_ACTIONS.len()
        );
        assert_eq!(seccomp.archs().as_ref().unwrap().len(), SECCOMP_ARCHS.len());
        assert!(f
            .annotations()
            .as_ref()
            .unwrap()
            .contains_key("io.berth.version"));
    }

    #[test]
    fn shape() {
        let text = render();
        assert!(text.starts_with("{\n    \"ociVersionMin\": \"1.0.0\",\n    \"ociVersionMax\": "));
        assert!(text.ends_with("\n    \"potentiallyUnsafeConfigAnnotations\": [\n        \"org.systemd.property.\"\n    ]\n}\n"));
        assert!(
            text.contains("\n            \"systemd\": true,\n            \"systemdUser\": false\n")
        );
        assert!(!text.contains("null"));
        assert!(!text.contains("runc"));
    }

    #[test]
    fn tables_are_sorted_and_unique() {
        for table in [
            MOUNT_OPTIONS,
            NAMESPACES,
            SECCOMP_ACTIONS,
            SECCOMP_OPERATORS,
            SECCOMP_ARCHS,
        ] {
            assert!(table.windows(2).all(|w| w[0] < w[1]), "{table:?}");
        }
        let mut caps = CAPABILITIES.to_vec();
        caps.sort_unstable();
        caps.dedup();
        assert_eq!(caps.len(), 41);
        assert_eq!(CAPABILITIES.last(), Some(&"CAP_CHECKPOINT_RESTORE"));
    }

    /// Same layout as runc's document: key order at every level we share, and the
    /// same mount option and capability lists.
    #[test]
    fn same_layout_as_runc() {
        let out = match std::process::Command::new("runc").arg("features").output() {
            Ok(out) if out.status.success() => out.stdout,
            _ => {
                eprintln!("runc features unavailable: skipping the comparison");
                return;
            }
        };
        let runc = String::from_utf8(out).unwrap();
        let ours = render();
        // Each line's indentation and key, for the keys both documents have, in order,
        // down to the linux object's members (below them "enabled" repeats).
        fn keys(text: &str) -> Vec<String> {
            text.lines()
                .filter_map(|l| {
                    let t = l.trim_start();
                    let key = t.strip_prefix('"')?.split_once("\":")?.0;
                    Some(format!("{}{key}", &l[..l.len() - t.len()]))
                })
                .collect()
        }
        let (runc_keys, our_keys) = (keys(&runc), keys(&ours));
        let common: Vec<_> = runc_keys
            .iter()
            .filter(|k| {
                our_keys.contains(k)
                    && !k.trim_start().contains('.')
                    && k.len() - k.trim_start().len() <= 8
            })
            .collect();
        let ours_common: Vec<_> = our_keys.iter().filter(|k| common.contains(k)).collect();
        assert!(common.len() >= 10, "{common:?}");
        assert_eq!(common, ours_common);
        assert!(runc.ends_with("}\n"));
        let runc: Value = serde_json::from_str(&runc).unwrap();
        let ours: Value = serde_json::from_str(&ours).unwrap();
        assert_eq!(runc["mountOptions"], ours["mountOptions"]);
        assert_eq!(runc["linux"]["capabilities"], ours["linux"]["capabilities"]);
        assert_eq!(runc["hooks"], ours["hooks"]);
    }
}
