//! Path globs for COPY sources and `.dockerignore`: `*` and `?` within one path
//! component, `[a-z]` / `[!a]` classes, `\` escapes, and `**` for any number of components.

/// Does `pattern` match the whole of `path` (both `/`-separated, relative, clean)?
pub fn matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    let s: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match_parts(&p, &s)
}

fn match_parts(p: &[&str], s: &[&str]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((&"**", rest)) => (0..=s.len()).any(|i| match_parts(rest, &s[i..])),
        Some((first, rest)) => match s.split_first() {
            Some((name, srest)) => component(first, name) && match_parts(rest, srest),
            None => false,
        },
    }
}

/// Does one component pattern match one name?
pub fn component(pat: &str, name: &str) -> bool {
    let p: Vec<char> = pat.chars().collect();
    let n: Vec<char> = name.chars().collect();
    comp(&p, &n)
}

fn comp(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len()).any(|i| comp(&p[1..], &n[i..])),
        Some('?') => !n.is_empty() && comp(&p[1..], &n[1..]),
        Some('[') => {
            let Some(c) = n.first() else { return false };
            match class(&p[1..], *c) {
                Some((ok, used)) => ok && comp(&p[1 + used..], &n[1..]),
                None => n.first() == Some(&'[') && comp(&p[1..], &n[1..]),
            }
        }
        Some('\\') if p.len() > 1 => n.first() == Some(&p[1]) && comp(&p[2..], &n[1..]),
        Some(c) => n.first() == Some(c) && comp(&p[1..], &n[1..]),
    }
}

/// A `[...]` class after the `[`: (matched, chars used including `]`), None if unclosed.
fn class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 0;
    let negate = matches!(p.first(), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    while i < p.len() {
        if p[i] == ']' && !first {
            return Some((hit != negate, i + 1));
        }
        first = false;
        let lo = if p[i] == '\\' && i + 1 < p.len() {
            i += 1;
            p[i]
        } else {
            p[i]
        };
        if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
            if lo <= c && c <= p[i + 2] {
                hit = true;
            }
            i += 3;
        } else {
            if lo == c {
                hit = true;
            }
            i += 1;
        }
    }
    None
}

/// True when the pattern has glob characters.
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(matches("*.txt", "a.txt"));
        assert!(!matches("*.txt", "d/a.txt"));
        assert!(matches("d/*.txt", "d/a.txt"));
        assert!(matches("**/*.txt", "a.txt"));
        assert!(matches("**/*.txt", "x/y/a.txt"));
        assert!(matches("x/**", "x/y/z"));
        assert!(matches("x/**/z", "x/z"));
        assert!(matches("fi?e[0-9]", "file7"));
        assert!(!matches("file[!0-9]", "file7"));
        assert!(matches("a\\*", "a*"));
        assert!(!matches("a\\*", "ab"));
    }
}
