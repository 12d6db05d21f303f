//! `berth list`: the containers under the state root, as a table or JSON.

use std::io::Write;

use libcontainer::{Container, State};

use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Select one of: table or json
    #[arg(short, long, default_value = "table")]
    pub format: String,
    /// Display only container IDs
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(g: &Globals, a: &ListArgs) -> anyhow::Result<i32> {
    let containers = Container::list(&g.root)?;
    let mut out = std::io::stdout().lock();
    if a.quiet {
        for c in &containers {
            writeln!(out, "{}", c.id())?;
        }
        return Ok(0);
    }
    let rows: Vec<(State, String)> = containers
        .iter()
        .map(|c| (c.state(), owner_name(c.owner_uid())))
        .collect();
    match a.format.as_str() {
        "table" => write_table(&mut out, &rows)?,
        "json" => {
            // runc prints `null` for no containers (a nil Go slice), and each state's
            // fields in its struct's order, the owner's name last.
            let list: Vec<State> = rows
                .iter()
                .map(|(s, owner)| State {
                    owner: owner.clone(),
                    ..s.clone()
                })
                .collect();
            if list.is_empty() {
                writeln!(out, "null")?;
            } else {
                writeln!(out, "{}", serde_json::to_string(&list)?)?;
            }
        }
        other => anyhow::bail!("invalid format option: {other}"),
    }
    Ok(0)
}

/// Go's tabwriter as runc uses it: min width 12, padding 3, columns as wide as their
/// widest cell.
fn write_table(out: &mut impl Write, rows: &[(State, String)]) -> std::io::Result<()> {
    let header = ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
        .map(String::from)
        .to_vec();
    let mut table = vec![header];
    for (s, owner) in rows {
        table.push(vec![
            s.id.clone(),
            s.pid.to_string(),
            s.status.to_string(),
            s.bundle.display().to_string(),
            s.created.clone(),
            owner.clone(),
        ]);
    }
    let cols = table[0].len();
    let widths: Vec<usize> = (0..cols - 1)
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    for row in &table {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 < cols {
                line.push_str(&format!("{cell:<width$}", width = widths[c]));
            } else {
                line.push_str(cell);
            }
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn owner_name(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() > 2 && f[2].parse::<u32>() == Ok(uid)).then(|| f[0].to_string())
            })
        })
        .unwrap_or_else(|| format!("#{uid}"))
}
