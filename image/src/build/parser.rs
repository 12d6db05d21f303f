//! The Dockerfile parser: parser directives (`# syntax=`, `# escape=`), comments, line
//! continuations, heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`), leading `--flags`, and JSON vs
//! shell form. No variable expansion here: that depends on the build state (`expand`).

use super::error::{BuildError, Result};

/// Every instruction Docker knows.
pub const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// Instructions that take leading `--name[=value]` flags.
const FLAGGED: &[&str] = &["FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"];
/// Instructions whose argument may be a JSON array.
const JSON_FORM: &[&str] = &[
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "SHELL",
    "COPY",
    "ADD",
    "VOLUME",
    "HEALTHCHECK",
];
/// Instructions that may carry heredocs.
const HEREDOC: &[&str] = &["RUN", "COPY", "ADD"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directives {
    pub escape: char,
    pub syntax: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            escape: '\\',
            syntax: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heredoc {
    pub name: String,
    /// The lines between the marker and the terminator, each ending in `\n`.
    pub body: String,
    /// False when the marker was quoted (`<<"EOF"`): no variable expansion.
    pub expand: bool,
    /// `<<-EOF`: leading tabs were stripped.
    pub strip_tabs: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Args {
    /// `["a", "b"]`
    Json(Vec<String>),
    /// Anything else: the text after the keyword and flags, continuations joined.
    Shell(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// 1-based line of the keyword.
    pub line: usize,
    /// Upper case.
    pub keyword: String,
    /// `--name=value` (value empty for a bare `--name`), in order.
    pub flags: Vec<(String, String)>,
    pub args: Args,
    pub heredocs: Vec<Heredoc>,
    /// The logical line as written (continuations joined), for history and cache keys.
    pub original: String,
}

impl Instruction {
    pub fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// The argument text (shell form), or the JSON array re-joined by spaces.
    pub fn text(&self) -> String {
        match &self.args {
            Args::Shell(s) => s.clone(),
            Args::Json(v) => v.join(" "),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    pub instructions: Vec<Instruction>,
}

/// Parse a whole Dockerfile. `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Dockerfile> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let (directives, mut i) = parse_directives(file, &lines)?;
    let esc = directives.escape;
    let mut out = Vec::new();
    while i < lines.len() {
        let l = lines[i];
        if is_blank_or_comment(l) {
            i += 1;
            continue;
        }
        let start = i;
        let mut logical = String::new();
        let mut cur = l;
        loop {
            i += 1;
            match strip_continuation(cur, esc) {
                Some(head) => {
                    logical.push_str(head);
                    // Comment and empty lines inside a continuation are dropped.
                    while i < lines.len() && is_blank_or_comment(lines[i]) {
                        i += 1;
                    }
                    if i >= lines.len() {
                        break;
                    }
                    cur = lines[i];
                }
                None => {
                    logical.push_str(cur);
                    break;
                }
            }
        }
        let mut ins = parse_line(file, start + 1, logical.trim(), esc)?;
        if HEREDOC.contains(&ins.keyword.as_str()) {
            let markers = heredoc_markers(&ins.text());
            for (name, expand, strip_tabs) in markers {
                let mut body = String::new();
                loop {
                    let Some(l) = lines.get(i) else {
                        return Err(BuildError::at(
                            file,
                            start + 1,
                            format!("heredoc <<{name} is not terminated"),
                        ));
                    };
                    i += 1;
                    let l = if strip_tabs {
                        l.trim_start_matches('\t')
                    } else {
                        l
                    };
                    if l == name {
                        break;
                    }
                    body.push_str(l);
                    body.push('\n');
                }
                ins.heredocs.push(Heredoc {
                    name,
                    body,
                    expand,
                    strip_tabs,
                });
            }
        }
        out.push(ins);
    }
    Ok(Dockerfile {
        directives,
        instructions: out,
    })
}

fn is_blank_or_comment(l: &str) -> bool {
    let t = l.trim_start();
    t.is_empty() || t.starts_with('#')
}

/// `Some(head)` when the line ends in the escape character (trailing blanks allowed).
fn strip_continuation(l: &str, esc: char) -> Option<&str> {
    let t = l.trim_end_matches([' ', '\t']);
    t.strip_suffix(esc)
}

/// Leading `# key=value` lines. Stops at the first line that is not one.
fn parse_directives(file: &str, lines: &[&str]) -> Result<(Directives, usize)> {
    let mut d = Directives::default();
    let mut seen: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(l) = lines.get(i) {
        let Some(body) = l.trim().strip_prefix('#') else {
            break;
        };
        let Some((k, v)) = body.split_once('=') else {
            break;
        };
        let k = k.trim().to_ascii_lowercase();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            break;
        }
        let v = v.trim();
        if seen.contains(&k) {
            return Err(BuildError::at(
                file,
                i + 1,
                format!("only one {k} parser directive can be used"),
            ));
        }
        match k.as_str() {
            "escape" => {
                d.escape = match v {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(BuildError::at(
                            file,
                            i + 1,
                            format!("invalid escape token {v:?}: must be ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => d.syntax = Some(v.to_string()),
            // `check` and unknown directives are accepted and ignored, as buildkit does.
            _ => {}
        }
        seen.push(k);
        i += 1;
    }
    Ok((d, i))
}

/// One logical line: keyword, flags, arguments.
pub fn parse_line(file: &str, line: usize, text: &str, esc: char) -> Result<Instruction> {
    let (kw, rest) = match text.find(char::is_whitespace) {
        Some(p) => (&text[..p], text[p..].trim_start()),
        None => (text, ""),
    };
    let keyword = kw.to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(BuildError::at(
            file,
            line,
            format!("unknown instruction {kw:?}"),
        ));
    }
    let mut rest = rest;
    let mut flags = Vec::new();
    if FLAGGED.contains(&keyword.as_str()) {
        while let Some(f) = rest.strip_prefix("--") {
            let end = f.find(char::is_whitespace).unwrap_or(f.len());
            let word = &f[..end];
            let (n, v) = word.split_once('=').unwrap_or((word, ""));
            if n.is_empty() {
                return Err(BuildError::at(file, line, "empty flag name \"--\""));
            }
            flags.push((n.to_ascii_lowercase(), unquote(v).to_string()));
            rest = f[end..].trim_start();
        }
    }
    let args = if JSON_FORM.contains(&keyword.as_str()) {
        match parse_json_array(rest) {
            Some(v) => Args::Json(v),
            None => Args::Shell(rest.to_string()),
        }
    } else {
        Args::Shell(rest.to_string())
    };
    let _ = esc;
    Ok(Instruction {
        line,
        keyword,
        flags,
        args,
        heredocs: Vec::new(),
        original: text.to_string(),
    })
}

fn unquote(v: &str) -> &str {
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// A JSON array of strings, or None (Docker then treats the text as shell form).
pub fn parse_json_array(s: &str) -> Option<Vec<String>> {
    let t = s.trim();
    if !t.starts_with('[') || !t.ends_with(']') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

/// Heredoc markers in an instruction's text: (name, expand, strip_tabs).
pub fn heredoc_markers(text: &str) -> Vec<(String, bool, bool)> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == b'\'' || c == b'"' => quote = Some(c),
            None if c == b'<' && b.get(i + 1) == Some(&b'<') && b.get(i + 2) != Some(&b'<') => {
                let mut j = i + 2;
                let strip = b.get(j) == Some(&b'-');
                if strip {
                    j += 1;
                }
                let q = match b.get(j) {
                    Some(&q @ (b'"' | b'\'')) => {
                        j += 1;
                        Some(q)
                    }
                    _ => None,
                };
                let s = j;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                if j > s {
                    let name = text[s..j].to_string();
                    if let Some(q) = q {
                        if b.get(j) == Some(&q) {
                            j += 1;
                        }
                    }
                    out.push((name, q.is_none(), strip));
                    i = j;
                    continue;
                }
            }
            None => {}
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Dockerfile {
        parse("Dockerfile", s).unwrap()
    }

    #[test]
    fn continuations_and_comments() {
        let d = p(
            "FROM busybox\n# a comment\nRUN echo a \\\n  # inside\n\n  && echo b\nCMD [\"sh\"]\n",
        );
        assert_eq!(d.instructions.len(), 3);
        let r = &d.instructions[1];
        assert_eq!(r.line, 3);
        assert_eq!(r.args, Args::Shell("echo a   && echo b".into()));
        assert_eq!(d.instructions[2].args, Args::Json(vec!["sh".into()]));
        assert_eq!(d.instructions[2].line, 7);
    }

    #[test]
    fn escape_directive() {
        let d =
            p("# escape=`\n# syntax=docker/dockerfile:1\nFROM x\nRUN dir c:\\ `\n  && echo hi\n");
        assert_eq!(d.directives.escape, '`');
        assert_eq!(d.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(
            d.instructions[1].args,
            Args::Shell("dir c:\\   && echo hi".into())
        );
        // A directive after an instruction is a comment.
        let d = p("FROM x\n# escape=`\nRUN a \\\nb\n");
        assert_eq!(d.directives.escape, '\\');
        assert_eq!(d.instructions[1].args, Args::Shell("a b".into()));
        let e = parse("Dockerfile", "# escape=x\nFROM a\n").unwrap_err();
        assert!(
            e.to_string().starts_with("Dockerfile:1: invalid escape"),
            "{e}"
        );
        let e = parse("Dockerfile", "# escape=`\n# escape=\\\nFROM a\n").unwrap_err();
        assert!(e.to_string().starts_with("Dockerfile:2: only one"), "{e}");
    }

    #[test]
    fn unknown_instruction_names_line() {
        let e = parse("Dockerfile", "FROM a\n\n\n\n\n\nRUNN x\n").unwrap_err();
        assert_eq!(e.to_string(), "Dockerfile:7: unknown instruction \"RUNN\"");
    }

    #[test]
    fn flags_and_json() {
        let d = p("FROM --platform=linux/amd64 busybox AS b\nCOPY --chown=1:2 --from=b [\"a b\", \"/c\"]\nRUN [\"echo\", 'bad json]\n");
        let f = &d.instructions[0];
        assert_eq!(f.flag("platform"), Some("linux/amd64"));
        assert_eq!(f.args, Args::Shell("busybox AS b".into()));
        let c = &d.instructions[1];
        assert_eq!(c.flag("chown"), Some("1:2"));
        assert_eq!(c.flag("from"), Some("b"));
        assert_eq!(c.args, Args::Json(vec!["a b".into(), "/c".into()]));
        // Invalid JSON falls back to shell form.
        assert!(matches!(d.instructions[2].args, Args::Shell(_)));
        // ENV values starting with -- are not flags.
        let d = p("ENV A --x\n");
        assert!(d.instructions[0].flags.is_empty());
    }

    #[test]
    fn heredocs() {
        let d = p("FROM x\nRUN <<EOF\necho hi\necho $A\nEOF\nCOPY <<-\"A\" <<B /dst/\n\tone\n\tA\ntwo\nB\nCMD x\n");
        let r = &d.instructions[1];
        assert_eq!(r.heredocs.len(), 1);
        assert_eq!(r.heredocs[0].body, "echo hi\necho $A\n");
        assert!(r.heredocs[0].expand);
        let c = &d.instructions[2];
        assert_eq!(c.heredocs[0].name, "A");
        assert_eq!(c.heredocs[0].body, "one\n");
        assert!(!c.heredocs[0].expand && c.heredocs[0].strip_tabs);
        assert_eq!(c.heredocs[1].body, "two\n");
        assert_eq!(d.instructions[3].keyword, "CMD");
        assert_eq!(d.instructions[3].line, 11);
        let e = parse("Dockerfile", "FROM x\nRUN <<EOF\necho\n").unwrap_err();
        assert!(e.to_string().contains("Dockerfile:2: heredoc <<EOF"), "{e}");
        // `<<` inside quotes is not a heredoc.
        assert!(heredoc_markers("echo '<<EOF'").is_empty());
    }
}
