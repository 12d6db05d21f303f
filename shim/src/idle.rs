//! What the shim gives back to the kernel each time its loop goes to sleep after work:
//! freed heap (a create or exec leaves a few hundred KiB of freed JSON and protobuf
//! buffers that glibc would keep) and the page-table entries of its own binary's code
//! and read-only data.
//!
//! A create touches most of the binary (libcontainer, serde, protobuf): ~2.8 MiB of
//! file pages stay mapped, and counted in the shim's RSS, until memory pressure makes
//! the kernel unmap them. Dropping the mappings early changes nothing else: the pages
//! stay in the page cache, once for all shims of the binary, and the next request maps
//! them back with minor faults (tens of µs for a whole create). Only mappings that hold
//! no anonymous (copied-on-write) page are dropped: for those, MADV_DONTNEED is exactly
//! "read the file again", never a loss of written data.

use std::io::BufRead;

pub struct Idle {
    /// Read-only mappings of our own binary without anonymous pages: (start, length).
    clean: Vec<(usize, usize)>,
}

impl Idle {
    /// Reads /proc/self/smaps once: the relocations of our binary are applied before
    /// `main`, so which mappings hold written pages is settled by now.
    pub fn new() -> Idle {
        let clean = std::fs::read_link("/proc/self/exe")
            .ok()
            .and_then(|exe| {
                let smaps = std::fs::File::open("/proc/self/smaps").ok()?;
                Some(clean_mappings(
                    std::io::BufReader::new(smaps).lines().map_while(Result::ok),
                    &exe.to_string_lossy(),
                ))
            })
            .unwrap_or_default();
        Idle { clean }
    }

    pub fn give_back(&self) {
        #[cfg(target_env = "gnu")]
        // SAFETY: malloc_trim only walks the allocator's own free lists.
        unsafe {
            libc::malloc_trim(0);
        }
        for &(start, len) in &self.clean {
            // SAFETY: a private, read-only file mapping without anonymous pages: dropping
            // its page-table entries makes later accesses read the same file bytes again.
            unsafe {
                libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
            }
        }
    }
}

/// From smaps text: the non-writable mappings of `exe` whose `Anonymous:` is 0 kB.
fn clean_mappings(lines: impl Iterator<Item = String>, exe: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in lines {
        if let Some(kb) = line.strip_prefix("Anonymous:") {
            if let Some(range) = current.take() {
                if kb.trim() == "0 kB" {
                    out.push(range);
                }
            }
            continue;
        }
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some((start, end)) = range.split_once('-') else {
            continue;
        };
        let (Ok(start), Ok(end)) = (
            usize::from_str_radix(start, 16),
            usize::from_str_radix(end, 16),
        ) else {
            continue;
        };
        let path = fields.nth(3);
        current = (path == Some(exe) && perms.starts_with('r') && !perms.contains('w'))
            .then_some((start, end - start));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_clean_read_only_mappings_of_the_binary() {
        let smaps = "\
5000-6000 r--p 00000000 08:01 42 /usr/bin/shim
Rss: 4 kB
Anonymous: 0 kB
6000-8000 r-xp 00001000 08:01 42 /usr/bin/shim
Anonymous: 0 kB
8000-9000 r--p 00003000 08:01 42 /usr/bin/shim
Anonymous: 4 kB
9000-a000 rw-p 00004000 08:01 42 /usr/bin/shim
Anonymous: 0 kB
b000-c000 r-xp 00000000 08:01 43 /usr/lib/other
Anonymous: 0 kB
d000-e000 rw-p 00000000 00:00 0 [heap]
Anonymous: 4 kB
";
        let got = clean_mappings(smaps.lines().map(String::from), "/usr/bin/shim");
        assert_eq!(got, vec![(0x5000, 0x1000), (0x6000, 0x2000)]);
    }

    #[test]
    fn our_own_text_is_found_and_survives_being_dropped() {
        let idle = Idle::new();
        assert!(!idle.clean.is_empty());
        idle.give_back();
        // Code and constants come back from the file after the drop, and the mappings
        // are still clean (nothing was turned into anonymous zero pages).
        assert_eq!(Idle::new().clean, idle.clean);
    }
}
