//! `.dockerignore`: one pattern per line, `#` comments, `!` exceptions, `**`; the last
//! matching pattern wins, and a pattern that matches a directory excludes what is in it.

use super::glob;

#[derive(Clone, Debug, Default)]
pub struct Ignore {
    /// (pattern, is_exception)
    rules: Vec<(String, bool)>,
}

impl Ignore {
    pub fn parse(text: &str) -> Ignore {
        let mut rules = Vec::new();
        for l in text.lines() {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            let (pat, exc) = match l.strip_prefix('!') {
                Some(p) => (p.trim(), true),
                None => (l, false),
            };
            let pat = clean(pat);
            if pat.is_empty() {
                continue;
            }
            rules.push((pat, exc));
        }
        Ignore { rules }
    }

    /// Is the context-relative `path` excluded?
    pub fn excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let parts: Vec<&str> = path.split('/').collect();
        let mut out = false;
        for (pat, exc) in &self.rules {
            // The pattern matches the path or one of its parent directories.
            let hit = (1..=parts.len()).any(|n| glob::matches(pat, &parts[..n].join("/")));
            if hit {
                out = !exc;
            }
        }
        out
    }

    /// Could something under directory `dir` be re-included by an exception? Then the
    /// walk must descend even though `dir` itself is excluded.
    pub fn may_reinclude(&self, dir: &str) -> bool {
        let dir = clean(dir);
        self.rules
            .iter()
            .any(|(p, exc)| *exc && (p.starts_with(&format!("{dir}/")) || p.starts_with("**")))
    }
}

/// `./a//b/` → `a/b`; a leading `/` is dropped (patterns are relative to the context).
pub fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let i = Ignore::parse(
            "# comment\n*.log\n!keep.log\nbuild/\n**/*.tmp\nsecret\n/docs/*.md\n!docs/README.md\n",
        );
        assert!(i.excluded("a.log"));
        assert!(!i.excluded("keep.log"));
        assert!(!i.excluded("d/a.log"));
        assert!(i.excluded("build"));
        assert!(i.excluded("build/x/y"));
        assert!(i.excluded("x/y/z.tmp"));
        assert!(i.excluded("z.tmp"));
        assert!(i.excluded("secret/inner"));
        assert!(i.excluded("docs/a.md"));
        assert!(!i.excluded("docs/README.md"));
        assert!(!i.excluded("src/main.rs"));
        assert!(i.may_reinclude("docs"));
        assert!(!i.may_reinclude("build"));
    }
}
