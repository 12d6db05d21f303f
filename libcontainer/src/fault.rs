//! Test-only fault injection: `BERTH_FAULT_STEP=<step>` makes the process SIGKILL itself
//! when it reaches that step, so tests can check that `delete --force`, `list` and the
//! shim's `delete` recover from a runtime that died at any point (see
//! `docs/reliability.md`).
//!
//! Steps of `create`, in order: `reserved` (state dir made), `state` (first state.json
//! written), `cgroup` (cgroup made, resources applied), `spawned` (init cloned and in its
//! cgroup), `hooks` (createRuntime hooks run; only with such hooks), `ready` (init waits on
//! exec.fifo, final state not yet written), `written` (final state written, pid file not).
//! The shim adds its own (`shim-mounted`, `shim-created`, `shim-started`,
//! `shim-exec-before`, `shim-exec-after`, `shim-killed`, `shim-deleted`).
//!
//! A long-running process (the shim) inherits its environment once, so
//! `BERTH_FAULT_FILE=<path>` names a file whose content (trimmed) is the step, read at
//! every point: a test changes the step between cases without restarting anything. An
//! absent file means no fault.
//!
//! Only builds with the `fault-injection` cargo feature have the hook (the test builds:
//! `make build`/`make test`); release builds (`make release`, `make install`, the package)
//! compile every point to nothing, so no variable can make a production runtime kill
//! itself and no file is read at a step.

/// Environment variable naming the step at which to die.
#[cfg(feature = "fault-injection")]
pub const FAULT_STEP_ENV: &str = "BERTH_FAULT_STEP";
/// Environment variable naming a file that holds the step (read at each point).
#[cfg(feature = "fault-injection")]
pub const FAULT_FILE_ENV: &str = "BERTH_FAULT_FILE";

/// SIGKILLs this process if `BERTH_FAULT_STEP` (or the file `BERTH_FAULT_FILE` names)
/// names `step`.
#[cfg(feature = "fault-injection")]
pub fn point(step: &str) {
    let armed = std::env::var_os(FAULT_STEP_ENV).is_some_and(|v| v == step)
        || std::env::var_os(FAULT_FILE_ENV)
            .and_then(|path| std::fs::read_to_string(path).ok())
            .is_some_and(|v| v.trim() == step);
    if armed {
        // SAFETY: kill(2) on our own pid; SIGKILL cannot be caught, nothing runs after.
        unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    }
}

/// Without the `fault-injection` feature a point is nothing.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_step: &str) {}
