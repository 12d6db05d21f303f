//! Fuzz targets for Berth's parsers of untrusted input, and a small mutation fuzzer so
//! that they also run on stable as ordinary tests (`tests/targets.rs`).
//!
//! Each target takes arbitrary bytes and returns whether the input was accepted; any
//! error is fine, a panic is a bug (release builds abort on panic: a crash).

pub mod mutate;

use std::path::Path;

/// A named target.
pub type Target = fn(&[u8]) -> bool;

/// Every target, by the name of its corpus directory and `cargo fuzz` binary.
pub const TARGETS: &[(&str, Target)] = &[
    ("config", config),
    ("process", process),
    ("seccomp", seccomp),
    ("state", state),
    ("image", image),
    ("dockerfile", dockerfile),
];

/// `config.json`: parse, validate, namespaces, seccomp, device cgroup program.
pub fn config(data: &[u8]) -> bool {
    libcontainer::fuzzing::config(data)
}

/// `process.json` (`berth exec --process`).
pub fn process(data: &[u8]) -> bool {
    libcontainer::fuzzing::process(data)
}

/// `linux.seccomp` translated to BPF.
pub fn seccomp(data: &[u8]) -> bool {
    libcontainer::fuzzing::seccomp(data)
}

/// A container's `state.json`.
pub fn state(data: &[u8]) -> bool {
    libcontainer::fuzzing::state(data)
}

/// What an image brings: manifest, index and config documents, an image reference, a
/// platform string, and `USER` resolved against the image's /etc/passwd and /etc/group.
/// The input is split on NUL bytes into those strings.
pub fn image(data: &[u8]) -> bool {
    use berth_image::oci::{self, ImageConfig, Index, Manifest};
    let mut ok = false;
    ok |= oci::parse::<Manifest>("manifest", data).is_ok();
    ok |= oci::parse::<Index>("index", data).is_ok();
    ok |= oci::parse::<ImageConfig>("config", data).is_ok();
    ok |= oci::sniff_media_type(data).is_some();
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let first = parts.next().unwrap_or_default();
    ok |= berth_image::Reference::parse(first).is_ok();
    ok |= oci::Platform::parse(first).is_ok();
    let passwd = parts.next().unwrap_or_default();
    let group = parts.next().unwrap_or_default();
    ok |= berth_image::bundle::user::resolve_from(first, passwd, group).is_ok();
    ok
}

/// A Dockerfile (`berth-image build`): directives, continuations, heredocs, flags,
/// JSON vs shell form; then what the parser offers on each instruction.
pub fn dockerfile(data: &[u8]) -> bool {
    use berth_image::build::parser;
    let text = String::from_utf8_lossy(data);
    let _ = parser::parse_json_array(&text);
    let _ = parser::heredoc_markers(&text);
    let Ok(file) = parser::parse("Dockerfile", &text) else {
        return false;
    };
    for ins in &file.instructions {
        let _ = ins.text();
    }
    true
}

/// Files of `dir` (a corpus or regression directory), sorted by name; none if missing.
pub fn read_dir_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.path().is_file())
                .filter_map(|e| {
                    let data = std::fs::read(e.path()).ok()?;
                    Some((e.file_name().to_string_lossy().into_owned(), data))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}
