//! The last steps before `execve`, shared by the container's init and exec'd processes:
//! rlimits, user, capabilities, umask, cwd, no_new_privs, descriptor hygiene, and finding
//! the program the way runc (Go's exec.LookPath) does.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::{chdir, execve};
use oci_spec::runtime::{LinuxMemoryPolicy, LinuxSeccomp, Process};

use super::channel::{Channel, Message};
use crate::error::{Error, Result, SysContext};
use crate::seccomp::Filter;
use crate::{capabilities, rlimits, user};

/// A program ready to exec.
pub(crate) struct Program {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
}

fn cstring(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Config(format!("{what} contains a NUL byte: {s:?}")))
}

/// Applies `process` to the calling process and returns the program to exec.
/// `keep_fds` descriptors from 3 on stay open across exec; all later ones are closed on exec.
/// The seccomp filter goes in as late as it can, as runc orders it: without no_new_privs
/// loading it needs CAP_SYS_ADMIN, so before the user switch and capability drop;
/// with no_new_privs after everything else, just before `Ready` (the exec fifo wait and
/// execve then run under it).
pub(crate) fn prepare(
    process: &Process,
    extra_env: &[String],
    keep_fds: i32,
    seccomp: Option<&LinuxSeccomp>,
    memory_policy: Option<&LinuxMemoryPolicy>,
    ch: &Channel,
) -> Result<Program> {
    if let Some(limits) = process.rlimits() {
        rlimits::apply(limits)?;
    }
    super::scheduling::apply(process)?;
    super::mempolicy::apply(memory_policy)?;
    let filter = match seccomp {
        Some(profile) => {
            crate::trace::mark("rlimits/scheduling");
            let filter = Filter::compile(profile)?;
            crate::trace::mark("seccomp compile");
            Some(filter)
        }
        None => None,
    };
    let no_new_privs = process.no_new_privileges() == Some(true);
    if let Some(filter) = filter.as_ref().filter(|_| !no_new_privs) {
        install_seccomp(filter, ch)?;
    }
    // runc's order: the cwd first as the runtime's user (who may enter what the container
    // user may not); on a permission error again after the user switch (a volume chowned
    // to the container user that root without CAP_DAC_OVERRIDE cannot enter).
    let cwd_done = match chdir(process.cwd().as_path()) {
        Ok(()) => true,
        Err(Errno::EACCES | Errno::EPERM) => false,
        Err(e) => return Err(cwd_error(process, e)),
    };
    let caps = process.capabilities().as_ref();
    capabilities::drop_bounding(caps)?;
    // Keep the permitted set across the uid change; the spec's sets are applied after it.
    prctl_set(libc::PR_SET_KEEPCAPS, 1)?;
    user::switch(process.user())?;
    prctl_set(libc::PR_SET_KEEPCAPS, 0)?;
    capabilities::apply(caps)?;
    // After the user switch, as runc does; both take effect at execve.
    crate::lsm::apply_apparmor(process.apparmor_profile().as_deref())?;
    crate::lsm::apply_selinux(process.selinux_label().as_deref())?;
    user::set_umask(process.user());
    if !cwd_done {
        chdir(process.cwd().as_path()).map_err(|e| cwd_error(process, e))?;
    }
    if no_new_privs {
        prctl_set(libc::PR_SET_NO_NEW_PRIVS, 1)?;
    }
    close_on_exec_from(3 + keep_fds)?;

    let mut env = merge_env(
        process
            .env()
            .iter()
            .flatten()
            .chain(extra_env.iter())
            .cloned(),
    );
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(process.user().uid())));
    }
    let args = process
        .args()
        .as_ref()
        .map(|a| a.as_slice())
        .unwrap_or_default();
    let name = args
        .first()
        .ok_or_else(|| Error::Config("process.args must not be empty".into()))?;
    // merge_env left one entry per name.
    let path_var = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("");
    let path = look_path(name, path_var)?;
    if let Some(filter) = filter.as_ref().filter(|_| no_new_privs) {
        install_seccomp(filter, ch)?;
    }
    Ok(Program {
        path: CString::new(path.as_os_str().as_bytes())
            .map_err(|_| Error::Config(format!("bad path {path:?}")))?,
        argv: args
            .iter()
            .map(|a| cstring(a, "process.args"))
            .collect::<Result<_>>()?,
        envp: env
            .iter()
            .map(|e| cstring(e, "process.env"))
            .collect::<Result<_>>()?,
    })
}

fn cwd_error(process: &Process, e: Errno) -> Error {
    Error::sys(
        format!(
            "chdir to cwd ({:?}) set in config.json failed",
            process.cwd()
        ),
        e,
    )
}

/// The environment as runc's init builds it (setenv in order): a later `NAME=value`
/// replaces an earlier one of the same name in its place, so `exec --env` overrides
/// `process.env`.
pub(crate) fn merge_env(entries: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut slot: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for entry in entries {
        let name = entry
            .split_once('=')
            .map_or(entry.as_str(), |(n, _)| n)
            .to_string();
        match slot.get(&name) {
            Some(&i) => env[i] = entry,
            None => {
                slot.insert(name, env.len());
                env.push(entry);
            }
        }
    }
    env
}

/// Loads the filter; a notification listener goes to the parent, who hands it to the
/// listenerPath agent before we go on.
fn install_seccomp(filter: &Filter, ch: &Channel) -> Result<()> {
    crate::trace::mark("process setup");
    if let Some(listener) = filter.install()? {
        use std::os::fd::AsRawFd;
        ch.send_with_fds(&Message::SeccompListener, &[listener.as_raw_fd()])?;
        ch.expect(&Message::SeccompListenerDone)?;
    }
    crate::trace::mark("seccomp");
    Ok(())
}

/// Replaces the process image; returns only on failure.
pub(crate) fn exec(program: &Program) -> Error {
    match execve(&program.path, &program.argv, &program.envp) {
        Ok(never) => match never {},
        Err(e) => Error::sys(format!("exec {:?}", program.path), e),
    }
}

fn prctl_set(option: libc::c_int, value: libc::c_ulong) -> Result<()> {
    // SAFETY: these prctl options take one integer argument and touch no memory of ours.
    if unsafe { libc::prctl(option, value, 0, 0, 0) } < 0 {
        return Err(Error::sys(
            format!("prctl({option})"),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}

/// Marks every descriptor from `first` on close-on-exec, so nothing of the runtime's leaks
/// into the container (CVE-2024-21626).
fn close_on_exec_from(first: i32) -> Result<()> {
    let fds = open_fds_from(first).ctx(|| "read /proc/self/fd".into())?;
    for fd in fds {
        // SAFETY: F_SETFD on a descriptor number; a stale number (the read_dir's own fd) fails harmlessly.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// This process's open descriptors from `first` on (listed before any is touched: the
/// listing's own descriptor is among them and is closed by then).
pub(super) fn open_fds_from(first: i32) -> std::io::Result<Vec<i32>> {
    Ok(std::fs::read_dir("/proc/self/fd")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= first)
        .collect())
}

/// The user's home from the container's /etc/passwd, or "/".
fn home_of(uid: u32) -> String {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse::<u32>() == Ok(uid))
        .map(|f| f[5].to_string())
        .unwrap_or_else(|| "/".to_string())
}

/// Go's exec.LookPath, with its error texts: dockerd maps "executable file not found" to
/// exit 127 and "permission denied" to 126.
fn look_path(name: &str, path_var: &str) -> Result<PathBuf> {
    if name.contains('/') {
        return match check_executable(Path::new(name)) {
            Ok(()) => Ok(PathBuf::from(name)),
            Err(reason) => Err(Error::Exec {
                name: name.to_string(),
                reason,
            }),
        };
    }
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(name);
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(Error::Exec {
        name: name.to_string(),
        reason: "executable file not found in $PATH".into(),
    })
}

fn check_executable(path: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        format!(
            "stat {}: {}",
            path.display(),
            crate::error::SysError::from(e)
        )
    })?;
    if meta.is_dir() || meta.permissions().mode() & 0o111 == 0 {
        return Err("permission denied".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::merge_env;

    #[test]
    fn a_later_entry_replaces_an_earlier_one_in_place() {
        let env =
            merge_env(["PATH=/bin", "FOO=a", "TERM=xterm", "FOO=b", "BAR=c"].map(String::from));
        assert_eq!(env, ["PATH=/bin", "FOO=b", "TERM=xterm", "BAR=c"]);
    }
}
