//! A small mutation fuzzer for stable Rust: a seeded PRNG, byte-level and JSON-aware
//! mutations, and a loop that runs a target for a bounded time or number of inputs and
//! catches panics. Inputs the target accepts join the pool (a cheap stand-in for
//! coverage feedback), so mutations keep reaching past the parser into validation.

use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Target;

/// xorshift64*: deterministic for a given seed, so a failing run can be repeated.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that break parsers and validators: extremes, wrong types, path tricks.
fn interesting(rng: &mut Rng) -> Value {
    let strings = [
        "",
        "/",
        "..",
        "../../..",
        "/proc/self/fd/0",
        "a\u{0}b",
        "\u{fffd}",
        "-1",
        "1e20",
        "SCMP_ACT_NOTIFY",
        "SCMP_ARCH_X86",
        "user",
        "cgroup",
        "mount",
        "bind",
        "rbind,ro",
        "CAP_SYS_ADMIN",
        "RLIMIT_NOFILE",
        "1000:1000",
        "root:x:0:0::/:",
        "sha256:",
        "application/vnd.oci.image.index.v1+json",
        "linux/amd64/v9",
        "docker.io/a/b:c@sha256:0",
    ];
    match rng.below(14) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => serde_json::json!(-1),
        3 => serde_json::json!(i64::MIN),
        4 => serde_json::json!(u64::MAX),
        5 => serde_json::json!(1e20),
        6 => serde_json::json!(0),
        7 => serde_json::json!(4294967296u64),
        8 => serde_json::json!([]),
        9 => serde_json::json!({}),
        10 => Value::String("A".repeat(rng.below(5000))),
        11 => serde_json::json!(rng.next() as i64),
        12 => serde_json::json!([strings[rng.below(strings.len())]]),
        _ => Value::String(strings[rng.below(strings.len())].to_string()),
    }
}

/// Picks a random node of `v` and changes it (replace, delete a key, duplicate an
/// array element, or retype).
fn mutate_json(v: &mut Value, rng: &mut Rng, depth: usize) {
    let descend = depth < 12 && rng.below(4) != 0;
    match v {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys[rng.below(keys.len())].clone();
            if descend {
                if let Some(child) = map.get_mut(&key) {
                    mutate_json(child, rng, depth + 1);
                }
            } else if rng.below(3) == 0 {
                map.remove(&key);
            } else {
                map.insert(key, interesting(rng));
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len());
            if descend {
                mutate_json(&mut items[i], rng, depth + 1);
            } else if rng.below(3) == 0 {
                let copy = items[i].clone();
                let n = 1 + rng.below(64);
                for _ in 0..n {
                    items.push(copy.clone());
                }
            } else {
                items[i] = interesting(rng);
            }
        }
        _ => *v = interesting(rng),
    }
}

/// One mutant of `input`, sometimes spliced with `other`.
pub fn mutate(input: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    if rng.below(3) != 0 {
        if let Ok(mut v) = serde_json::from_slice::<Value>(input) {
            for _ in 0..1 + rng.below(3) {
                mutate_json(&mut v, rng, 0);
            }
            return serde_json::to_vec(&v).unwrap_or_default();
        }
    }
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len + 1);
                let b = [
                    b'"', b'{', b'}', b'[', b']', b',', b':', b'0', b'\\', 0xff, 0,
                ][rng.below(11)];
                out.insert(i, b);
            }
            2 if len > 0 => {
                let i = rng.below(len);
                let n = rng.below(len - i + 1).min(64);
                out.drain(i..i + n);
            }
            3 if len > 0 => out.truncate(rng.below(len)),
            4 if !other.is_empty() => {
                let i = rng.below(len + 1);
                let j = rng.below(other.len());
                let n = rng.below(other.len() - j + 1);
                out.splice(i..i, other[j..j + n].iter().copied());
            }
            5 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next() as u8;
            }
            _ => {
                let i = rng.below(len + 1);
                out.splice(i..i, b"\x00".iter().copied());
            }
        }
    }
    out
}

/// What a bounded run did.
#[derive(Debug, Default)]
pub struct Report {
    pub executions: u64,
    pub accepted: u64,
    pub elapsed: Duration,
    /// Inputs that made the target panic, with the panic message.
    pub crashes: Vec<(Vec<u8>, String)>,
}

/// Runs `target` on every seed, then on mutants until `budget` passes or `max_execs`
/// inputs have run. Panics are caught and recorded (the fuzz crate builds with unwind).
pub fn run(
    target: Target,
    seeds: &[Vec<u8>],
    budget: Duration,
    max_execs: u64,
    seed: u64,
) -> Report {
    let start = Instant::now();
    let mut rng = Rng::new(seed);
    let mut pool: Vec<Vec<u8>> = seeds.to_vec();
    if pool.is_empty() {
        pool.push(b"{}".to_vec());
    }
    let mut report = Report::default();
    let hook = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let mut queue: Vec<Vec<u8>> = seeds.to_vec();
    while report.executions < max_execs && start.elapsed() < budget {
        let input = queue.pop().unwrap_or_else(|| {
            let a = &pool[rng.below(pool.len())];
            let b = &pool[rng.below(pool.len())];
            mutate(a, b, &mut rng)
        });
        report.executions += 1;
        match panic::catch_unwind(AssertUnwindSafe(|| target(&input))) {
            Ok(true) => {
                report.accepted += 1;
                if pool.len() < 512 {
                    pool.push(input);
                } else {
                    let i = rng.below(pool.len());
                    pool[i] = input;
                }
            }
            Ok(false) => {}
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                if report.crashes.len() < 16 {
                    report.crashes.push((input, msg));
                }
            }
        }
    }
    panic::set_hook(hook);
    report.elapsed = start.elapsed();
    report
}
