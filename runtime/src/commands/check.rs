//! `berth check`: lint a bundle against the runtime spec and this host; every problem on
//! one line (or as JSON), exit 0 when the bundle would run here, 1 otherwise.

use std::io::Write;
use std::path::PathBuf;

use libcontainer::check::{check_bundle_with, Report, Severity};

use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Path to the root of the bundle directory, defaults to the current directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// Output format: 'text' (one line per problem) or 'json'
    #[arg(short, long, default_value = "text", value_parser = ["text", "json"])]
    pub format: String,
}

pub fn run(g: &Globals, a: &CheckArgs) -> anyhow::Result<i32> {
    let report = check_bundle_with(&a.bundle, g.cgroup_driver);
    let text = if a.format == "json" {
        json(&report)?
    } else {
        text(&report)
    };
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(if report.would_run() { 0 } else { 1 })
}

/// `path: problem; hint` per finding (warnings marked), then a summary line.
fn text(report: &Report) -> String {
    let mut s = String::new();
    for f in &report.findings {
        if f.severity == Severity::Warning {
            s.push_str("warning: ");
        }
        s.push_str(&format!("{}: {}; {}\n", f.path, f.problem, f.hint));
    }
    let (errors, warnings) = (report.errors(), report.warnings());
    let verdict = if report.would_run() {
        "the bundle would run here"
    } else {
        "the bundle would not run here"
    };
    s.push_str(&format!(
        "{errors} error{}, {warnings} warning{}: {verdict}\n",
        plural(errors),
        plural(warnings)
    ));
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn json(report: &Report) -> anyhow::Result<String> {
    let doc = serde_json::json!({
        "wouldRun": report.would_run(),
        "errors": report.errors(),
        "warnings": report.warnings(),
        "findings": report.findings,
    });
    Ok(serde_json::to_string_pretty(&doc)? + "\n")
}
