//! Checks a parsed spec for what the types alone cannot express. Each failure names the
//! field in JSON-path form.

use std::collections::HashSet;

use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use super::SpecError;

pub(crate) fn validate(spec: &Spec) -> Result<(), SpecError> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| SpecError::invalid("root", "must be set"))?;
    if root.path().as_os_str().is_empty() {
        return Err(SpecError::invalid("root.path", "must not be empty"));
    }
    let selinux_label = spec
        .process()
        .as_ref()
        .and_then(|p| p.selinux_label().as_deref());
    if selinux_label.is_some_and(|l| !l.is_empty()) && !crate::lsm::selinux_enabled() {
        return Err(SpecError::Invalid {
            field: "process.selinuxLabel".into(),
            message:
                "selinux label is specified in config, but selinux is disabled or not supported"
                    .into(),
        });
    }
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| SpecError::invalid("process", "must be set"))?;
    validate_process(process)?;

    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().as_ref());
    let mut seen = HashSet::new();
    for (i, ns) in namespaces.into_iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(SpecError::invalid(
                format!("linux.namespaces[{i}]"),
                format!("duplicated namespace {:?}", ns.typ().to_string()),
            ));
        }
        if let Some(path) = ns.path() {
            if !path.is_absolute() {
                return Err(SpecError::invalid(
                    format!("linux.namespaces[{i}].path"),
                    "must be an absolute path",
                ));
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
        return Err(SpecError::invalid(
            "hostname",
            "unable to set hostname without a private UTS namespace",
        ));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !has(LinuxNamespaceType::Uts)
    {
        return Err(SpecError::invalid(
            "domainname",
            "unable to set domainname without a private UTS namespace",
        ));
    }
    if !has(LinuxNamespaceType::Mount) {
        return Err(SpecError::invalid(
            "linux.namespaces",
            "a mount namespace is required",
        ));
    }
    if let Some(linux) = spec.linux() {
        let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
            || linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
        if has_new(LinuxNamespaceType::User) {
            if linux.uid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
                return Err(SpecError::invalid(
                    "linux.uidMappings",
                    "user namespaces enabled, but no uid mappings found",
                ));
            }
            if linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
                return Err(SpecError::invalid(
                    "linux.gidMappings",
                    "user namespaces enabled, but no gid mappings found",
                ));
            }
        } else if maps && !has(LinuxNamespaceType::User) {
            return Err(SpecError::invalid(
                "linux.uidMappings",
                "user namespaces not enabled in config",
            ));
        }
        if let Some(sysctl) = linux.sysctl() {
            for key in sysctl.keys() {
                validate_sysctl(key, &has)?;
            }
        }
        let hugepages = linux
            .resources()
            .as_ref()
            .and_then(|r| r.hugepage_limits().as_ref());
        for (i, l) in hugepages.into_iter().flatten().enumerate() {
            if !crate::cgroups::valid_hugepage_size(l.page_size()) {
                return Err(SpecError::invalid(
                    format!("linux.resources.hugepageLimits[{i}].pageSize"),
                    format!(
                        "invalid page size {:?}: {}",
                        l.page_size(),
                        crate::cgroups::HUGEPAGE_SIZE_RULE
                    ),
                ));
            }
        }
        if let Some(offsets) = linux.time_offsets() {
            if !offsets.is_empty() && !has_new(LinuxNamespaceType::Time) {
                return Err(SpecError::invalid(
                    "linux.timeOffsets",
                    "time offsets given without a new time namespace",
                ));
            }
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if m.destination().as_os_str().is_empty() {
            return Err(SpecError::invalid(
                format!("mounts[{i}].destination"),
                "must not be empty",
            ));
        }
    }
    Ok(())
}

/// Checks what both `create` and `exec --process` need of a process.
pub(crate) fn validate_process(process: &Process) -> Result<(), SpecError> {
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(SpecError::runc("process.args", "args must not be empty"));
    }
    if !process.cwd().is_absolute() {
        return Err(SpecError::runc(
            "process.cwd",
            "Cwd must be an absolute path",
        ));
    }
    if let Some(env) = process.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') {
                return Err(SpecError::invalid(
                    format!("process.env[{i}]"),
                    format!("{e:?} is not of the form KEY=value"),
                ));
            }
        }
    }
    Ok(())
}

/// A sysctl is only writable from the container when the namespace it belongs to is the
/// container's own, as runc requires.
fn validate_sysctl(key: &str, has: &dyn Fn(LinuxNamespaceType) -> bool) -> Result<(), SpecError> {
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
    if IPC_KEYS.contains(&key) || key.starts_with("fs.mqueue.") {
        if !has(LinuxNamespaceType::Ipc) {
            return Err(SpecError::invalid(
                field,
                "sysctl is not allowed in the host's ipc namespace",
            ));
        }
        return Ok(());
    }
    if key.starts_with("net.") {
        if !has(LinuxNamespaceType::Network) {
            return Err(SpecError::invalid(
                field,
                "sysctl is not allowed in the host's network namespace",
            ));
        }
        return Ok(());
    }
    if key == "kernel.hostname" || key == "kernel.domainname" {
        if !has(LinuxNamespaceType::Uts) {
            return Err(SpecError::invalid(
                field,
                "sysctl is not allowed in the host's uts namespace",
            ));
        }
        return Ok(());
    }
    Err(SpecError::invalid(
        field,
        "sysctl is not whitelisted as namespaced",
    ))
}
