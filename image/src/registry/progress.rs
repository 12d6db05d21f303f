//! Progress lines for pulls and pushes, drawn only when stderr is a terminal.

use std::io::{self, IsTerminal, Read, Write};
use std::time::{Duration, Instant};

pub struct Progress<R> {
    inner: R,
    label: String,
    total: u64,
    done: u64,
    last: Instant,
    tty: bool,
}

impl<R> Progress<R> {
    pub fn new(inner: R, label: &str, total: u64) -> Self {
        Progress {
            inner,
            label: label.into(),
            total,
            done: 0,
            last: Instant::now(),
            tty: io::stderr().is_terminal(),
        }
    }
    fn draw(&mut self, end: bool) {
        if !self.tty || (!end && self.last.elapsed() < Duration::from_millis(100)) {
            return;
        }
        self.last = Instant::now();
        let pct = (self.done * 100).checked_div(self.total).unwrap_or(100);
        let bar = "=".repeat((pct / 5) as usize);
        let _ = write!(
            io::stderr(),
            "\r{}: [{bar:<20}] {:>3}% {}/{} kB",
            self.label,
            pct,
            self.done / 1024,
            self.total / 1024
        );
        if end {
            let _ = writeln!(io::stderr());
        }
    }
    pub fn finish(mut self) {
        self.draw(true);
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        self.draw(false);
        Ok(n)
    }
}
