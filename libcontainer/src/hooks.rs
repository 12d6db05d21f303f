//! OCI hooks: each runs with the container state on stdin, its own args and env, and an
//! optional timeout; a failing hook fails the operation (poststop failures are logged).

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use std::collections::HashMap;
use std::path::PathBuf;

use oci_spec::runtime::Hook;
use serde::Serialize;

use crate::status::Status;

/// The OCI state document hooks get on stdin (not `berth state`'s, which has more).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct HookState {
    #[serde(rename = "ociVersion")]
    pub oci_version: &'static str,
    pub id: String,
    pub status: Status,
    #[serde(skip_serializing_if = "is_zero")]
    pub pid: i32,
    pub bundle: PathBuf,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

fn is_zero(pid: &i32) -> bool {
    *pid == 0
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    // The texts hold runc 1.1's ("error running hook #N: error running hook: …", which
    // runc's tests and clients match) and name the kind, as runc ≥ 1.2 does.
    #[error("error running {kind} hook #{index}: fork/exec {}: {source}", path)]
    Spawn {
        kind: &'static str,
        index: usize,
        path: String,
        source: std::io::Error,
    },
    #[error(
        "error running {kind} hook #{index}: error running hook: {status}, stdout: {stdout}, stderr: {stderr}"
    )]
    /// `status` reads as Go prints it: "exit status 1", "signal: killed".
    Failed {
        kind: &'static str,
        index: usize,
        status: String,
        stdout: String,
        stderr: String,
    },
    #[error("error running {kind} hook #{index}: hook ran past specified timeout of {secs}.0s")]
    Timeout {
        kind: &'static str,
        index: usize,
        secs: i64,
    },
}

/// Runs the runtime's hooks (prestart, createRuntime, poststart, poststop) in order;
/// stops at the first failure. A hook without `env` inherits the runtime's environment,
/// as in runc (Go's exec with a nil Env).
pub(crate) fn run(
    kind: &'static str,
    hooks: Option<&Vec<Hook>>,
    state: &HookState,
) -> Result<(), HookError> {
    run_all(kind, hooks, state, None)
}

/// Runs hooks inside the container's init (createContainer, startContainer). runc's
/// init has the container process's environment by then, so a hook without `env`
/// inherits `process_env`.
pub(crate) fn run_in_container(
    kind: &'static str,
    hooks: Option<&Vec<Hook>>,
    state: &HookState,
    process_env: &[String],
) -> Result<(), HookError> {
    run_all(kind, hooks, state, Some(process_env))
}

fn run_all(
    kind: &'static str,
    hooks: Option<&Vec<Hook>>,
    state: &HookState,
    inherited: Option<&[String]>,
) -> Result<(), HookError> {
    let Some(hooks) = hooks else { return Ok(()) };
    let input = serde_json::to_vec(state).unwrap_or_default();
    for (index, hook) in hooks.iter().enumerate() {
        run_one(kind, index, hook, &input, inherited)?;
    }
    Ok(())
}

/// `inherited`: the environment a hook without `env` gets (None: this process's own).
fn run_one(
    kind: &'static str,
    index: usize,
    hook: &Hook,
    input: &[u8],
    inherited: Option<&[String]>,
) -> Result<(), HookError> {
    let path = hook.path().display().to_string();
    let args = hook.args().clone().unwrap_or_default();
    let mut cmd = Command::new(hook.path());
    if let Some((argv0, rest)) = args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    let env = match (hook.env(), inherited) {
        (Some(env), _) => Some(env.as_slice()),
        (None, inherited) => inherited,
    };
    if let Some(env) = env {
        cmd.env_clear();
        for kv in env {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let spawn_err = |source| HookError::Spawn {
        kind,
        index,
        path: path.clone(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is not an error.
        let _ = stdin.write_all(input);
    }
    if let Some(secs) = hook.timeout().filter(|t| *t > 0) {
        if !crate::utils::wait_exit(child.id() as i32, Duration::from_secs(secs as u64)) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(HookError::Timeout { kind, index, secs });
        }
    }
    let out = child.wait_with_output().map_err(spawn_err)?;
    if out.status.success() {
        return Ok(());
    }
    Err(HookError::Failed {
        kind,
        index,
        status: go_status(out.status),
        stdout: String::from_utf8_lossy(&out.stdout).trim_end().to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim_end().to_string(),
    })
}

fn go_status(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => format!("signal: {}", crate::signal::Sig(sig).go_description()),
        _ => status.to_string(),
    }
}
