//! Test-only fault injection: `BERTH_FAULT_STEP=<step>` makes the process SIGKILL itself
//! when it reaches that step of `create`, so tests can check that `delete --force` and
//! `list` recover from a runtime that died at any point (see `docs/reliability.md`).
//!
//! Steps, in order: `reserved` (state dir made), `state` (first state.json written),
//! `cgroup` (cgroup made, resources applied), `spawned` (init cloned and in its cgroup),
//! `hooks` (createRuntime hooks run; only with such hooks), `ready` (init waits on
//! exec.fifo, final state not yet written), `written` (final state written, pid file not).
//!
//! Unset (always, outside tests) it costs one environment lookup per step.

/// Environment variable naming the step at which to die.
pub const FAULT_STEP_ENV: &str = "BERTH_FAULT_STEP";

/// SIGKILLs this process if `BERTH_FAULT_STEP` names `step`.
pub(crate) fn point(step: &str) {
    if std::env::var_os(FAULT_STEP_ENV).is_some_and(|v| v == step) {
        // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught, nothing runs after.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}
