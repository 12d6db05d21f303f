//! Build progress on stderr: `Step N/M : INSTRUCTION`, then `CACHED` or the step's time.
//! On a terminal the step lines are bold and CACHED is coloured; otherwise plain text.

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    tty: bool,
    total: usize,
    n: usize,
    started: Option<Instant>,
    pub hits: usize,
    pub misses: usize,
    quiet: bool,
}

impl Progress {
    pub fn new(total: usize, quiet: bool) -> Progress {
        Progress {
            tty: std::io::stderr().is_terminal(),
            total,
            n: 0,
            started: None,
            hits: 0,
            misses: 0,
            quiet,
        }
    }

    pub fn step(&mut self, stage: &str, text: &str) {
        self.n += 1;
        self.started = Some(Instant::now());
        if self.quiet {
            return;
        }
        let text: String = text.chars().take(200).collect();
        let mut e = std::io::stderr().lock();
        if self.tty {
            let _ = writeln!(
                e,
                "\x1b[1m[{stage} {}/{}] {text}\x1b[0m",
                self.n, self.total
            );
        } else {
            let _ = writeln!(e, "Step {}/{} : {text}", self.n, self.total);
        }
    }

    pub fn cached(&mut self) {
        self.hits += 1;
        if self.quiet {
            return;
        }
        if self.tty {
            eprintln!(" \x1b[34mCACHED\x1b[0m");
        } else {
            eprintln!(" ---> CACHED");
        }
    }

    pub fn done(&mut self, counted: bool) {
        if counted {
            self.misses += 1;
        }
        if self.quiet {
            return;
        }
        let t = self
            .started
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0);
        if self.tty {
            eprintln!(" \x1b[32mDONE\x1b[0m {t:.1}s");
        } else {
            eprintln!(" ---> done {t:.1}s");
        }
    }

    pub fn add_total(&mut self, n: usize) {
        self.total += n;
    }

    pub fn note(&self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }
}
