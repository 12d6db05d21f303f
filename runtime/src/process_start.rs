//! What Rust's usual `main` wrapper does before `main`, minus its costly part.
//!
//! The binary has its own C `main` (`#![no_main]` in main.rs): std's wrapper also sets up
//! stack-overflow reporting, and finding the main thread's stack for that has glibc read
//! and `sscanf`-parse /proc/self/maps on every start (about 0.1 ms, and ~200 KiB of
//! `berth`'s peak RSS in scanf code and tables; docs/performance.md). A stack overflow
//! is then a plain SIGSEGV, as in C. What the wrapper does that callers see, we keep:
//! SIGPIPE ignored (a closed pipe is an EPIPE error, not a silent death; the container's
//! init restores the default before it execs) and descriptors 0-2 open (on /dev/null
//! if the caller closed them, so files opened later never land on them).
//!
//! Error backtraces are switched off here too: berth prints one-line errors and never a
//! backtrace, yet with RUST_BACKTRACE set (a developer shell, some CI) `anyhow` walks the
//! stack for every error, ~2 ms on the first. std reads the variables once, on the first
//! capture, and keeps the answer; we make that first capture with RUST_LIB_BACKTRACE=0
//! and then put the environment back as it was (hooks inherit it).

use std::backtrace::Backtrace;
use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, IntoRawFd};

use nix::sys::signal::{signal, SigHandler, Signal};

const LIB_BACKTRACE: &str = "RUST_LIB_BACKTRACE";

/// Run first thing in `main`, while the process has a single thread.
pub fn prepare() {
    // SAFETY: SIG_IGN installs no handler code; nothing else runs yet.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
    reopen_closed_stdio();
    disable_error_backtraces();
}

fn reopen_closed_stdio() {
    // Raw poll(2): nix's wants borrowed descriptors, which a closed one cannot be.
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    // SAFETY: poll reads and writes only the three pollfd entries we pass.
    if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 0) } < 0 {
        return;
    }
    for polled in fds {
        if polled.revents & libc::POLLNVAL != 0 {
            // The lowest free descriptor is the closed one; keep it open for good.
            if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
                debug_assert_eq!(null.as_raw_fd(), polled.fd);
                let _ = null.into_raw_fd();
            }
        }
    }
}

fn disable_error_backtraces() {
    if std::env::var_os(LIB_BACKTRACE).is_some() {
        return; // the caller chose; RUST_LIB_BACKTRACE wins over RUST_BACKTRACE
    }
    // SAFETY: single-threaded here, so no other thread reads the environment meanwhile.
    unsafe { std::env::set_var(LIB_BACKTRACE, "0") };
    let _ = Backtrace::capture();
    // SAFETY: as above.
    unsafe { std::env::remove_var(LIB_BACKTRACE) };
}
