//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not part of the
//! library's API). Each takes arbitrary bytes, runs one parser or translation the way the
//! runtime does, and returns whether the input was accepted. Errors are fine; a panic is
//! a bug.

use std::path::Path;

use oci_spec::runtime::{LinuxSeccomp, Spec};

/// `config.json`: parse, validate, plan namespaces, compile seccomp, build the device
/// cgroup program.
pub fn config(data: &[u8]) -> bool {
    let path = Path::new("config.json");
    let Ok(spec) = crate::spec::parse_json::<Spec>(path, data) else {
        return false;
    };
    if crate::spec::validate_spec_only(&spec).is_err() {
        return false;
    }
    if crate::namespaces::NamespacePlan::from_spec(&spec).is_err() {
        return false;
    }
    let linux = spec.linux().as_ref();
    if let Some(seccomp) = linux.and_then(|l| l.seccomp().as_ref()) {
        if crate::seccomp::Filter::compile(seccomp).is_err() {
            return false;
        }
    }
    match crate::cgroups::devices::rules_for_create(&spec) {
        Ok(rules) => drop(crate::cgroups::devices::bpf::program(&rules)),
        Err(_) => return false,
    }
    true
}

/// `process.json` for `exec --process`.
pub fn process(data: &[u8]) -> bool {
    crate::spec::parse_process(Path::new("process.json"), data).is_ok()
}

/// `linux.seccomp` on its own, translated to BPF for every architecture it names.
pub fn seccomp(data: &[u8]) -> bool {
    let Ok(seccomp) = crate::spec::parse_json::<LinuxSeccomp>(Path::new("seccomp"), data) else {
        return false;
    };
    crate::seccomp::Filter::compile(&seccomp).is_ok()
}

/// A container's `state.json`, as `list`, `state` and `delete` read it.
pub fn state(data: &[u8]) -> bool {
    crate::state::parse_record(Path::new("state.json"), data).is_ok()
}
