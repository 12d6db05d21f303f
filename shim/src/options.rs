//! The runtime options containerd passes with CreateTask: the runc shim's `Options`
//! (`SystemdCgroup`, `NoPivotRoot`, `NoNewKeyring`), which containerd 1.6 to 2.x send
//! for a runtime configured with runc's option type, as Docker and the CRI plugin do.

use containerd_shim_protos::shim::oci::Options;
use std::path::Path;

use libcontainer::{CgroupDriver, CreateOptions};
use protobuf::well_known_types::any::Any;
use protobuf::Message;

/// Reads `any` when it holds runc's options (other types are ignored, as runc's shim
/// ignores them); an undecodable runc `Options` is an error.
pub fn decode(any: &Any) -> Result<Option<Options>, String> {
    if any.type_url.is_empty() || !any.type_url.ends_with("runc.v1.Options") {
        return Ok(None);
    }
    Options::parse_from_bytes(&any.value)
        .map(Some)
        .map_err(|e| format!("decode runtime options {}: {e}", any.type_url))
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
}
