//! `berth check`: lints a bundle against the runtime spec and this host, and reports
//! every problem at once, each with the JSON path of the field it is about.
//!
//! Two kinds of checks feed one [`Report`]:
//! - the spec checks `create` itself runs (`spec::lint`, the same validators that make
//!   `create` fail at the first problem), so the two never drift apart;
//! - host checks for what `create` only learns from the kernel, one module per concern,
//!   each asking the code `create` uses where that code can answer without side
//!   effects (seccomp compilation, device rules, idmapped mounts, cgroup placement).
//!
//! Errors are what would make `create` (or `start`) fail; warnings are what Berth
//! accepts but quietly ignores, and never make a bundle fail the check.

mod cgroups;
mod hooks;
mod ids;
mod mounts;
mod namespaces;
mod process;
mod rootpath;
mod seccomp;
mod sysctl;

use std::path::Path;

use oci_spec::runtime::Spec;
use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The bundle would not run here.
    Error,
    /// Accepted, but probably not what was meant.
    Warning,
}

/// One problem: the field, what is wrong with it, and what would work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// JSON path of the field, e.g. `linux.resources.memory.limit`; `config.json` for
    /// the file as a whole.
    pub path: String,
    pub problem: String,
    pub hint: String,
    pub severity: Severity,
}

/// Everything `check` found, in the order the checks ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether the bundle would run here: no errors (warnings allowed).
    pub fn would_run(&self) -> bool {
        !self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    pub fn errors(&self) -> usize {
        self.count(Severity::Error)
    }

    pub fn warnings(&self) -> usize {
        self.count(Severity::Warning)
    }

    fn count(&self, severity: Severity) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == severity)
            .count()
    }

    pub(crate) fn error(
        &mut self,
        path: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Error, path.into(), problem.into(), hint.into());
    }

    pub(crate) fn warn(
        &mut self,
        path: impl Into<String>,
        problem: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Warning, path.into(), problem.into(), hint.into());
    }

    fn push(&mut self, severity: Severity, path: String, problem: String, hint: String) {
        self.findings.push(Finding {
            path,
            problem,
            hint,
            severity,
        });
    }
}

/// What the host checks get: the parsed spec and where things are.
pub(crate) struct Bundle<'a> {
    pub spec: &'a Spec,
    /// Absolute bundle directory (relative bind sources resolve from it, as in runc).
    pub dir: &'a Path,
    /// The rootfs, when it is a usable directory.
    pub rootfs: Option<&'a Path>,
    /// Who would make the cgroup (`--systemd-cgroup`), as `create` picks it.
    pub driver: crate::cgroups::Driver,
}

/// Checks the bundle in `bundle` against the spec and this host, for the cgroupfs driver.
pub fn check_bundle(bundle: &Path) -> Report {
    check_bundle_with(bundle, crate::cgroups::Driver::Cgroupfs)
}

/// [`check_bundle`] for the cgroup driver `create` would be given.
pub fn check_bundle_with(bundle: &Path, driver: crate::cgroups::Driver) -> Report {
    let linted = crate::spec::lint(bundle);
    let mut report = Report::default();
    for f in linted.findings {
        report.error(f.error.field(), f.error.problem(), f.hint);
    }
    let (Some(spec), Some(dir)) = (linted.spec.as_ref(), linted.bundle.as_deref()) else {
        return report;
    };
    let b = Bundle {
        spec,
        dir,
        rootfs: linted.rootfs.as_deref(),
        driver: crate::container::effective_driver(driver),
    };
    namespaces::check(&b, &mut report);
    ids::check(&b, &mut report);
    process::check(&b, &mut report);
    hooks::check(&b, &mut report);
    mounts::check(&b, &mut report);
    sysctl::check(&b, &mut report);
    cgroups::check(&b, &mut report);
    seccomp::check(&b, &mut report);
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_do_not_fail_a_bundle() {
        let mut r = Report::default();
        r.warn("a", "b", "c");
        assert!(r.would_run());
        r.error("a", "b", "c");
        assert!(!r.would_run());
        assert_eq!((r.errors(), r.warnings()), (1, 1));
    }

    #[test]
    fn a_missing_bundle_is_one_finding() {
        let r = check_bundle(Path::new("/nonexistent/bundle/for/check"));
        assert_eq!(r.findings.len(), 1, "{r:?}");
        assert_eq!(r.findings[0].path, "bundle");
        assert!(!r.would_run());
    }
}
