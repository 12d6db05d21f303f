//! Why image/src/oci.rs keeps its own OCI image types instead of oci-spec's (`image`
//! feature): a document must survive a round trip through the store with every field,
//! and oci-spec's types drop what they do not name. `build` writes Docker's Healthcheck,
//! OnBuild and Shell into the config, and images from Docker carry container_config and
//! docker_version; rewritten through oci-spec (commit, tag-and-push, build FROM such an
//! image) they would be lost, and the config's digest would change. When oci-spec keeps
//! them, this test fails: then switch.

const DOCKER_CONFIG: &str = r##"{
  "architecture": "amd64",
  "os": "linux",
  "config": {
    "Cmd": ["sh"],
    "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5000000000},
    "OnBuild": ["RUN echo child"],
    "Shell": ["/bin/sh", "-e", "-c"],
    "ArgsEscaped": true
  },
  "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) CMD [\"sh\"]"]},
  "docker_version": "20.10.24",
  "rootfs": {"type": "layers", "diff_ids": []}
}"##;

const KEPT: [&str; 6] = [
    "Healthcheck",
    "OnBuild",
    "Shell",
    "ArgsEscaped",
    "container_config",
    "docker_version",
];

fn names_in(json: &str) -> Vec<&'static str> {
    KEPT.iter()
        .copied()
        .filter(|k| json.contains(&format!("\"{k}\"")))
        .collect()
}

#[test]
fn our_config_type_keeps_every_field() {
    let c: berth_image::oci::ImageConfig = serde_json::from_str(DOCKER_CONFIG).unwrap();
    assert_eq!(names_in(&serde_json::to_string(&c).unwrap()), KEPT);
}

#[test]
fn oci_spec_config_type_drops_fields_images_carry() {
    let c: oci_spec::image::ImageConfiguration = serde_json::from_str(DOCKER_CONFIG).unwrap();
    let out = serde_json::to_string(&c).unwrap();
    let lost: Vec<&str> = KEPT
        .iter()
        .copied()
        .filter(|k| !names_in(&out).contains(k))
        .collect();
    assert!(
        !lost.is_empty(),
        "oci-spec now keeps every field ({out}): image/src/oci.rs can use its types"
    );
    eprintln!("oci-spec's ImageConfiguration drops {lost:?}");
}
