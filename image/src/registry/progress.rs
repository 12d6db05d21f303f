//! What a pull or a push shows on stderr while it runs. On a terminal: one status line,
//! redrawn at most ten times a second (blobs done, bytes, rate). Otherwise: a plain line
//! per blob as it completes and a summary at the end, which logs can keep. Off with
//! `--quiet` (and for library callers, who do not ask for it).

use std::io::{self, IsTerminal, Read, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::digest::Digest;
use crate::util::human_bytes as human;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Off,
    Terminal,
    Lines,
}

/// The progress of one pull or push, shared by its download threads.
pub struct Transfer {
    verb: &'static str,
    what: String,
    mode: Mode,
    started: Instant,
    state: Mutex<State>,
}

struct State {
    blobs: usize,
    bytes: u64,
    blobs_done: usize,
    bytes_done: u64,
    drawn: Option<Instant>,
}

impl Transfer {
    /// `verb` is "pull" or "push"; `blobs` and `bytes` what is to be moved.
    pub fn new(verb: &'static str, what: &str, blobs: usize, bytes: u64, show: bool) -> Self {
        let mode = match (show, io::stderr().is_terminal()) {
            (false, _) => Mode::Off,
            (true, true) => Mode::Terminal,
            (true, false) => Mode::Lines,
        };
        Transfer {
            verb,
            what: what.to_string(),
            mode,
            started: Instant::now(),
            state: Mutex::new(State {
                blobs,
                bytes,
                blobs_done: 0,
                bytes_done: 0,
                drawn: None,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `n` more bytes went over the wire.
    pub fn add(&self, n: u64) {
        let mut s = self.state();
        s.bytes_done += n;
        if self.mode == Mode::Terminal
            && s.drawn
                .is_none_or(|t| t.elapsed() >= Duration::from_millis(100))
        {
            self.draw(&mut s);
        }
    }

    /// A blob of `size` bytes is in place; `note` says why nothing moved ("already
    /// there", "mounted"), and then its bytes leave the total.
    pub fn blob_done(&self, digest: &Digest, size: u64, note: Option<&str>) {
        let mut s = self.state();
        s.blobs_done += 1;
        if note.is_some() {
            s.bytes = s.bytes.saturating_sub(size);
        }
        match self.mode {
            Mode::Off => {}
            Mode::Terminal => self.draw(&mut s),
            Mode::Lines => {
                let how = note.map(|n| format!(", {n}")).unwrap_or_default();
                eprintln!(
                    "{} {}: {}{how} ({}/{})",
                    past(self.verb),
                    digest.short(),
                    human(size),
                    s.blobs_done,
                    s.blobs
                );
            }
        }
    }

    /// The closing line: what moved, in how long, how fast.
    pub fn finish(&self) {
        let mut s = self.state();
        match self.mode {
            Mode::Off => {}
            Mode::Terminal => {
                self.draw(&mut s);
                eprintln!();
            }
            Mode::Lines => eprintln!(
                "{} {}: {} blobs, {} in {:.2} s ({}/s)",
                past(self.verb),
                self.what,
                s.blobs_done,
                human(s.bytes_done),
                self.started.elapsed().as_secs_f64(),
                human(self.rate(&s))
            ),
        }
    }

    fn rate(&self, s: &State) -> u64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs > 0.0 {
            (s.bytes_done as f64 / secs) as u64
        } else {
            0
        }
    }

    fn draw(&self, s: &mut State) {
        s.drawn = Some(Instant::now());
        let mut e = io::stderr().lock();
        let _ = write!(
            e,
            "\r\x1b[K{} {}: {}/{} blobs, {} / {}, {}/s",
            self.verb,
            self.what,
            s.blobs_done,
            s.blobs,
            human(s.bytes_done.min(s.bytes)),
            human(s.bytes),
            human(self.rate(s))
        );
        let _ = e.flush();
    }
}

fn past(verb: &str) -> String {
    format!("{verb}ed")
}

/// A reader that tells a [`Transfer`] how many bytes it passed on.
pub struct Counting<'a, R> {
    pub inner: R,
    pub transfer: &'a Transfer,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.transfer.add(n as u64);
        Ok(n)
    }
}
