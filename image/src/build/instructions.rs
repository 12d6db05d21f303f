//! The pure parts of each instruction: argument shapes, allowed flags, EXPOSE ports,
//! HEALTHCHECK options, STOPSIGNAL names, shell-form wrapping. Errors are plain messages;
//! the executor adds the Dockerfile line.

use serde_json::{json, Value};

use super::parser::{Args, Instruction};

pub const DEFAULT_SHELL: &[&str] = &["/bin/sh", "-c"];

/// Build args every build knows without an ARG line (passed to RUN only when given).
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

type R<T> = std::result::Result<T, String>;

/// Flags each instruction accepts; anything else is an error.
pub fn check_flags(ins: &Instruction) -> R<()> {
    let allowed: &[&str] = match ins.keyword.as_str() {
        "FROM" => &["platform"],
        "RUN" => &["network", "mount", "security"],
        "COPY" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "ADD" => &[
            "chown",
            "chmod",
            "link",
            "keep-git-dir",
            "checksum",
            "exclude",
        ],
        "HEALTHCHECK" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        _ => &[],
    };
    for (n, _) in &ins.flags {
        if !allowed.contains(&n.as_str()) {
            return Err(format!("unknown flag --{n} for {}", ins.keyword));
        }
    }
    match ins.keyword.as_str() {
        "RUN" if ins.flag("mount").is_some() => {
            Err("RUN --mount is not supported by this builder".into())
        }
        "RUN" if ins.flag("security").is_some_and(|s| s != "sandbox") => {
            Err("RUN --security=insecure is not supported".into())
        }
        "RUN" => match ins.flag("network") {
            None | Some("none") | Some("default") => Ok(()),
            Some(n) => Err(format!(
                "RUN --network={n}: only none is available (builds have no network)"
            )),
        },
        "COPY" if ins.flag("parents").is_some() || ins.flag("exclude").is_some() => {
            Err("COPY --parents and --exclude are not supported".into())
        }
        "ADD" if ins.flag("exclude").is_some() => Err("ADD --exclude is not supported".into()),
        _ => Ok(()),
    }
}

/// Static checks that need no build state (argument counts and forms).
pub fn validate(ins: &Instruction) -> R<()> {
    check_flags(ins)?;
    let empty = match &ins.args {
        Args::Shell(s) => s.trim().is_empty(),
        Args::Json(v) => v.is_empty(),
    };
    let kw = ins.keyword.as_str();
    if empty && !matches!(kw, "CMD" | "ENTRYPOINT" | "RUN")
        || (empty && kw == "RUN" && ins.heredocs.is_empty())
    {
        return Err(format!("{kw} requires at least one argument"));
    }
    match kw {
        "SHELL" if !matches!(ins.args, Args::Json(_)) => {
            Err("SHELL requires the arguments to be in JSON form".into())
        }
        "COPY" | "ADD" => {
            let n = match &ins.args {
                Args::Json(v) => v.len(),
                Args::Shell(s) => s.split_whitespace().count(),
            };
            if n < 2 {
                Err(format!("{kw} requires at least two arguments"))
            } else {
                Ok(())
            }
        }
        "ONBUILD" => {
            let inner = ins.text();
            let k = inner
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            match k.as_str() {
                "ONBUILD" => Err("chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into()),
                "FROM" | "MAINTAINER" => Err(format!("{k} isn't allowed as an ONBUILD trigger")),
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// `FROM image [AS name]` (already expanded): (image, stage name).
pub fn parse_from(words: &[String]) -> R<(String, Option<String>)> {
    match words {
        [img] => Ok((img.clone(), None)),
        [img, as_, name] if as_.eq_ignore_ascii_case("as") => {
            let n = name.to_ascii_lowercase();
            let ok = n.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            if !ok {
                return Err(format!("invalid stage name {name:?}"));
            }
            Ok((img.clone(), Some(n)))
        }
        _ => Err("FROM requires either one argument, or three: FROM <source> [AS <name>]".into()),
    }
}

/// ENV/LABEL words → pairs. `legacy` is the rest of the line for `ENV key value`.
pub fn pairs(
    kw: &str,
    words: &[String],
    legacy: impl FnOnce() -> R<String>,
) -> R<Vec<(String, String)>> {
    let Some(first) = words.first() else {
        return Err(format!("{kw} requires at least one argument"));
    };
    if !first.contains('=') {
        if words.len() < 2 {
            return Err(format!("{kw} {first} requires a value (or {first}=VALUE)"));
        }
        return Ok(vec![(first.clone(), legacy()?)]);
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!(
                "{kw} names can not be blank: {w:?} is not KEY=VALUE"
            )),
        })
        .collect()
}

/// EXPOSE words → `port/proto` keys (ranges expanded).
pub fn ports(words: &[String]) -> R<Vec<String>> {
    let mut out = Vec::new();
    for w in words {
        let (p, proto) = w.split_once('/').unwrap_or((w, "tcp"));
        let proto = proto.to_ascii_lowercase();
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(format!("invalid protocol {proto:?} in EXPOSE {w}"));
        }
        let (lo, hi) = p.split_once('-').unwrap_or((p, p));
        let lo: u16 = lo.parse().map_err(|_| format!("invalid port {w:?}"))?;
        let hi: u16 = hi.parse().map_err(|_| format!("invalid port {w:?}"))?;
        if lo == 0 || hi < lo {
            return Err(format!("invalid port range {w:?}"));
        }
        for n in lo..=hi {
            out.push(format!("{n}/{proto}"));
        }
    }
    Ok(out)
}

/// Signal names Docker accepts for STOPSIGNAL (with or without `SIG`), or a number.
const SIGNALS: &[&str] = &[
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

pub fn check_signal(s: &str) -> R<()> {
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let rt = name
        .strip_prefix("RTMIN")
        .or_else(|| name.strip_prefix("RTMAX"))
        .is_some();
    if SIGNALS.contains(&name) || rt || s.parse::<u8>().is_ok_and(|n| n > 0 && n < 65) {
        Ok(())
    } else {
        Err(format!("invalid signal: {s}"))
    }
}

/// `30s`, `1m30s`, `500ms`, `1h` → nanoseconds.
pub fn duration_ns(s: &str) -> R<u64> {
    let mut total: f64 = 0.0;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let v: f64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
        let mult = match unit.as_str() {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("invalid duration {s:?}: unknown unit {unit:?}")),
        };
        total += v * mult;
        num.clear();
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(format!("invalid duration {s:?}: missing unit"));
    }
    Ok(total as u64)
}

/// HEALTHCHECK → Docker's `Healthcheck` config object.
pub fn healthcheck(ins: &Instruction, shell: &[String]) -> R<Value> {
    let text = ins.text();
    if matches!(&ins.args, Args::Shell(s) if s.trim().eq_ignore_ascii_case("none")) {
        if !ins.flags.is_empty() {
            return Err("HEALTHCHECK NONE takes no options".into());
        }
        return Ok(json!({"Test": ["NONE"]}));
    }
    let (first, rest) = match text.trim().split_once(char::is_whitespace) {
        Some((a, b)) => (a, b.trim()),
        None => (text.trim(), ""),
    };
    if !first.eq_ignore_ascii_case("CMD") {
        return Err(format!(
            "HEALTHCHECK: unknown type {first:?}: want CMD or NONE"
        ));
    }
    let test: Vec<String> = match super::parser::parse_json_array(rest) {
        Some(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
        None if rest.is_empty() => return Err("HEALTHCHECK CMD requires a command".into()),
        None => {
            let _ = shell;
            vec!["CMD-SHELL".into(), rest.to_string()]
        }
    };
    let mut v = json!({ "Test": test });
    for (flag, key) in [
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start-period", "StartPeriod"),
        ("start-interval", "StartInterval"),
    ] {
        if let Some(d) = ins.flag(flag) {
            v[key] = json!(duration_ns(d)?);
        }
    }
    if let Some(r) = ins.flag("retries") {
        let n: i64 = r
            .parse()
            .map_err(|_| format!("HEALTHCHECK --retries={r}: not a number"))?;
        if n < 0 {
            return Err("HEALTHCHECK --retries cannot be negative".into());
        }
        v["Retries"] = json!(n);
    }
    Ok(v)
}

/// Shell form → `SHELL + [text]`; JSON form as is.
pub fn command(args: &Args, shell: &[String]) -> Vec<String> {
    match args {
        Args::Json(v) => v.clone(),
        Args::Shell(s) => shell
            .iter()
            .cloned()
            .chain(std::iter::once(s.clone()))
            .collect(),
    }
}

/// The command text of a RUN with heredocs: a lone `<<EOF` runs the body as the script;
/// otherwise the heredocs are handed to the shell as written.
pub fn run_script(text: &str, ins: &Instruction) -> String {
    if ins.heredocs.is_empty() {
        return text.to_string();
    }
    let markers = super::parser::heredoc_markers(text);
    let t = text.trim();
    if ins.heredocs.len() == 1
        && markers.len() == 1
        && t.starts_with("<<")
        && !t.contains(char::is_whitespace)
    {
        return ins.heredocs[0].body.clone();
    }
    let mut s = text.to_string();
    s.push('\n');
    for h in &ins.heredocs {
        s.push_str(&h.body);
        s.push_str(&h.name);
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::parser::parse;

    fn ins(s: &str) -> Instruction {
        parse("Dockerfile", s).unwrap().instructions.remove(0)
    }

    #[test]
    fn from_forms() {
        let w = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_from(&w(&["a"])).unwrap(), ("a".into(), None));
        assert_eq!(
            parse_from(&w(&["a", "as", "Build"])).unwrap(),
            ("a".into(), Some("build".into()))
        );
        assert!(parse_from(&w(&["a", "b"])).is_err());
    }

    #[test]
    fn flags_checked() {
        assert!(validate(&ins("COPY --bogus=1 a b\n"))
            .unwrap_err()
            .contains("--bogus"));
        assert!(validate(&ins("RUN --mount=type=cache x\n")).is_err());
        assert!(validate(&ins("RUN --network=none true\n")).is_ok());
        assert!(validate(&ins("COPY a\n")).is_err());
        assert!(validate(&ins("SHELL sh -c\n")).is_err());
        assert!(validate(&ins("ONBUILD FROM x\n")).is_err());
        assert!(validate(&ins("CMD\n")).is_ok());
        assert!(validate(&ins("WORKDIR\n")).is_err());
    }

    #[test]
    fn ports_signals_durations() {
        let w = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ports(&w(&["80", "53/udp", "8000-8001"])).unwrap(),
            vec!["80/tcp", "53/udp", "8000/tcp", "8001/tcp"]
        );
        assert!(ports(&w(&["x"])).is_err());
        assert!(check_signal("SIGTERM").is_ok());
        assert!(check_signal("kill").is_ok());
        assert!(check_signal("9").is_ok());
        assert!(check_signal("SIGNOPE").is_err());
        assert_eq!(duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(duration_ns("500ms").unwrap(), 500_000_000);
        assert!(duration_ns("10").is_err());
    }

    #[test]
    fn healthchecks() {
        let sh: Vec<String> = DEFAULT_SHELL.iter().map(|s| s.to_string()).collect();
        let v = healthcheck(
            &ins("HEALTHCHECK --interval=5s --retries=3 CMD wget -q x || exit 1\n"),
            &sh,
        )
        .unwrap();
        assert_eq!(v["Test"], json!(["CMD-SHELL", "wget -q x || exit 1"]));
        assert_eq!(v["Interval"], json!(5_000_000_000u64));
        assert_eq!(v["Retries"], json!(3));
        let v = healthcheck(&ins("HEALTHCHECK CMD [\"true\"]\n"), &sh).unwrap();
        assert_eq!(v["Test"], json!(["CMD", "true"]));
        let v = healthcheck(&ins("HEALTHCHECK NONE\n"), &sh).unwrap();
        assert_eq!(v["Test"], json!(["NONE"]));
    }

    #[test]
    fn shell_form_and_heredoc_script() {
        let sh: Vec<String> = DEFAULT_SHELL.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            command(&Args::Shell("echo $HOME".into()), &sh),
            vec!["/bin/sh", "-c", "echo $HOME"]
        );
        let i = parse("Dockerfile", "RUN <<EOF\necho a\nEOF\n")
            .unwrap()
            .instructions
            .remove(0);
        assert_eq!(run_script(&i.text(), &i), "echo a\n");
        let i = parse("Dockerfile", "RUN cat <<EOF > /f\nhi\nEOF\n")
            .unwrap()
            .instructions
            .remove(0);
        assert_eq!(run_script(&i.text(), &i), "cat <<EOF > /f\nhi\nEOF\n");
    }
}
