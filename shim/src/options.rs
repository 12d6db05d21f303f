//! The runtime options containerd passes with CreateTask: the runc shim's `Options`
//! (`SystemdCgroup`, `NoPivotRoot`, `NoNewKeyring`), which containerd 1.6 to 2.x send
//! for a runtime configured with runc's option type, as Docker and the CRI plugin do.

use containerd_shim_protos::shim::oci::Options;
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
