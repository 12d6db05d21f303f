//! Variable expansion as Docker's builder does it for FROM, COPY, ADD, ENV, ARG, LABEL,
//! WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL: `$VAR`, `${VAR}`, `${VAR:-word}`,
//! `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}`; single quotes are literal,
//! double quotes group, the escape character quotes the next character. RUN, CMD and
//! ENTRYPOINT are not expanded here: their shell does it.

/// Look up a variable; None when unset.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Expand and remove quotes; the result is one word (whitespace kept).
pub fn word(s: &str, esc: char, env: Lookup) -> Result<String, String> {
    Ok(Lexer::new(s, esc, env, false).run()?.concat())
}

/// Expand, remove quotes and split on unquoted whitespace (also inside unquoted
/// expansions), as the builder does for ENV/LABEL/ARG pairs and COPY sources.
pub fn words(s: &str, esc: char, env: Lookup) -> Result<Vec<String>, String> {
    Lexer::new(s, esc, env, true).run()
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    esc: char,
    env: Lookup<'a>,
    split: bool,
    words: Vec<String>,
    cur: String,
    /// The current word has content (possibly empty quotes: `""` is a word).
    started: bool,
}

impl<'a> Lexer<'a> {
    fn new(s: &str, esc: char, env: Lookup<'a>, split: bool) -> Self {
        Lexer {
            chars: s.chars().collect(),
            pos: 0,
            esc,
            env,
            split,
            words: Vec::new(),
            cur: String::new(),
            started: false,
        }
    }

    fn run(mut self) -> Result<Vec<String>, String> {
        while let Some(c) = self.next() {
            if c == self.esc {
                match self.next() {
                    Some(n) => self.push(n),
                    None => self.push(c),
                }
            } else if c == '\'' {
                self.started = true;
                loop {
                    match self.next() {
                        Some('\'') => break,
                        Some(n) => self.cur.push(n),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            } else if c == '"' {
                self.started = true;
                loop {
                    match self.next() {
                        Some('"') => break,
                        Some('$') => {
                            let v = self.dollar()?;
                            self.cur.push_str(&v);
                        }
                        Some(n) if n == self.esc => match self.next() {
                            Some(m @ ('"' | '$')) => self.cur.push(m),
                            Some(m) if m == self.esc => self.cur.push(m),
                            Some(m) => {
                                self.cur.push(n);
                                self.cur.push(m);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(n) => self.cur.push(n),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            } else if c == '$' {
                let v = self.dollar()?;
                for ch in v.chars() {
                    self.push_split(ch);
                }
            } else {
                self.push_split(c);
            }
        }
        self.end_word();
        if !self.split {
            return Ok(vec![self.words.concat()]);
        }
        Ok(self.words)
    }

    fn next(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn push(&mut self, c: char) {
        self.started = true;
        self.cur.push(c);
    }

    fn push_split(&mut self, c: char) {
        if self.split && c.is_whitespace() {
            self.end_word();
        } else {
            self.push(c);
        }
    }

    fn end_word(&mut self) {
        if self.started || !self.cur.is_empty() {
            self.words.push(std::mem::take(&mut self.cur));
        }
        self.started = false;
    }

    /// After a `$`: the expansion (or a literal `$`).
    fn dollar(&mut self) -> Result<String, String> {
        match self.peek() {
            Some('{') => {
                self.pos += 1;
                self.braced()
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let name = self.name();
                Ok((self.env)(&name).unwrap_or_default())
            }
            _ => Ok("$".into()),
        }
    }

    fn name(&mut self) -> String {
        let mut n = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                n.push(c);
                self.pos += 1;
            } else {
                break;
            }
        }
        n
    }

    fn braced(&mut self) -> Result<String, String> {
        let name = self.name();
        if name.is_empty() {
            return Err("bad substitution: missing variable name in ${}".into());
        }
        let value = (self.env)(&name);
        let colon = self.peek() == Some(':');
        if colon {
            self.pos += 1;
        }
        let op = match self.next() {
            Some('}') if !colon => return Ok(value.unwrap_or_default()),
            Some(op @ ('-' | '+' | '?')) => op,
            Some(c) => return Err(format!("unsupported modifier ({c}) in substitution")),
            None => return Err(format!("missing '}}' in ${{{name}")),
        };
        let raw = self.until_close(&name)?;
        // The word is itself expanded (nested `${...}` allowed), without splitting.
        let (esc, env) = (self.esc, self.env);
        let expand = |s: &str| -> Result<String, String> {
            Ok(Lexer::new(s, esc, env, false).run()?.concat())
        };
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        match op {
            '-' if set => Ok(value.unwrap_or_default()),
            '-' => expand(&raw),
            '+' if set => expand(&raw),
            '+' => Ok(String::new()),
            _ if set => Ok(value.unwrap_or_default()),
            _ => {
                let msg = expand(&raw)?;
                Err(format!(
                    "{name}: {}",
                    if msg.is_empty() {
                        "is not allowed to be unset"
                    } else {
                        &msg
                    }
                ))
            }
        }
    }

    /// The raw text up to the matching `}` (consumed).
    fn until_close(&mut self, name: &str) -> Result<String, String> {
        let mut depth = 0;
        let mut out = String::new();
        while let Some(c) = self.next() {
            if c == self.esc {
                out.push(c);
                if let Some(n) = self.next() {
                    out.push(n);
                }
                continue;
            }
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => return Ok(out),
                '}' => depth -= 1,
                _ => {}
            }
            out.push(c);
        }
        Err(format!("missing '}}' in ${{{name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "A" => Some("a".into()),
            "E" => Some(String::new()),
            "SP" => Some("x y".into()),
            _ => None,
        }
    }

    fn w(s: &str) -> String {
        word(s, '\\', &env).unwrap()
    }
    fn ws(s: &str) -> Vec<String> {
        words(s, '\\', &env).unwrap()
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(w("$A-${A}_$Bz"), "a-a_");
        assert_eq!(w("${A}b"), "ab");
        assert_eq!(w("cost $5 and $"), "cost $5 and $");
        assert_eq!(w("\\$A"), "$A");
        assert_eq!(w("'$A'"), "$A");
        assert_eq!(w("\"$A b\""), "a b");
    }

    #[test]
    fn modifiers() {
        assert_eq!(w("${U:-def}"), "def");
        assert_eq!(w("${E:-def}"), "def");
        assert_eq!(w("${E-def}"), "");
        assert_eq!(w("${A:-def}"), "a");
        assert_eq!(w("${A:+alt}"), "alt");
        assert_eq!(w("${E:+alt}"), "");
        assert_eq!(w("${E+alt}"), "alt");
        assert_eq!(w("${U:+alt}"), "");
        assert_eq!(w("${U:-${A}x}"), "ax");
        assert_eq!(w("${U:-{b}}"), "{b}");
        assert!(word("${U:?must be set}", '\\', &env)
            .unwrap_err()
            .contains("must be set"));
        assert!(word("${A", '\\', &env).is_err());
        assert!(word("${A:x}", '\\', &env).is_err());
    }

    #[test]
    fn splitting() {
        assert_eq!(ws("A=\"x y\" B=$SP"), vec!["A=x y", "B=x", "y"]);
        assert_eq!(ws("a  b\\ c ''"), vec!["a", "b c", ""]);
        assert_eq!(ws("K='it''s' L=\"$SP\""), vec!["K=its", "L=x y"]);
        assert_eq!(words("a` b", '`', &env).unwrap(), vec!["a b"]);
    }
}
