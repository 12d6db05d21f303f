//! Normalise runtime output so runc's and berth's can be compared.

use serde_json::Value;

/// State JSON with the parts that differ between runs replaced: `pid` → 1 if non-zero,
/// `created` → "<created>" (after checking it is RFC 3339 with nanoseconds and `Z`),
/// bundle paths → "<bundle>".
pub fn normalize_state(state: &Value, bundle: &std::path::Path) -> Value {
    let mut v = state.clone();
    let b = bundle.to_str().unwrap();
    // runc 1.1.5 reports "1.0.2-dev", berth the runtime-spec version it implements.
    if v["ociVersion"].is_string() {
        v["ociVersion"] = Value::from("<ociVersion>");
    }
    if let Some(pid) = v["pid"].as_i64() {
        v["pid"] = Value::from(if pid > 0 { 1 } else { 0 });
    }
    if let Some(c) = v["created"].as_str() {
        assert!(
            c.ends_with('Z') && c.contains('T') && c.len() >= 20,
            "created not RFC3339 UTC: {c}"
        );
        v["created"] = Value::from("<created>");
    }
    for key in ["bundle", "rootfs"] {
        if let Some(s) = v[key].as_str() {
            v[key] = Value::from(s.replace(b, "<bundle>"));
        }
    }
    if let Some(id) = v["id"].as_str() {
        v["id"] = Value::from(normalize_id(id));
    }
    v
}

/// `prefix-<pid>-<n>` → `prefix-ID`.
fn normalize_id(id: &str) -> String {
    let mut parts: Vec<&str> = id.rsplitn(3, '-').collect();
    if parts.len() == 3 && parts[0].parse::<u64>().is_ok() && parts[1].parse::<u64>().is_ok() {
        parts.reverse();
        format!("{}-ID", parts[0])
    } else {
        id.to_string()
    }
}

/// The message of a runc-style error line: `time="…" level=error msg="…"` → the msg
/// (unquoted); a JSON log line → its `msg`; otherwise the line itself.
pub fn error_message(line: &str) -> String {
    let line = line.trim();
    if let Ok(v) = serde_json::from_str::<Value>(line) {
        if let Some(m) = v["msg"].as_str() {
            return m.to_string();
        }
    }
    if let Some(i) = line.find("msg=") {
        let rest = &line[i + 4..];
        if let Some(stripped) = rest.strip_prefix('"') {
            // Go %q quoting: unescape \" and \\.
            let mut out = String::new();
            let mut chars = stripped.chars();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            out.push(match n {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                    }
                    '"' => break,
                    c => out.push(c),
                }
            }
            return out;
        }
        return rest.to_string();
    }
    line.to_string()
}

/// Stderr with timestamps stripped (messages only), the program name replaced by
/// `<rt>`, and container ids normalised; one message per line.
pub fn normalize_stderr(stderr: &str, program: &str) -> String {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| error_message(l).replace(program, "<rt>"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The lines of a /proc/<pid>/status-like text whose key is in `keys`, in order.
pub fn status_lines(status: &str, keys: &[&str]) -> Vec<String> {
    status
        .lines()
        .filter(|l| keys.iter().any(|k| l.split(':').next() == Some(k)))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}
