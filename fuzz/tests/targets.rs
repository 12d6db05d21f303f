//! Every fuzz target as an ordinary test, so the targets run on stable without
//! cargo-fuzz: first the saved regressions (`regressions/<target>/`: inputs that once
//! crashed), then the corpus (`corpus/<target>/`) and mutants of it for a bounded time.
//!
//! `FUZZ_SECONDS` (default 2) is the budget per target, `FUZZ_SEED` the PRNG seed
//! (default: the time). Crashers are written to `artifacts/<target>/` and fail the test.

use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_fuzz::{mutate, read_dir_files, Target, TARGETS};

fn dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(kind)
        .join(target)
}

fn budget() -> Duration {
    let secs = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(2.0);
    Duration::from_secs_f64(secs)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

fn fuzz(name: &str) {
    let target: Target = TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, t)| *t)
        .expect("known target");
    // Regressions: each must run without a panic (accepted or refused, either is fine).
    for (file, data) in read_dir_files(&dir("regressions", name)) {
        let report = mutate::run(target, &[data], Duration::from_secs(10), 1, 1);
        assert!(
            report.crashes.is_empty(),
            "{name}: regression {file} panics again: {:?}",
            report.crashes[0].1
        );
    }
    let seeds: Vec<Vec<u8>> = read_dir_files(&dir("corpus", name))
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert!(!seeds.is_empty(), "{name}: empty corpus");
    let seed = seed();
    let report = mutate::run(target, &seeds, budget(), u64::MAX, seed);
    eprintln!(
        "fuzz {name}: {} executions ({} accepted) in {:.1?}, seed {seed}, {} crashes",
        report.executions,
        report.accepted,
        report.elapsed,
        report.crashes.len()
    );
    if !report.crashes.is_empty() {
        let out = dir("artifacts", name);
        std::fs::create_dir_all(&out).unwrap();
        let mut saved = Vec::new();
        for (i, (input, msg)) in report.crashes.iter().enumerate() {
            let path = out.join(format!("crash-{seed}-{i}"));
            std::fs::write(&path, input).unwrap();
            saved.push(format!("{} ({msg})", path.display()));
        }
        panic!(
            "{name}: {} crashing inputs:\n{}",
            saved.len(),
            saved.join("\n")
        );
    }
}

#[test]
fn config() {
    fuzz("config");
}

#[test]
fn process() {
    fuzz("process");
}

#[test]
fn seccomp() {
    fuzz("seccomp");
}

#[test]
fn state() {
    fuzz("state");
}

#[test]
fn image() {
    fuzz("image");
}

#[test]
fn dockerfile() {
    fuzz("dockerfile");
}
