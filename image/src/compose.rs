//! Assemble an image (config + manifest) from layers already in the store.

use crate::digest::Digest;
use crate::error::Result;
use crate::layer::BuiltLayer;
use crate::oci::{self, Descriptor, ImageConfig, Manifest, Platform};
use crate::store::{Image, Store};

/// Write a new image: `base`'s layers (if any) + `layers`, with `config` (its rootfs and
/// platform are filled in here). Returns the manifest digest.
pub fn write_image(
    store: &Store,
    base: Option<&Image>,
    layers: &[BuiltLayer],
    mut config: ImageConfig,
    history: &str,
) -> Result<Digest> {
    let mut descs: Vec<Descriptor> = base.map(|b| b.manifest.layers.clone()).unwrap_or_default();
    let mut diff_ids = base
        .map(|b| b.config.rootfs.diff_ids.clone())
        .unwrap_or_default();
    for l in layers {
        descs.push(l.descriptor.clone());
        diff_ids.push(l.diff_id.clone());
    }
    config.rootfs.kind = "layers".into();
    config.rootfs.diff_ids = diff_ids;
    if config.os.is_empty() {
        let p = Platform::host();
        config.os = p.os;
        config.architecture = p.architecture;
    }
    let now = crate::util::rfc3339(crate::util::now_secs());
    config.created = Some(now.clone());
    config.history.push(serde_json::json!({
        "created": now,
        "created_by": history,
        "empty_layer": layers.is_empty(),
    }));
    let cbytes = oci::to_vec(&config);
    let cdigest = store.put_bytes(&cbytes, None)?;
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(oci::OCI_MANIFEST.into()),
        config: Descriptor::new(oci::OCI_CONFIG, cdigest, cbytes.len() as u64),
        layers: descs,
        annotations: Default::default(),
    };
    store.put_image(&manifest)
}
