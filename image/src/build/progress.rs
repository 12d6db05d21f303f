//! Build progress on stderr: `Step N/M : INSTRUCTION`, then `CACHED` or the step's time.
//! On a terminal the step lines are bold and CACHED is coloured; otherwise plain text.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use crate::util::human_bytes;

pub struct Progress {
    tty: bool,
    total: usize,
    n: usize,
    started: Option<Instant>,
    pub hits: usize,
    pub misses: usize,
    /// Layers this build made (not taken from the cache), and their compressed bytes.
    pub layers: usize,
    pub layer_bytes: u64,
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
            layers: 0,
            layer_bytes: 0,
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
        self.finish_step("");
    }

    /// A step that made a layer of `bytes` (compressed): its size and how fast the step
    /// produced it.
    pub fn done_layer(&mut self, bytes: u64) {
        self.misses += 1;
        self.layers += 1;
        self.layer_bytes += bytes;
        let secs = self.elapsed();
        let rate = if secs > 0.0 {
            (bytes as f64 / secs) as u64
        } else {
            0
        };
        self.finish_step(&format!(
            ", layer {} ({}/s)",
            human_bytes(bytes),
            human_bytes(rate)
        ));
    }

    fn elapsed(&self) -> f64 {
        self.started
            .map(|s| s.elapsed().as_secs_f64())
            .unwrap_or(0.0)
    }

    fn finish_step(&self, layer: &str) {
        if self.quiet {
            return;
        }
        let t = self.elapsed();
        if self.tty {
            eprintln!(" \x1b[32mDONE\x1b[0m {t:.1}s{layer}");
        } else {
            eprintln!(" ---> done {t:.1}s{layer}");
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
