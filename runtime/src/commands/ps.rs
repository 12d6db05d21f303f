//! `berth ps`: the container's processes, as a pid list (json) or through ps(1).

use std::io::Write;
use std::process::Command;

use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// The container id
    pub id: String,
    /// Select one of: table or json
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Options passed to ps(1) for the table format (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

pub fn run(g: &Globals, a: &PsArgs) -> anyhow::Result<i32> {
    let container = super::load(&g.root, &a.id)?;
    let pids = container.processes()?;
    match a.format.as_str() {
        "json" => {
            writeln!(std::io::stdout(), "{}", serde_json::to_string(&pids)?)?;
        }
        "table" => {
            let args = if a.ps_args.is_empty() {
                vec!["-ef".to_string()]
            } else {
                a.ps_args.clone()
            };
            let out = Command::new("ps").args(&args).output()?;
            anyhow::ensure!(
                out.status.success(),
                "ps: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or_default();
            let pid_col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| anyhow::anyhow!("couldn't find PID field in ps output"))?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{header}")?;
            for line in lines {
                let pid: i32 = line
                    .split_whitespace()
                    .nth(pid_col)
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(-1);
                if pids.contains(&pid) {
                    writeln!(stdout, "{line}")?;
                }
            }
        }
        other => anyhow::bail!("invalid format option: {other}"),
    }
    Ok(0)
}
