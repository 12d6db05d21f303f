//! Checks a parsed spec for what the types alone cannot express. Each failure names the
//! field in JSON-path form.
//!
//! The checks push every problem they find into [`Findings`] instead of stopping at the
//! first: `create` turns the first one into its error ([`validate`]), `berth check`
//! reports them all ([`collect`]), so the two never disagree on what is wrong.

use std::collections::HashSet;

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::SpecError;

/// One problem in a spec, with what would fix it (for `berth check`; `create` prints only
/// the error, whose text clients match).
#[derive(Debug)]
pub(crate) struct Finding {
    pub error: SpecError,
    pub hint: String,
}

/// The problems found so far, in the order the checks met them.
#[derive(Debug, Default)]
pub(crate) struct Findings(Vec<Finding>);

impl Findings {
    pub(crate) fn push(&mut self, error: SpecError, hint: impl Into<String>) {
        self.0.push(Finding {
            error,
            hint: hint.into(),
        });
    }

    /// The first problem as `create`'s error.
    pub(crate) fn into_result(self) -> Result<(), SpecError> {
        match self.0.into_iter().next() {
            Some(f) => Err(f.error),
            None => Ok(()),
        }
    }

    pub(crate) fn into_vec(self) -> Vec<Finding> {
        self.0
    }
}

/// `create`'s check: the first problem, if any.
pub(crate) fn validate(spec: &Spec) -> Result<(), SpecError> {
    let mut findings = Findings::default();
    collect(spec, &mut findings);
    findings.into_result()
}

/// Every problem of `spec` that the checks can see without the host.
pub(crate) fn collect(spec: &Spec, f: &mut Findings) {
    match spec.root() {
        None => f.push(
            SpecError::invalid("root", "must be set"),
            "set root.path to the root filesystem's directory, e.g. \"rootfs\"",
        ),
        Some(root) if root.path().as_os_str().is_empty() => f.push(
            SpecError::invalid("root.path", "must not be empty"),
            "the root filesystem's directory, e.g. \"rootfs\"",
        ),
        Some(_) => {}
    }
    let selinux_label = spec
        .process()
        .as_ref()
        .and_then(|p| p.selinux_label().as_deref());
    if selinux_label.is_some_and(|l| !l.is_empty()) && !crate::lsm::selinux_enabled() {
        f.push(
            SpecError::Invalid {
                field: "process.selinuxLabel".into(),
                message:
                    "selinux label is specified in config, but selinux is disabled or not supported"
                        .into(),
            },
            "remove process.selinuxLabel, or run on a host with SELinux enabled",
        );
    }
    // Without a process the container can be created, not started (runtime spec).
    if let Some(process) = spec.process() {
        collect_process(process, f);
    }

    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    let mut seen = HashSet::new();
    for (i, ns) in namespaces.into_iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            f.push(
                SpecError::invalid(
                    format!("linux.namespaces[{i}]"),
                    format!("duplicated namespace {:?}", ns.typ().to_string()),
                ),
                "list each namespace kind once",
            );
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                f.push(
                    SpecError::invalid(
                        format!("linux.namespaces[{i}].path"),
                        "must be an absolute path",
                    ),
                    "an absolute path such as /proc/<pid>/ns/<kind> or a bind mount of it",
                );
            }
        }
    }
    let has_new = |t: LinuxNamespaceType| {
        namespaces
            .into_iter()
            .flatten()
            .any(|ns| ns.typ() == t && ns.path().is_none())
    };
    let has = |t: LinuxNamespaceType| seen.contains(&t);

    // runc asks for a UTS namespace of the container's own, new or joined by path (it
    // sets the name in a joined one too).
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts) {
        f.push(
            SpecError::invalid(
                "hostname",
                "unable to set hostname without a private UTS namespace",
            ),
            "add {\"type\": \"uts\"} to linux.namespaces, or remove hostname",
        );
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts)
    {
        f.push(
            SpecError::invalid(
                "domainname",
                "unable to set domainname without a private UTS namespace",
            ),
            "add {\"type\": \"uts\"} to linux.namespaces, or remove domainname",
        );
    }
    if !has(LinuxNamespaceType::Mount) {
        // Mounts are made in the host's namespace then: nothing there may be masked,
        // remounted read-only or have its propagation changed.
        let linux = spec.linux().as_ref();
        let restricts = linux.is_some_and(|l| {
            l.masked_paths().as_ref().is_some_and(|p| !p.is_empty())
                || l.readonly_paths().as_ref().is_some_and(|p| !p.is_empty())
        });
        if restricts {
            f.push(
                SpecError::invalid(
                    "linux.maskedPaths",
                    "unable to restrict sys entries without a private MNT namespace",
                ),
                "add {\"type\": \"mount\"} to linux.namespaces, or empty maskedPaths and readonlyPaths",
            );
        }
        if linux
            .and_then(|l| l.rootfs_propagation().as_deref())
            .is_some_and(|p| !p.is_empty())
        {
            f.push(
                SpecError::invalid(
                    "linux.rootfsPropagation",
                    "rootfs propagation needs a private MNT namespace",
                ),
                "add {\"type\": \"mount\"} to linux.namespaces, or remove rootfsPropagation",
            );
        }
    }
    if let Some((field, message)) = crate::netdev::check(spec) {
        f.push(
            SpecError::invalid(field, message),
            "give the container a network namespace of its own; names up to 15 characters without '/', ':' or spaces",
        );
    }
    if let Some(rdt) = spec.linux().as_ref().and_then(|l| l.intel_rdt().as_ref()) {
        if let Some((field, message)) = crate::intelrdt::check(rdt) {
            f.push(
                SpecError::invalid(field, message),
                "remove the schema, or run on a host with resctrl mounted at /sys/fs/resctrl",
            );
        }
    }
    if let Some(mp) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.memory_policy().as_ref())
    {
        if let Err(e) = crate::process::mempolicy::policy(mp) {
            let text = e.to_string();
            let (field, message) = text
                .split_once(": ")
                .unwrap_or(("linux.memoryPolicy", &text));
            f.push(
                SpecError::invalid(field, message),
                "MPOL_DEFAULT and MPOL_LOCAL take no nodes; BIND, INTERLEAVE, PREFERRED_MANY \
                 and WEIGHTED_INTERLEAVE need some, as \"0-1,3\"",
            );
        }
    }
    if let Some(linux) = spec.linux() {
        let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if has_new(LinuxNamespaceType::User) {
            if linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
                f.push(
                    SpecError::invalid(
                        "linux.uidMappings",
                        "user namespaces enabled, but no uid mappings found",
                    ),
                    "map at least one uid, e.g. [{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536}]",
                );
            }
            if linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
                f.push(
                    SpecError::invalid(
                        "linux.gidMappings",
                        "user namespaces enabled, but no gid mappings found",
                    ),
                    "map at least one gid, e.g. [{\"containerID\": 0, \"hostID\": 100000, \"size\": 65536}]",
                );
            }
        } else if maps && !has(LinuxNamespaceType::User) {
            f.push(
                SpecError::invalid("linux.uidMappings", "user namespaces not enabled in config"),
                "add {\"type\": \"user\"} to linux.namespaces, or remove the mappings",
            );
        }
        if let Some(sysctl) = linux.sysctl() {
            let mut keys: Vec<&String> = sysctl.keys().collect();
            // A map has no order; the first problem must not change from run to run.
            keys.sort();
            for key in keys {
                collect_sysctl(key, &has, f);
            }
        }
        let hugepages = linux
            .resources()
            .as_ref()
            .and_then(|r| r.hugepage_limits().as_ref());
        for (i, l) in hugepages.into_iter().flatten().enumerate() {
            if !crate::cgroups::valid_hugepage_size(l.page_size()) {
                f.push(
                    SpecError::invalid(
                        format!("linux.resources.hugepageLimits[{i}].pageSize"),
                        format!(
                            "invalid page size {:?}: {}",
                            l.page_size(),
                            crate::cgroups::HUGEPAGE_SIZE_RULE
                        ),
                    ),
                    "a size such as \"2MB\" or \"1GB\"",
                );
            }
        }
        if let Some(offsets) = linux.time_offsets() {
            if !offsets.is_empty() && !has_new(LinuxNamespaceType::Time) {
                f.push(
                    SpecError::invalid(
                        "linux.timeOffsets",
                        "time offsets given without a new time namespace",
                    ),
                    "add {\"type\": \"time\"} to linux.namespaces, or remove linux.timeOffsets",
                );
            }
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if m.destination().as_os_str().is_empty() {
            f.push(
                SpecError::invalid(format!("mounts[{i}].destination"), "must not be empty"),
                "an absolute path inside the container, e.g. /data",
            );
        }
    }
}

/// Checks what both `create` and `exec --process` need of a process.
pub(crate) fn validate_process(process: &Process) -> Result<(), SpecError> {
    let mut findings = Findings::default();
    collect_process(process, &mut findings);
    findings.into_result()
}

fn collect_process(process: &Process, f: &mut Findings) {
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        f.push(
            SpecError::runc("process.args", "args must not be empty"),
            "the program to run and its arguments, e.g. [\"sh\"]",
        );
    }
    if !process.cwd().is_absolute() {
        f.push(
            SpecError::runc("process.cwd", "Cwd must be an absolute path"),
            "an absolute path inside the container, e.g. \"/\"",
        );
    }
    if let Some(env) = process.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') {
                f.push(
                    SpecError::invalid(
                        format!("process.env[{i}]"),
                        format!("{e:?} is not of the form KEY=value"),
                    ),
                    format!("\"{e}=\" or remove the entry"),
                );
            }
        }
    }
}

/// A sysctl is only writable from the container when the namespace it belongs to is the
/// container's own, as runc requires.
fn collect_sysctl(key: &str, has: &dyn Fn(LinuxNamespaceType) -> bool, f: &mut Findings) {
    const IPC_KEYS: &[&str] = &[
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let field = format!("linux.sysctl.{key}");
    let (ns, kind) = if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        (LinuxNamespaceType::Ipc, "ipc")
    } else if key.starts_with("net.") {
        (LinuxNamespaceType::Network, "network")
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        (LinuxNamespaceType::Uts, "uts")
    } else {
        f.push(
            SpecError::invalid(field, "sysctl is not whitelisted as namespaced"),
            "only namespaced sysctls: net.*, fs.mqueue.*, kernel.msg*/sem/shm*, kernel.hostname, kernel.domainname",
        );
        return;
    };
    if !has(ns) {
        f.push(
            SpecError::invalid(
                field,
                format!("sysctl is not allowed in the host's {kind} namespace"),
            ),
            format!("add {{\"type\": \"{kind}\"}} to linux.namespaces, or remove the sysctl"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(v: serde_json::Value) -> Spec {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn every_problem_is_collected_and_the_first_is_creates_error() {
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "hostname": "h",
            "process": {"args": [], "cwd": "rel", "env": ["NOEQ"], "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "pid"}, {"type": "pid"}],
                      "sysctl": {"vm.swappiness": "1", "net.ipv4.ip_forward": "1"}}
        }));
        let mut f = Findings::default();
        collect(&s, &mut f);
        let fields: Vec<String> = f
            .into_vec()
            .into_iter()
            .map(|x| match x.error {
                SpecError::Invalid { field, .. } => field,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            fields,
            [
                "process.args",
                "process.cwd",
                "process.env[0]",
                "linux.namespaces[1]",
                "hostname",
                "linux.sysctl.net.ipv4.ip_forward",
                "linux.sysctl.vm.swappiness",
            ]
        );
        assert_eq!(
            validate(&s).unwrap_err().to_string(),
            "args must not be empty"
        );
    }

    #[test]
    fn sysctl_texts_are_unchanged() {
        let s = spec(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "linux": {"namespaces": [{"type": "mount"}],
                      "sysctl": {"net.ipv4.ip_forward": "1"}}
        }));
        assert_eq!(
            validate(&s).unwrap_err().to_string(),
            "linux.sysctl.net.ipv4.ip_forward: sysctl is not allowed in the host's network namespace"
        );
    }
}
