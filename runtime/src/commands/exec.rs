//! `berth exec`: run another process in a running container.

use std::path::PathBuf;

use anyhow::Context;
use libcontainer::oci_spec::runtime::{Capability, Process};
use libcontainer::ExecOptions;

use crate::{foreground, Globals};

#[derive(clap::Args, Debug)]
pub struct ExecArgs {
    /// The container id
    pub id: String,
    /// The command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = false)]
    pub command: Vec<String>,
    /// Path to the process.json
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Path to an AF_UNIX socket which will receive a file descriptor referencing the master end of the console's pseudoterminal
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// Detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// Specify the file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// Current working directory in the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set environment variables
    #[arg(short, long)]
    pub env: Vec<String>,
    /// Allow exec in a paused container
    #[arg(long = "ignore-paused")]
    pub ignore_paused: bool,
    /// Run the process in an (existing) sub-cgroup(s). Format is [<controller>:]<cgroup>.
    #[arg(long = "cgroup")]
    pub cgroup: Vec<String>,
    /// UID (format: <uid>[:<gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// Additional gids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// Add a capability to the bounding set for the process
    #[arg(short, long)]
    pub cap: Vec<String>,
    /// Set the no new privileges value for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// Pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: i32,
    /// Set the asm process label for the process commonly used with selinux
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// Set the apparmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
}

pub fn run(g: &Globals, a: &ExecArgs) -> anyhow::Result<i32> {
    let container = super::load(&g.root, &a.id)?;
    let process = build_process(&container, a)?;
    let terminal = process.terminal() == Some(true);
    let (console, relay) = foreground::console(a.console_socket.as_deref(), terminal && !a.detach)?;
    let opts = ExecOptions {
        process,
        console,
        pid_file: a.pid_file.clone(),
        preserve_fds: a.preserve_fds,
        extra_env: Vec::new(),
        ignore_paused: a.ignore_paused,
        sub_cgroups: sub_cgroup_paths(&a.cgroup).context("exec failed")?,
        ..Default::default()
    };
    let pid = container.exec(opts).context("exec failed")?;
    let pty = foreground::receive_master(relay)?;
    if a.detach {
        return Ok(0);
    }
    foreground::wait(pid, pty)
}

/// `--cgroup` values as runc reads them: `path` alone (only as the one value) or
/// `ctrl[,ctrl...]:path`.
fn sub_cgroup_paths(args: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut paths = Vec::new();
    for arg in args {
        let parts: Vec<&str> = arg.splitn(3, ':').collect();
        match parts.as_slice() {
            [path] => {
                anyhow::ensure!(
                    args.len() == 1,
                    "invalid --cgroup argument: {arg} (missing <controller>: prefix)"
                );
                paths.push((String::new(), path.to_string()));
            }
            [ctrls, path] => {
                for ctrl in ctrls.split(',') {
                    paths.push((ctrl.to_string(), path.to_string()));
                }
            }
            _ => anyhow::bail!("invalid --cgroup argument: {arg}"),
        }
    }
    Ok(paths)
}

/// runc's rules: `--process` gives the whole process; otherwise the container's own
/// process is the template, with the command line and flags applied over it.
fn build_process(container: &libcontainer::Container, a: &ExecArgs) -> anyhow::Result<Process> {
    if let Some(path) = &a.process {
        let data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
        let process: Process = libcontainer::parse_process(path, &data)?;
        return Ok(process);
    }
    anyhow::ensure!(
        !a.command.is_empty(),
        "exec: no command given (args or --process required)"
    );
    let spec = container.spec()?;
    let mut p = spec.process().clone().unwrap_or_default();
    p.set_args(Some(a.command.clone()));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    if let Some(profile) = &a.apparmor {
        p.set_apparmor_profile(Some(profile.clone()));
    }
    if let Some(label) = &a.process_label {
        p.set_selinux_label(Some(label.clone()));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        let add = |set: &Option<std::collections::HashSet<Capability>>, c: Capability| {
            let mut s = set.clone().unwrap_or_default();
            s.insert(c);
            Some(s)
        };
        for name in &a.cap {
            let c: Capability = serde_json::from_value(serde_json::Value::String(name.clone()))
                .with_context(|| format!("unknown capability {name:?}"))?;
            caps.set_bounding(add(caps.bounding(), c));
            caps.set_effective(add(caps.effective(), c));
            caps.set_permitted(add(caps.permitted(), c));
            caps.set_ambient(add(caps.ambient(), c));
        }
        p.set_capabilities(Some(caps));
    }
    let mut env = p.env().clone().unwrap_or_default();
    env.extend(a.env.iter().cloned());
    p.set_env(Some(env));
    p.set_terminal(Some(a.tty));
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(user) = &a.user {
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user.as_str(), None),
        };
        let uid: u32 = uid
            .parse()
            .with_context(|| format!("parsing {user} as uid[:gid]"))?;
        let mut u = p.user().clone();
        u.set_uid(uid);
        if let Some(gid) = gid {
            u.set_gid(
                gid.parse()
                    .with_context(|| format!("parsing {user} as uid[:gid]"))?,
            );
        }
        p.set_user(u);
    }
    if !a.additional_gids.is_empty() {
        let mut u = p.user().clone();
        let mut gids = u.additional_gids().clone().unwrap_or_default();
        gids.extend(&a.additional_gids);
        u.set_additional_gids(Some(gids));
        p.set_user(u);
    }
    Ok(p)
}
