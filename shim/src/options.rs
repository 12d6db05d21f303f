//! The runtime options containerd passes with CreateTask: the runc shim's `Options`
//! (`SystemdCgroup`, `NoPivotRoot`, `NoNewKeyring`), which containerd 1.6 to 2.x send
//! for a runtime configured with runc's option type, as Docker and the CRI plugin do.

use containerd_shim_protos::shim::oci::Options;
use std::path::Path;

use libcontainer::{CgroupDriver, CreateOptions};
use protobuf::well_known_types::any::Any;
use protobuf::Message;

/// Reads `any` when it holds runc's options, or the CRI plugin's generic
/// `runtimeoptions.v1.Options`, whose TOML body containerd 2 sends for a runtime type
/// other than runc's (`[...runtimes.berth.options] SystemdCgroup = true`). Other types
/// are ignored, as runc's shim ignores them; an undecodable one of these is an error.
pub fn decode(any: &Any) -> Result<Option<Options>, String> {
    let fail = |e: &dyn std::fmt::Display| format!("decode runtime options {}: {e}", any.type_url);
    if any.type_url.ends_with("runc.v1.Options") {
        return Options::parse_from_bytes(&any.value)
            .map(Some)
            .map_err(|e| fail(&e));
    }
    if any.type_url.ends_with("runtimeoptions.v1.Options") {
        let body = config_body(&any.value).map_err(|e| fail(&e))?;
        return Ok(Some(from_toml(&body)));
    }
    Ok(None)
}

/// Field 3 (`config_body`, bytes) of runtimeoptions.v1.Options; 1 (`type_url`) and 2
/// (`config_path`) are skipped. The message is generated nowhere we depend on.
fn config_body(bytes: &[u8]) -> protobuf::Result<String> {
    let mut input = protobuf::CodedInputStream::from_bytes(bytes);
    let mut body = String::new();
    while let Some(tag) = input.read_raw_tag_or_eof()? {
        if tag >> 3 == 3 && tag & 7 == 2 {
            body = String::from_utf8_lossy(&input.read_bytes()?).into_owned();
        } else {
            input.skip_field(
                protobuf::rt::WireType::new(tag & 7)
                    .unwrap_or(protobuf::rt::WireType::LengthDelimited),
            )?;
        }
    }
    Ok(body)
}

/// The runc option keys of a TOML options table, one `Key = value` per line (what
/// containerd writes back from its own config); unknown keys are left alone.
fn from_toml(body: &str) -> Options {
    let mut o = Options::new();
    for line in body.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
        let flag = value == "true";
        match key.trim().trim_matches(|c| c == '\'' || c == '"') {
            "SystemdCgroup" => o.systemd_cgroup = flag,
            "NoPivotRoot" => o.no_pivot_root = flag,
            "NoNewKeyring" => o.no_new_keyring = flag,
            _ => {}
        }
    }
    o
}

/// Applies the options berth acts on to a container's create options.
pub fn apply(opts: &Options, create: &mut CreateOptions) {
    create.no_pivot = opts.no_pivot_root;
    create.no_new_keyring = opts.no_new_keyring;
    if opts.systemd_cgroup {
        create.cgroup_driver = CgroupDriver::Systemd;
    }
}

/// Without `SystemdCgroup`, a `slice:prefix:name` cgroupsPath on a systemd host still
/// means the systemd driver: clients that hand such paths to a shim without runc's
/// options (Docker for a non-runc runtimeType, `ctr --cgroup`) mean nothing else, and the
/// cgroupfs driver refuses them.
pub fn systemd_path_on_systemd_host(bundle: &Path) -> bool {
    if !Path::new("/run/systemd/system").is_dir() {
        return false;
    }
    let Ok(text) = std::fs::read(bundle.join("config.json")) else {
        return false;
    };
    let Ok(config) = serde_json::from_slice::<serde_json::Value>(&text) else {
        return false;
    };
    config["linux"]["cgroupsPath"]
        .as_str()
        .is_some_and(|p| !p.starts_with('/') && p.split(':').count() == 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runc_options_are_read() {
        let mut o = Options::new();
        o.systemd_cgroup = true;
        o.no_pivot_root = true;
        let any = Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: o.write_to_bytes().unwrap(),
            ..Default::default()
        };
        let got = decode(&any).unwrap().unwrap();
        let mut create = CreateOptions::default();
        apply(&got, &mut create);
        assert_eq!(create.cgroup_driver, CgroupDriver::Systemd);
        assert!(create.no_pivot);
        assert!(decode(&Any::default()).unwrap().is_none());
        let garbage = Any {
            type_url: "type.googleapis.com/containerd.runc.v1.Options".into(),
            value: vec![0xff, 0xff],
            ..Default::default()
        };
        assert!(decode(&garbage).is_err());
    }

    #[test]
    fn cri_runtime_options_body_is_read() {
        // What containerd 2.1's CRI plugin sent in the modern-host VM.
        let mut value = vec![0x1a, 21];
        value.extend_from_slice(b"SystemdCgroup = true\n");
        let any = Any {
            type_url: "runtimeoptions.v1.Options".into(),
            value,
            ..Default::default()
        };
        let got = decode(&any).unwrap().unwrap();
        assert!(got.systemd_cgroup);
        assert!(!got.no_pivot_root);
    }
}
