//! `process`: the program and its working directory in the rootfs, capabilities this
//! kernel knows, rlimits setrlimit accepts, the OOM score, I/O priority and LSM labels.

use std::path::Path;

use oci_spec::runtime::{PosixRlimitType, Process};

use super::rootpath::{is_dir, look_path, stat_in};
use super::{Bundle, Report};

pub(super) fn check(b: &Bundle, r: &mut Report) {
    let Some(process) = b.spec.process() else {
        return;
    };
    if let Some(rootfs) = b.rootfs {
        program(process, rootfs, r);
        cwd(process, rootfs, r);
    }
    capabilities(process, r);
    rlimits(process, r);
    if let Some(score) = process.oom_score_adj() {
        if !(-1000..=1000).contains(&score) {
            r.error(
                "process.oomScoreAdj",
                format!("{score} is outside the kernel's range"),
                "a value from -1000 to 1000",
            );
        }
    }
    if let Some(io) = process.io_priority() {
        if let Err(e) = crate::process::scheduling::ioprio_value(io) {
            r.error(
                "process.ioPriority.priority",
                e.to_string()
                    .trim_start_matches("process.ioPriority.priority: ")
                    .to_string(),
                "a level from 0 (highest) to 7",
            );
        }
    }
    if process
        .apparmor_profile()
        .as_deref()
        .is_some_and(|p| !p.is_empty())
        && !crate::lsm::apparmor_enabled()
    {
        r.error(
            "process.apparmorProfile",
            "AppArmor is not enabled on this host, so the profile cannot be applied",
            "remove process.apparmorProfile, or run on a host with AppArmor enabled",
        );
    }
    if process.terminal() == Some(true) {
        r.warn(
            "process.terminal",
            "a terminal needs somewhere to send its pty: `create` fails without --console-socket",
            "pass --console-socket to create, use `berth run` in the foreground, or set terminal to false",
        );
    }
}

/// The init's LookPath, run against the rootfs ahead of time: create fails when the
/// program cannot be found or executed.
fn program(process: &Process, rootfs: &Path, r: &mut Report) {
    let Some(name) = process.args().as_ref().and_then(|a| a.first()) else {
        return;
    };
    let env = crate::process::setup::merge_env(process.env().iter().flatten().cloned());
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    if look_path(rootfs, name, path_var, process.cwd()).is_some() {
        return;
    }
    let problem = if name.contains('/') {
        format!("{name:?} does not exist in the rootfs or is not executable")
    } else {
        format!("{name:?}: executable file not found in $PATH ({path_var:?}) in the rootfs")
    };
    r.error(
        "process.args[0]",
        problem,
        "a program inside the rootfs (an absolute path, or a name found on PATH in process.env)",
    );
}

fn cwd(process: &Process, rootfs: &Path, r: &mut Report) {
    if !process.cwd().is_absolute() {
        return;
    }
    // A missing cwd is made by the init; something else in its place is not usable.
    if let Ok(st) = stat_in(rootfs, process.cwd()) {
        if !is_dir(&st) {
            r.error(
                "process.cwd",
                format!(
                    "{} is not a directory in the rootfs",
                    process.cwd().display()
                ),
                "a directory inside the rootfs (a missing one is created)",
            );
        }
    }
}

/// Names are checked when config.json is parsed; what is left is whether this kernel has
/// them. Berth, like runc, skips capabilities the kernel lacks.
fn capabilities(process: &Process, r: &mut Report) {
    let Some(caps) = process.capabilities() else {
        return;
    };
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u8>().ok());
    let Some(last) = last else { return };
    let sets = [
        ("bounding", caps.bounding()),
        ("effective", caps.effective()),
        ("inheritable", caps.inheritable()),
        ("permitted", caps.permitted()),
        ("ambient", caps.ambient()),
    ];
    for (set, list) in sets {
        for cap in list.iter().flatten() {
            let name = format!("CAP_{cap}");
            match name.parse::<caps::Capability>() {
                Ok(c) if c.index() <= last => {}
                _ => r.warn(
                    format!("process.capabilities.{set}"),
                    format!("{name} is not known to this kernel (cap_last_cap is {last}) and is ignored"),
                    "remove it, or run on a newer kernel",
                ),
            }
        }
    }
}

/// What setrlimit refuses: a soft limit above the hard one, and open files beyond
/// fs.nr_open.
fn rlimits(process: &Process, r: &mut Report) {
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    for (i, l) in process.rlimits().iter().flatten().enumerate() {
        if l.soft() > l.hard() {
            r.error(
                format!("process.rlimits[{i}].soft"),
                format!(
                    "soft limit {} is above the hard limit {}",
                    l.soft(),
                    l.hard()
                ),
                "a soft limit no greater than the hard limit",
            );
        }
        if l.typ() == PosixRlimitType::RlimitNofile {
            if let Some(max) = nr_open.filter(|max| l.hard() > *max) {
                r.error(
                    format!("process.rlimits[{i}].hard"),
                    format!(
                        "{} open files is above this host's fs.nr_open ({max})",
                        l.hard()
                    ),
                    format!("at most {max}"),
                );
            }
        }
    }
}
