//! Test harness: bundles, runtimes and helpers shared by the integration tests.
//!
//! Every test runs real containers as root, once under Debian's `runc` (the reference)
//! and once under `berth`; see `docs/testing.md`. The pieces:
//! - [`Bundle`]: a busybox-static rootfs plus a `config.json` that starts from runc's
//!   default spec and can be edited field by field.
//! - [`Runtime`]: one runtime binary with its own `--root`, unique container ids, and
//!   cleanup on drop (`delete --force`, then kill leftovers by PID only).
//! - [`runtime_test!`], [`berth_only_test!`] and [`compare_test!`]: write a test once,
//!   run it against both runtimes.
//! - [`ConsoleSocket`]: receives the pty master over `--console-socket`.
//! - [`normalize_state`], [`normalize_stderr`]: compare outputs across runtimes.

mod bundle;
mod console;
mod normalize;
mod runtime;
mod tempdir;

pub use bundle::{Bundle, RUNC_DEFAULT_SPEC};
pub use console::ConsoleSocket;
pub use normalize::{error_message, normalize_state, normalize_stderr, status_lines};
pub use runtime::{berth_bin, CommandFds, Output, Runtime, RuntimeKind, COMMAND_TIMEOUT};
pub use serde_json::{json, Value};
pub use tempdir::TempDir;

use std::path::Path;
use std::time::{Duration, Instant};

/// Fail with a clear message unless the tests can run here: root, busybox-static, runc.
pub fn require_environment() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!(
            "berth-tests run real containers and must run as root \
             (try: sudo -E cargo test -p berth-tests)"
        );
    }
    if !Path::new(bundle::BUSYBOX).exists() {
        panic!(
            "{} missing: apt-get install busybox-static",
            bundle::BUSYBOX
        );
    }
}

/// Poll `cond` every 20ms until it returns true or `timeout` passes; returns whether it did.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process with this PID exists (and is not a zombie).
pub fn pid_alive(pid: i64) -> bool {
    if pid <= 0 {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => {
            // state is the field after the ")" that closes comm
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("");
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// Write one test once, run it against runc and berth: `runtime_test!(name, |rt| { .. })`
/// expands to `mod name { #[test] fn runc(); #[test] fn berth() }`; `rt` is a `&Runtime`.
#[macro_export]
macro_rules! runtime_test {
    ($(#[$meta:meta])* $name:ident, |$rt:ident| $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($rt: &$crate::Runtime) $body
            #[test]
            fn runc() {
                let rt = $crate::Runtime::runc();
                body(&rt);
            }
            #[test]
            fn berth() {
                let rt = $crate::Runtime::berth();
                body(&rt);
            }
        }
    };
}

/// A test of a feature runc 1.1.5 lacks: the `runc` variant is ignored with `$why`.
#[macro_export]
macro_rules! berth_only_test {
    ($(#[$meta:meta])* $name:ident, $why:literal, |$rt:ident| $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($rt: &$crate::Runtime) $body
            #[test]
            #[ignore = $why]
            fn runc() {
                let rt = $crate::Runtime::runc();
                body(&rt);
            }
            #[test]
            fn berth() {
                let rt = $crate::Runtime::berth();
                body(&rt);
            }
        }
    };
}

/// Run the same observation under runc and berth and require equal results.
/// `compare_test!(name, |rt| -> T { .. })` (T: PartialEq + Debug): the `runc` variant
/// runs it under runc only (the test itself is sound); the `berth` variant runs it under
/// both and asserts `berth == runc`.
#[macro_export]
macro_rules! compare_test {
    ($(#[$meta:meta])* $name:ident, |$rt:ident| -> $ty:ty $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            fn body($rt: &$crate::Runtime) -> $ty $body
            #[test]
            fn runc() {
                let rt = $crate::Runtime::runc();
                body(&rt);
            }
            #[test]
            fn berth() {
                let expected = body(&$crate::Runtime::runc());
                let got = body(&$crate::Runtime::berth());
                assert_eq!(got, expected, "berth differs from runc (left: berth, right: runc)");
            }
        }
    };
}
