//! runc's logging (`--log`, `--log-format`, `--debug`), reproduced for `log` records.
//!
//! What runc 1.1.5 does, and so what this does:
//! - Lines are logrus's: text `time="2026-11-22T20:41:46Z" level=error msg="..."`, or
//!   json `{"level":"error","msg":"...","time":"..."}`, each ending in a newline. Times
//!   are RFC 3339 at second precision in the *local* time zone (`Z` when the offset is
//!   zero, `+01:00` otherwise); we take them from libc's `localtime_r`.
//! - Without `--debug` the level is info; with it, debug, and every line also carries
//!   the caller (`func="..." file="..."` in text, `"file"`/`"func"` keys in json).
//!   runc names Go functions there; we name the Rust module and `file:line`.
//! - `--log FILE` opens FILE with `O_CREAT|O_WRONLY|O_APPEND|O_SYNC`, mode 0644. If that
//!   fails, the error (`open FILE: no such file or directory`) goes to stderr in the
//!   chosen format and runc exits 1: [`init`] returns the error with the logger already
//!   writing to stderr, so `fatal(&err)` reproduces it.
//! - A fatal error is logged at error level; if the log does not go to stderr, the bare
//!   message is also written to stderr. Exit code 1.
//! - On a TTY, logrus colours text lines (`\x1b[31mERRO\x1b[0m[0000] msg` padded to 44
//!   columns). We don't: the plain text line is written to terminals too.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};

use log::{Level, LevelFilter, Log, Metadata, Record};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `--log-format` had a value other than `text`, `json` or empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLogFormat(pub String);

impl std::fmt::Display for InvalidLogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid log-format: {}", self.0)
    }
}

impl std::error::Error for InvalidLogFormat {}

impl FromStr for LogFormat {
    type Err = InvalidLogFormat;

    /// As runc: `""` and `"text"` are text, `"json"` is json, case-sensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "" | "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(InvalidLogFormat(s.to_owned())),
        }
    }
}

enum Output {
    Stderr,
    File(File),
}

struct Logger {
    format: LogFormat,
    debug: bool,
    out: Mutex<Output>,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Installs the logger. On an error opening `log`, the logger is still installed (on
/// stderr, in `format`) and the error is returned for the caller to hand to [`fatal`].
pub fn init(log: Option<&Path>, format: LogFormat, debug: bool) -> anyhow::Result<()> {
    let logger = Logger {
        format,
        debug,
        out: Mutex::new(Output::Stderr),
    };
    if LOGGER.set(logger).is_err() {
        anyhow::bail!("logging is already initialised");
    }
    let logger = LOGGER.get().expect("just set");
    log::set_logger(logger).map_err(|e| anyhow::anyhow!("{e}"))?;
    log::set_max_level(if debug {
        LevelFilter::Debug
    } else {
        LevelFilter::Info
    });
    if let Some(path) = log {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o644)
            .custom_flags(libc::O_SYNC)
            .open(path)
            .map_err(|e| {
                anyhow::anyhow!(
                    "open {}: {}",
                    path.display(),
                    libcontainer::SysError::from(e)
                )
            })?;
        *logger.out.lock().unwrap_or_else(|p| p.into_inner()) = Output::File(file);
    }
    Ok(())
}

/// Logs `msg` at error level, repeats it bare on stderr when the log goes elsewhere,
/// and exits with status 1 — runc's `fatal`. Works before [`init`] too (text on stderr).
#[track_caller]
pub fn fatal(msg: &str) -> ! {
    fatal_with_code(msg, 1)
}

/// [`fatal`] with another exit status (runc's `exec` exits 255 on its own errors).
#[track_caller]
pub fn fatal_with_code(msg: &str, code: i32) -> ! {
    let loc = std::panic::Location::caller();
    match LOGGER.get() {
        Some(logger) => {
            let caller = Caller {
                func: concat!(module_path!(), "::fatal"),
                file: loc.file(),
                line: loc.line(),
            };
            logger.write(Level::Error, msg, logger.debug.then_some(&caller));
            let to_stderr = matches!(
                *logger.out.lock().unwrap_or_else(|p| p.into_inner()),
                Output::Stderr
            );
            if !to_stderr {
                let _ = writeln!(std::io::stderr(), "{msg}");
            }
        }
        None => {
            let line = format_line(LogFormat::Text, Level::Error, msg, &now(), None);
            let _ = std::io::stderr().write_all(line.as_bytes());
        }
    }
    std::process::exit(code)
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level()
            <= if self.debug {
                Level::Debug
            } else {
                Level::Info
            }
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let msg = record.args().to_string();
        let caller = Caller {
            func: record.module_path().unwrap_or(record.target()),
            file: record.file().unwrap_or("?"),
            line: record.line().unwrap_or(0),
        };
        self.write(record.level(), &msg, self.debug.then_some(&caller));
    }

    fn flush(&self) {}
}

impl Logger {
    fn write(&self, level: Level, msg: &str, caller: Option<&Caller>) {
        let line = format_line(self.format, level, msg, &now(), caller);
        // One write(2) per line, as logrus does; a failed log write is dropped.
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = match &mut *out {
            Output::Stderr => std::io::stderr().write_all(line.as_bytes()),
            Output::File(f) => f.write_all(line.as_bytes()),
        };
    }
}

/// Where a record was logged from, shown with `--debug`.
struct Caller<'a> {
    func: &'a str,
    file: &'a str,
    line: u32,
}

/// logrus's level names (note "warning").
fn level_name(level: Level) -> &'static str {
    match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Info => "info",
        Level::Debug => "debug",
        Level::Trace => "trace",
    }
}

/// One log line, newline included.
fn format_line(
    format: LogFormat,
    level: Level,
    msg: &str,
    time: &str,
    caller: Option<&Caller>,
) -> String {
    let mut s = String::with_capacity(msg.len() + 64);
    match format {
        LogFormat::Text => {
            // Fixed keys in logrus's order; msg is left out when empty.
            s.push_str("time=");
            text_value(&mut s, time);
            s.push_str(" level=");
            s.push_str(level_name(level));
            if !msg.is_empty() {
                s.push_str(" msg=");
                text_value(&mut s, msg);
            }
            if let Some(c) = caller {
                s.push_str(" func=");
                text_value(&mut s, &format!("{}()", c.func));
                s.push_str(" file=");
                text_value(&mut s, &format!("{}:{}", c.file, c.line));
            }
        }
        LogFormat::Json => {
            // A Go map: keys sorted.
            s.push('{');
            if let Some(c) = caller {
                s.push_str("\"file\":");
                json_string(&mut s, &format!("{}:{}", c.file, c.line));
                s.push_str(",\"func\":");
                json_string(&mut s, c.func);
                s.push(',');
            }
            s.push_str("\"level\":");
            json_string(&mut s, level_name(level));
            s.push_str(",\"msg\":");
            json_string(&mut s, msg);
            s.push_str(",\"time\":");
            json_string(&mut s, time);
            s.push('}');
        }
    }
    s.push('\n');
    s
}

/// logrus's text value: bare when every character is in `[A-Za-z0-9-._/@^+]`
/// (including the empty string), Go-quoted (`%q`) otherwise.
fn text_value(out: &mut String, v: &str) {
    let bare = v
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '/' | '@' | '^' | '+'));
    if bare {
        out.push_str(v);
    } else {
        go_quote(out, v);
    }
}

/// Go's `strconv.Quote`. Go escapes every rune that is not `unicode.IsPrint`; without
/// Unicode tables we escape control characters, every space but U+0020, and the common
/// invisible format characters, which covers what error messages contain.
fn go_quote(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') || is_format_char(c) => {
                if (c as u32) < 0x10000 {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                } else {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn is_format_char(c: char) -> bool {
    matches!(c as u32, 0xad | 0x600..=0x605 | 0x200b..=0x200f | 0x202a..=0x202e | 0x2060..=0x2064 | 0xfeff)
}

/// A JSON string as Go's `encoding/json` (1.19, HTML escaping on) writes it.
fn json_string(out: &mut String, v: &str) {
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The current time in the local zone, RFC 3339 at second precision.
fn now() -> String {
    // SAFETY: time(NULL) has no preconditions; localtime_r only writes into `tm`.
    unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            libc::gmtime_r(&t, &mut tm);
        }
        rfc3339(&tm)
    }
}

/// Go's `time.RFC3339` layout: `Z` for a zero offset, `±hh:mm` otherwise.
fn rfc3339(tm: &libc::tm) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        tm.tm_year as i64 + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec
    );
    let off = tm.tm_gmtoff;
    if off == 0 {
        s.push('Z');
    } else {
        let (sign, abs) = if off < 0 { ('-', -off) } else { ('+', off) };
        let _ = write!(s, "{sign}{:02}:{:02}", abs / 3600, abs % 3600 / 60);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-11-22T20:41:46Z";

    fn line(format: LogFormat, msg: &str) -> String {
        format_line(format, Level::Error, msg, T, None)
    }

    #[test]
    fn text_lines_like_logrus() {
        assert_eq!(
            line(LogFormat::Text, "container does not exist"),
            "time=\"2026-11-22T20:41:46Z\" level=error msg=\"container does not exist\"\n"
        );
        assert_eq!(
            line(LogFormat::Text, "unknown signal \"FOO\""),
            "time=\"2026-11-22T20:41:46Z\" level=error msg=\"unknown signal \\\"FOO\\\"\"\n"
        );
        // As runc printed `chdir` errors for odd bundle paths.
        assert_eq!(
            line(LogFormat::Text, "chdir /tmp/<a&b>\"é\\x: no such file or directory"),
            "time=\"2026-11-22T20:41:46Z\" level=error msg=\"chdir /tmp/<a&b>\\\"é\\\\x: no such file or directory\"\n"
        );
        assert!(line(LogFormat::Text, "chdir /tmp/a\tb\x01c: x")
            .contains(r#"msg="chdir /tmp/a\tb\x01c: x""#));
        assert_eq!(
            line(LogFormat::Text, "plain-word_1.0"),
            format!("time=\"{T}\" level=error msg=plain-word_1.0\n")
        );
        assert_eq!(
            line(LogFormat::Text, ""),
            format!("time=\"{T}\" level=error\n")
        );
        let warn = format_line(LogFormat::Text, Level::Warn, "x y", T, None);
        assert_eq!(warn, format!("time=\"{T}\" level=warning msg=\"x y\"\n"));
    }

    #[test]
    fn json_lines_like_logrus() {
        assert_eq!(
            line(LogFormat::Json, "container does not exist"),
            "{\"level\":\"error\",\"msg\":\"container does not exist\",\"time\":\"2026-11-22T20:41:46Z\"}\n"
        );
        assert_eq!(
            line(LogFormat::Json, "chdir /tmp/<a&b>\"é\\x: no such file or directory"),
            "{\"level\":\"error\",\"msg\":\"chdir /tmp/\\u003ca\\u0026b\\u003e\\\"é\\\\x: no such file or directory\",\"time\":\"2026-11-22T20:41:46Z\"}\n"
        );
        assert!(line(LogFormat::Json, "a\x01\x08\n").contains(r#""msg":"a\u0001\u0008\n""#));
        assert!(line(LogFormat::Json, "").contains(r#""msg":"""#));
    }

    #[test]
    fn debug_adds_the_caller() {
        let c = Caller {
            func: "berth::commands::kill",
            file: "runtime/src/commands/kill.rs",
            line: 7,
        };
        assert_eq!(
            format_line(LogFormat::Text, Level::Debug, "m", T, Some(&c)),
            format!("time=\"{T}\" level=debug msg=m func=\"berth::commands::kill()\" file=\"runtime/src/commands/kill.rs:7\"\n")
        );
        assert_eq!(
            format_line(LogFormat::Json, Level::Debug, "m", T, Some(&c)),
            format!("{{\"file\":\"runtime/src/commands/kill.rs:7\",\"func\":\"berth::commands::kill\",\"level\":\"debug\",\"msg\":\"m\",\"time\":\"{T}\"}}\n")
        );
    }

    #[test]
    fn timestamps() {
        // SAFETY: zeroed tm is a valid value; gmtime_r fills it.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        // 2026-11-22T20:41:46Z
        let t: libc::time_t = 1_795_380_106;
        // SAFETY: both pointers are to live locals of the right types.
        unsafe { libc::gmtime_r(&t, &mut tm) };
        assert_eq!(rfc3339(&tm), T);
        tm.tm_gmtoff = 3600;
        assert_eq!(rfc3339(&tm), "2026-11-22T20:41:46+01:00");
        tm.tm_gmtoff = -(5 * 3600 + 30 * 60);
        assert_eq!(rfc3339(&tm), "2026-11-22T20:41:46-05:30");
        let n = now();
        assert!(n.len() >= 20, "{n}");
    }

    #[test]
    fn formats() {
        assert_eq!("".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert_eq!("text".parse::<LogFormat>(), Ok(LogFormat::Text));
        assert_eq!("json".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert_eq!(
            "xml".parse::<LogFormat>().unwrap_err().to_string(),
            "invalid log-format: xml"
        );
        assert!("JSON".parse::<LogFormat>().is_err());
    }

    #[test]
    fn errno_text() {
        let e = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(
            libcontainer::SysError::from(e).to_string(),
            "no such file or directory"
        );
    }
}
