//! Signal names and numbers, as `runc kill` (1.1.5) accepts them.
//!
//! runc parses a signal argument like this: a decimal integer (Go's `strconv.Atoi`:
//! optional `+`/`-` sign, leading zeros allowed) is taken as the raw number, whatever
//! it is — out-of-range numbers such as `65` or `-1` are only rejected by kill(2) with
//! EINVAL. Anything else is upper-cased, prefixed with `SIG` unless it already starts
//! with it, and looked up in the table of the 31 standard signals below. Real-time
//! signals have no names (`RTMIN+3`, `SIGRTMIN` are unknown); they are reachable by
//! number only. An unknown name fails with `unknown signal "FOO"` (Go's `%q`).
//!
//! [`Sig`] carries a raw number because nix's `Signal` cannot hold real-time signals.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// Neither a number nor a known signal name; holds the argument as given.
    #[error("unknown signal {0:?}")]
    Unknown(String),
}

/// A signal number as given to kill(2). Not necessarily valid: runc passes any integer
/// through and lets the kernel answer EINVAL, and so do we.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sig(pub i32);

/// The signal names runc knows (Go's `x/sys/unix` signal table for Linux), in number
/// order. Numbers come from libc, so they are right for the target architecture.
static SIGNALS: &[(&str, i32)] = &[
    ("SIGHUP", libc::SIGHUP),
    ("SIGINT", libc::SIGINT),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGILL", libc::SIGILL),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGABRT", libc::SIGABRT),
    ("SIGBUS", libc::SIGBUS),
    ("SIGFPE", libc::SIGFPE),
    ("SIGKILL", libc::SIGKILL),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGALRM", libc::SIGALRM),
    ("SIGTERM", libc::SIGTERM),
    #[cfg(not(any(
        target_arch = "mips",
        target_arch = "mips32r6",
        target_arch = "mips64",
        target_arch = "mips64r6",
        target_arch = "sparc64"
    )))]
    ("SIGSTKFLT", libc::SIGSTKFLT),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGPROF", libc::SIGPROF),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGIO", libc::SIGIO),
    ("SIGPWR", libc::SIGPWR),
    ("SIGSYS", libc::SIGSYS),
];

/// Every named signal with its number, in number order. Real-time signals
/// ([`realtime`]) are not in it: they have no names.
pub fn all() -> &'static [(&'static str, i32)] {
    SIGNALS
}

/// The real-time signals a process may use (glibc reserves the first two or three for
/// itself, so this starts at `SIGRTMIN()` as libc reports it, normally 34).
pub fn realtime() -> std::ops::RangeInclusive<i32> {
    libc::SIGRTMIN()..=libc::SIGRTMAX()
}

/// Parses a signal argument exactly as `runc kill` does; see the module docs.
///
/// An empty string is an error here; `runc kill` never parses it, it sends SIGTERM when
/// the argument is missing or empty, and so should the caller.
pub fn parse_signal(s: &str) -> Result<Sig, SignalError> {
    if let Some(n) = parse_go_int(s) {
        return Ok(Sig(n));
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, num)| Sig(num))
        .ok_or_else(|| SignalError::Unknown(s.to_owned()))
}

/// Go's `strconv.Atoi` for the values that fit an `i32`: optional sign, then ASCII
/// digits only (no spaces, underscores or radix prefixes). runc would also take numbers
/// that only fit Go's 64-bit `int` and let kill(2) truncate them; we call those unknown.
fn parse_go_int(s: &str) -> Option<i32> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // i32's FromStr takes the same syntax (sign, digits) and checks the range.
    s.parse().ok()
}

impl Sig {
    pub const TERM: Sig = Sig(libc::SIGTERM);
    pub const KILL: Sig = Sig(libc::SIGKILL);

    /// The signal's name (`"SIGKILL"`), or `None` for real-time and invalid numbers.
    pub fn name(self) -> Option<&'static str> {
        SIGNALS
            .iter()
            .find(|&&(_, n)| n == self.0)
            .map(|&(name, _)| name)
    }

    /// The signal as nix's type, when it is one of the standard signals.
    pub fn as_nix(self) -> Option<nix::sys::signal::Signal> {
        nix::sys::signal::Signal::try_from(self.0).ok()
    }
}

impl From<nix::sys::signal::Signal> for Sig {
    fn from(s: nix::sys::signal::Signal) -> Self {
        Sig(s as i32)
    }
}

impl FromStr for Sig {
    type Err = SignalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_signal(s)
    }
}

/// The name when there is one, the number otherwise.
/// How Go names signals 1–31 on Linux ("signal: killed" in a Go program's exit status),
/// which runc's error texts carry and its clients and tests match.
const GO_DESCRIPTIONS: [&str; 31] = [
    "hangup",
    "interrupt",
    "quit",
    "illegal instruction",
    "trace/breakpoint trap",
    "aborted",
    "bus error",
    "floating point exception",
    "killed",
    "user defined signal 1",
    "segmentation fault",
    "user defined signal 2",
    "broken pipe",
    "alarm clock",
    "terminated",
    "stack fault",
    "child exited",
    "continued",
    "stopped (signal)",
    "stopped",
    "stopped (tty input)",
    "stopped (tty output)",
    "urgent I/O condition",
    "CPU time limit exceeded",
    "file size limit exceeded",
    "virtual timer expired",
    "profiling timer expired",
    "window changed",
    "I/O possible",
    "power failure",
    "bad system call",
];

impl Sig {
    /// Go's description of the signal ("killed", "bad system call"); `signal N` beyond.
    pub(crate) fn go_description(self) -> String {
        usize::try_from(self.0 - 1)
            .ok()
            .and_then(|i| GO_DESCRIPTIONS.get(i))
            .map_or_else(|| format!("signal {}", self.0), |d| (*d).to_owned())
    }
}

impl fmt::Display for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> i32 {
        parse_signal(s).unwrap_or_else(|e| panic!("{s:?}: {e}")).0
    }

    fn err(s: &str) -> String {
        parse_signal(s).expect_err(s).to_string()
    }

    #[test]
    fn table_matches_numbers_and_nix() {
        assert_eq!(SIGNALS.len(), 31);
        for (i, &(name, num)) in SIGNALS.iter().enumerate() {
            // x86_64 and most others number them 1..=31 in this order.
            #[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
            assert_eq!(num, i as i32 + 1, "{name}");
            let nix = Sig(num).as_nix().unwrap_or_else(|| panic!("{name}"));
            assert_eq!(nix.as_str(), name);
            assert_eq!(Sig(num).name(), Some(name));
            assert_eq!(ok(name), num);
        }
    }

    #[test]
    fn names_as_runc_accepts_them() {
        assert_eq!(ok("KILL"), 9);
        assert_eq!(ok("SIGKILL"), 9);
        assert_eq!(ok("kill"), 9);
        assert_eq!(ok("sigkill"), 9);
        assert_eq!(ok("SiGuSr1"), 10);
        assert_eq!(ok("usr2"), 12);
        assert_eq!(ok("STKFLT"), 16);
        assert_eq!(ok("pwr"), 30);
        assert_eq!(ok("SYS"), 31);
    }

    #[test]
    fn numbers_pass_through_unchecked() {
        assert_eq!(ok("9"), 9);
        assert_eq!(ok("0"), 0);
        assert_eq!(ok("64"), 64);
        assert_eq!(ok("65"), 65);
        assert_eq!(ok("-1"), -1);
        assert_eq!(ok("+10"), 10);
        assert_eq!(ok("010"), 10);
    }

    #[test]
    fn unknown_like_runc() {
        assert_eq!(err("FOO"), r#"unknown signal "FOO""#);
        assert_eq!(err("RTMIN+3"), r#"unknown signal "RTMIN+3""#);
        for s in [
            "SIGRTMIN+1",
            "SIGRTMIN",
            "RTMAX",
            "IOT",
            "SIGIOT",
            "POLL",
            "CLD",
            "UNUSED",
            "SIG",
            " 10",
            "10 ",
            "0x10",
            "1_0",
            "+",
            "-",
            "",
        ] {
            assert!(parse_signal(s).is_err(), "{s:?}");
        }
        assert_eq!(err("a\"b"), r#"unknown signal "a\"b""#);
        assert_eq!(
            err("99999999999999999999"),
            r#"unknown signal "99999999999999999999""#
        );
    }

    #[test]
    fn display_and_names() {
        assert_eq!(Sig::KILL.to_string(), "SIGKILL");
        assert_eq!(Sig(40).to_string(), "40");
        assert_eq!(Sig(40).name(), None);
        assert_eq!(Sig(40).as_nix(), None);
        assert_eq!(Sig::from(nix::sys::signal::Signal::SIGTERM), Sig::TERM);
        assert_eq!("term".parse::<Sig>().unwrap(), Sig::TERM);
        let rt = realtime();
        assert!(*rt.start() > 31 && *rt.end() >= *rt.start());
    }
}
