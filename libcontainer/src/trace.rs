//! `berth --trace` / `BERTH_TRACE=1`: how long each step of a container operation took.
//!
//! A step is the time between two [`mark`] calls in one process. Each process (the
//! runtime, and the container's init, which inherits the recorder through `clone`) keeps
//! its own list and prints it to stderr with [`flush`]: the runtime when the command
//! ends, the init just before `execve` (so its lines go to the container's stderr, which
//! for `berth run` is the terminal). Times are milliseconds since the previous mark and
//! since the process's first mark (the runtime's start, or the clone for the init).
//!
//! Disabled (the default), a mark costs one relaxed atomic load.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

static ENABLED: AtomicBool = AtomicBool::new(false);

struct Recorder {
    who: &'static str,
    origin: Option<Instant>,
    last: Option<Instant>,
    steps: Vec<(&'static str, f64)>,
}

static RECORDER: Mutex<Recorder> = Mutex::new(Recorder {
    who: "berth",
    origin: None,
    last: None,
    steps: Vec::new(),
});

/// Turns tracing on for this process and the processes it forks; the clock starts now.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
    let now = Instant::now();
    let mut r = lock();
    r.origin = Some(now);
    r.last = Some(now);
}

#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

fn lock() -> std::sync::MutexGuard<'static, Recorder> {
    // A forked child of a single-threaded runtime never sees the lock held.
    RECORDER.lock().unwrap_or_else(|p| p.into_inner())
}

/// Ends the step `name`: records the time since the previous mark.
#[inline]
pub fn mark(name: &'static str) {
    if enabled() {
        record(name);
    }
}

#[cold]
fn record(name: &'static str) {
    let now = Instant::now();
    let mut r = lock();
    let last = r.last.unwrap_or(now);
    r.steps.push((name, (now - last).as_secs_f64() * 1e3));
    r.last = Some(now);
    r.origin.get_or_insert(now);
}

/// In a freshly cloned child: forget the parent's steps and label this process's lines.
pub(crate) fn child(who: &'static str) {
    if enabled() {
        let now = Instant::now();
        let mut r = lock();
        r.who = who;
        r.steps.clear();
        r.origin = Some(now);
        r.last = Some(now);
    }
}

/// Prints the steps recorded so far, one line each, in one write to stderr, and clears
/// them: `berth trace: create cgroup 0.412 ms (at 1.730 ms)`.
pub fn flush() {
    if !enabled() {
        return;
    }
    let mut r = lock();
    if r.steps.is_empty() {
        return;
    }
    let mut out = String::new();
    let mut at = 0.0;
    for (name, ms) in &r.steps {
        at += ms;
        out.push_str(&format!(
            "berth trace: {:<6} {:<22} {:>8.3} ms  (at {:.3} ms)\n",
            r.who, name, ms, at
        ));
    }
    r.steps.clear();
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
}
