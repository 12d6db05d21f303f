//! `linux.seccomp`: compiled with the compiler `create` uses, one part at a time so each
//! problem gets its own path; architectures and syscall names this host's filter skips
//! are warnings, as `create` accepts them.

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

use super::{Bundle, Report};
use crate::seccomp::{arch_supported, syscall_known, Filter};

pub(super) fn check(b: &Bundle, r: &mut Report) {
    let Some(seccomp) = b.spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return;
    };
    let mut reported: Vec<String> = Vec::new();
    let mut error = |r: &mut Report, path: String, e: String, hint: &str| {
        reported.push(e.clone());
        r.error(path, e, hint);
    };
    check_parts(seccomp, r, &mut error);
    check_whole(seccomp, &reported, r);
}

/// Compiles the header and each rule alone; `error` reports.
fn check_parts(
    seccomp: &LinuxSeccomp,
    r: &mut Report,
    error: &mut dyn FnMut(&mut Report, String, String, &str),
) {
    // The header alone: default action and flags.
    let mut head = seccomp.clone();
    head.set_syscalls(None);
    if let Err(e) = Filter::compile(&head) {
        let text = e.to_string();
        let (path, hint) = if matches!(e, crate::seccomp::SeccompError::UnsupportedFlag(_)) {
            (
                "linux.seccomp.flags",
                "SECCOMP_FILTER_FLAG_TSYNC, SECCOMP_FILTER_FLAG_LOG or SECCOMP_FILTER_FLAG_SPEC_ALLOW",
            )
        } else {
            (
                "linux.seccomp.defaultAction",
                "an action other than SCMP_ACT_NOTIFY, e.g. SCMP_ACT_ERRNO",
            )
        };
        error(r, path.into(), text, hint);
    }
    // Each rule on its own, under a default that cannot fail.
    for (i, entry) in seccomp.syscalls().iter().flatten().enumerate() {
        let mut one = seccomp.clone();
        one.set_default_action(LinuxSeccompAction::ScmpActAllow);
        one.set_flags(None);
        one.set_syscalls(Some(vec![entry.clone()]));
        if let Err(e) = Filter::compile(&one) {
            error(
                r,
                format!("linux.seccomp.syscalls[{i}]"),
                e.to_string(),
                "see the rule's action and args: NOTIFY needs linux.seccomp.listenerPath and not write; args index 0-5",
            );
        }
        for (j, name) in entry.names().iter().enumerate() {
            if !syscall_known(name) {
                r.warn(
                    format!("linux.seccomp.syscalls[{i}].names[{j}]"),
                    format!("{name:?} is not a syscall of this host's ABIs and is skipped"),
                    "check the spelling (see the kernel's syscall tables)",
                );
            }
        }
    }
}

fn check_whole(seccomp: &LinuxSeccomp, reported: &[String], r: &mut Report) {
    // What only the whole profile shows (its size).
    if let Err(e) = Filter::compile(seccomp) {
        let text = e.to_string();
        if !reported.contains(&text) {
            r.error(
                "linux.seccomp",
                text,
                "fewer or simpler rules (one filter holds at most 4096 instructions)",
            );
        }
    }
    for (i, arch) in seccomp.architectures().iter().flatten().enumerate() {
        if !arch_supported(arch) {
            r.warn(
                format!("linux.seccomp.architectures[{i}]"),
                format!("{arch:?} cannot be filtered on this host and is skipped"),
                "SCMP_ARCH_X86_64, SCMP_ARCH_X86 or SCMP_ARCH_X32",
            );
        }
    }
    listener(seccomp, r);
}

/// With SCMP_ACT_NOTIFY rules, `create` hands the listener to the agent at listenerPath.
fn listener(seccomp: &LinuxSeccomp, r: &mut Report) {
    let notify = seccomp
        .syscalls()
        .iter()
        .flatten()
        .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
    let Some(path) = seccomp.listener_path().as_deref().filter(|_| notify) else {
        return;
    };
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_socket() => {}
        Ok(_) => r.error(
            "linux.seccomp.listenerPath",
            format!("{} is not a unix socket", path.display()),
            "the socket a seccomp agent listens on",
        ),
        Err(e) => r.error(
            "linux.seccomp.listenerPath",
            format!("{}: {}", path.display(), crate::errno::SysError::from(e)),
            "start the seccomp agent first, or drop the SCMP_ACT_NOTIFY rules",
        ),
    }
}
