//! `-info` and `-version`. containerd 2.x runs the shim with `-info`, the runtime
//! options (a protobuf Any, possibly empty) on stdin, and reads a RuntimeInfo protobuf
//! from stdout: our name and version, the options echoed back, and the OCI features of
//! the runtime (it checks idmapped-mount support there before it creates a container).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::Context;
use containerd_shim_protos::types::introspection::{RuntimeInfo, RuntimeVersion};
use protobuf::well_known_types::any::Any;
use protobuf::{Message, MessageField};

pub const RUNTIME_NAME: &str = "io.containerd.berth.v2";
/// The type URL containerd registers for runtime-spec's `features.Features` (JSON value).
const FEATURES_TYPE_URL: &str =
    "types.containerd.io/opencontainers/runtime-spec/1/features/Features";

pub fn run_info() -> anyhow::Result<()> {
    let mut options = Vec::new();
    std::io::stdin()
        .read_to_end(&mut options)
        .context("read the runtime options from stdin")?;
    let info = runtime_info(&options, berth_features())?;
    let bytes = info.write_to_bytes().context("encode RuntimeInfo")?;
    std::io::stdout()
        .write_all(&bytes)
        .context("write RuntimeInfo")?;
    Ok(())
}

pub fn run_version() -> anyhow::Result<()> {
    println!("containerd-shim-berth-v2:");
    println!("  Version:  {}", env!("CARGO_PKG_VERSION"));
    println!();
    Ok(())
}

/// RuntimeInfo for `options` (an encoded Any, or nothing) and the features JSON.
pub fn runtime_info(options: &[u8], features: Option<Vec<u8>>) -> anyhow::Result<RuntimeInfo> {
    let mut info = RuntimeInfo::new();
    info.name = RUNTIME_NAME.into();
    let mut version = RuntimeVersion::new();
    version.version = env!("CARGO_PKG_VERSION").into();
    info.version = MessageField::some(version);
    if !options.is_empty() {
        let any = Any::parse_from_bytes(options).context("decode the runtime options on stdin")?;
        info.options = MessageField::some(any);
    }
    if let Some(json) = features {
        let mut any = Any::new();
        any.type_url = FEATURES_TYPE_URL.into();
        any.value = json;
        info.features = MessageField::some(any);
    }
    Ok(info)
}

/// `berth features`: the shim runs libcontainer in-process, and what it supports is
/// what the `berth` beside it (or on PATH) reports. None when there is no such binary,
/// as runc-v2 leaves the features out for a runtime without the command.
fn berth_features() -> Option<Vec<u8>> {
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join("berth")))
        .filter(|p| p.is_file());
    let bin = beside.unwrap_or_else(|| PathBuf::from("berth"));
    let out = Command::new(bin)
        .arg("features")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let valid =
        out.status.success() && serde_json::from_slice::<serde_json::Value>(&out.stdout).is_ok();
    valid.then_some(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_decodes_as_runtime_info_with_options_and_features() {
        let mut opts = Any::new();
        opts.type_url = "containerd.runc.v1.Options".into();
        opts.value = vec![0x50, 0x01];
        let features = br#"{"ociVersionMin":"1.0.0"}"#.to_vec();
        let info = runtime_info(&opts.write_to_bytes().unwrap(), Some(features.clone())).unwrap();
        let back = RuntimeInfo::parse_from_bytes(&info.write_to_bytes().unwrap()).unwrap();
        assert_eq!(back.name, RUNTIME_NAME);
        assert_eq!(back.version.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(back.options.type_url, "containerd.runc.v1.Options");
        assert_eq!(back.features.type_url, FEATURES_TYPE_URL);
        assert_eq!(back.features.value, features);
    }

    #[test]
    fn no_options_no_features() {
        let info = runtime_info(&[], None).unwrap();
        assert!(info.options.is_none());
        assert!(info.features.is_none());
    }

    #[test]
    fn garbage_options_are_an_error() {
        assert!(runtime_info(&[0xff, 0xff, 0xff], None).is_err());
    }
}
