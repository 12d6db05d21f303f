//! `berth events`: the container's resource usage (`--stats` once, else every
//! `--interval`) and OOM notifications, one runc-shaped JSON object per line:
//! `{"type":"stats","id":..,"data":{..}}`, `{"type":"oom","id":..}`.
//! Unlike runc, the stream ends once the container has stopped.

use std::io::Write;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::bail;
use libcontainer::{OomEvent, Stats, Status};
use serde::Serialize;

use crate::Globals;

#[derive(clap::Args, Debug)]
pub struct EventsArgs {
    /// The container id
    pub id: String,
    /// Set the stats collection interval
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// Display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
}

/// runc's `types.Event`, fields in its order.
#[derive(Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Stats>,
}

pub fn run(g: &Globals, a: &EventsArgs) -> anyhow::Result<i32> {
    let container = super::load(&g.root, &a.id)?;
    if container.status() == Status::Stopped {
        bail!("container with id {} is not running", a.id);
    }
    let interval = parse_duration(&a.interval)?;
    let print = |event: Event| -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", serde_json::to_string(&event)?)?;
        out.flush()?;
        Ok(())
    };
    let stats_event = || -> anyhow::Result<Event> {
        Ok(Event {
            kind: "stats",
            id: &a.id,
            data: Some(container.stats()?),
        })
    };
    if a.stats {
        print(stats_event()?)?;
        return Ok(0);
    }
    let (tx, rx) = mpsc::channel();
    if let Ok(mut watcher) = container.oom_watcher() {
        std::thread::spawn(move || {
            while let Ok(OomEvent::Oom) = watcher.wait() {
                if tx.send(()).is_err() {
                    break;
                }
            }
        });
    }
    loop {
        match rx.recv_timeout(interval) {
            Ok(()) => print(Event {
                kind: "oom",
                id: &a.id,
                data: None,
            })?,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if container.status() == Status::Stopped {
                    return Ok(0);
                }
                match stats_event() {
                    Ok(event) => print(event)?,
                    Err(e) => log::error!("{e}"),
                }
            }
            // The watcher saw the cgroup go: the container is gone.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if container.status() == Status::Stopped {
                    return Ok(0);
                }
                std::thread::sleep(interval);
                if let Ok(event) = stats_event() {
                    print(event)?;
                }
            }
        }
    }
}

/// Go's time.ParseDuration for the common forms: `5s`, `100ms`, `1m30s`, `2h`.
fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let bad = || anyhow::anyhow!("time: invalid duration {text:?}");
    let mut total = 0f64;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..split].parse().map_err(|_| bad())?;
        rest = &rest[split..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let seconds = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        total += number * seconds;
        rest = &rest[unit_len..];
    }
    if total <= 0.0 {
        bail!("duration interval must be greater than 0");
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("100ms").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").is_err());
    }
}
