//! Placeholder until the cli branch lands.
use std::path::Path;
pub enum LogFormat {
    Text,
    Json,
}
pub fn init(_log: Option<&Path>, _format: LogFormat, _debug: bool) -> anyhow::Result<()> {
    Ok(())
}
pub fn fatal(msg: &str) -> ! {
    eprintln!("{msg}");
    std::process::exit(1)
}
