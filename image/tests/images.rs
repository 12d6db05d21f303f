//! Import/export round trips with the real tools (skopeo, umoci), docker-archive, the
//! store's bad-input handling, bundles and `run` through a runtime.

mod common;

use std::process::Command;

use common::*;

fn digest_of(root: &std::path::Path, name: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&ok(root, &["inspect", name])).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

#[test]
fn oci_layout_round_trip_all_compressions() {
    let a = Tmp::new("oci-a");
    let b = Tmp::new("oci-b");
    for c in ["gzip", "zstd", "none"] {
        let name = format!("bb-{c}:v1");
        busybox(a.path(), &name, c);
        let dir = a.path().join(format!("layout-{c}"));
        let tar = a.path().join(format!("layout-{c}.tar"));
        ok(
            a.path(),
            &[
                "export",
                "--format",
                "oci",
                "-o",
                dir.to_str().unwrap(),
                &name,
            ],
        );
        ok(
            a.path(),
            &[
                "export",
                "--format",
                "oci-archive",
                "-o",
                tar.to_str().unwrap(),
                &name,
            ],
        );
        ok(b.path(), &["import", dir.to_str().unwrap()]);
        assert_eq!(digest_of(a.path(), &name), digest_of(b.path(), &name));
        let c2 = Tmp::new("oci-c");
        ok(c2.path(), &["import", tar.to_str().unwrap(), "other"]);
        assert_eq!(digest_of(a.path(), &name), digest_of(c2.path(), "other:v1"));
        // And the image unpacks into a bundle.
        let bundle = c2.path().join("bundle");
        ok(c2.path(), &["bundle", "other:v1", bundle.to_str().unwrap()]);
        assert!(bundle.join("rootfs/bin/busybox").is_file());
    }
}

#[test]
fn docker_archive_round_trip() {
    let a = Tmp::new("da-a");
    busybox(a.path(), "bb:1", "zstd");
    let tar = a.path().join("save.tar");
    ok(a.path(), &["save", "-o", tar.to_str().unwrap(), "bb:1"]);
    let b = Tmp::new("da-b");
    let out = ok(b.path(), &["load", "-i", tar.to_str().unwrap()]);
    assert!(out.contains("bb:1"), "{out}");
    // Same config (image id); layers are stored uncompressed now, as docker save wrote them.
    let id = |root: &std::path::Path| {
        serde_json::from_str::<serde_json::Value>(&ok(root, &["inspect", "bb:1"])).unwrap()["Id"]
            .clone()
    };
    assert_eq!(id(a.path()), id(b.path()));
}

#[test]
fn skopeo_reads_ours_and_we_read_skopeos() {
    require!("skopeo");
    let a = Tmp::new("skopeo");
    busybox(a.path(), "bb:1", "gzip");
    let ours = a.path().join("ours");
    ok(
        a.path(),
        &[
            "export",
            "--format",
            "oci",
            "-o",
            ours.to_str().unwrap(),
            "bb:1",
        ],
    );
    let theirs = a.path().join("theirs");
    sh(Command::new("skopeo").args([
        "copy",
        &format!("oci:{}:1", ours.display()),
        &format!("oci:{}:v2", theirs.display()),
    ]));
    // docker-archive through skopeo both ways (skopeo's reader is podman load's).
    let saved = a.path().join("saved.tar");
    ok(a.path(), &["save", "-o", saved.to_str().unwrap(), "bb:1"]);
    let da = a.path().join("from-skopeo.tar");
    sh(Command::new("skopeo").args([
        "copy",
        &format!("docker-archive:{}", saved.display()),
        &format!("docker-archive:{}:skopeo/bb:v3", da.display()),
    ]));
    let b = Tmp::new("skopeo-b");
    ok(b.path(), &["import", theirs.to_str().unwrap(), "bb"]);
    ok(b.path(), &["load", "-i", da.to_str().unwrap()]);
    let images = ok(b.path(), &["images"]);
    assert!(
        images.contains("bb:v2") && images.contains("skopeo/bb:v3"),
        "{images}"
    );
    let bundle = b.path().join("bundle");
    ok(
        b.path(),
        &["bundle", "skopeo/bb:v3", bundle.to_str().unwrap()],
    );
    assert!(bundle.join("rootfs/bin/sh").exists());
}

#[test]
fn umoci_made_layer_imports() {
    require!("umoci");
    let a = Tmp::new("umoci");
    busybox(a.path(), "bb:1", "gzip");
    let layout = a.path().join("layout");
    ok(
        a.path(),
        &[
            "export",
            "--format",
            "oci",
            "-o",
            layout.to_str().unwrap(),
            "bb:1",
        ],
    );
    let bundle = a.path().join("ubundle");
    sh(Command::new("umoci").args([
        "unpack",
        "--image",
        &format!("{}:1", layout.display()),
        bundle.to_str().unwrap(),
    ]));
    std::fs::write(bundle.join("rootfs/etc/added"), "by umoci").unwrap();
    std::fs::remove_file(bundle.join("rootfs/etc/group")).unwrap();
    sh(Command::new("umoci").args([
        "repack",
        "--image",
        &format!("{}:2", layout.display()),
        bundle.to_str().unwrap(),
    ]));
    sh(Command::new("umoci").args([
        "config",
        "--image",
        &format!("{}:2", layout.display()),
        "--config.entrypoint=/bin/echo",
        "--config.cmd=from-umoci",
    ]));
    let b = Tmp::new("umoci-b");
    ok(b.path(), &["import", layout.to_str().unwrap(), "u"]);
    let out = ok(
        b.path(),
        &["bundle", "u:2", b.path().join("bun").to_str().unwrap()],
    );
    assert!(!out.is_empty());
    let root = b.path().join("bun/rootfs");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/added")).unwrap(),
        "by umoci"
    );
    assert!(!root.join("etc/group").exists(), "umoci's whiteout applied");
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(b.path().join("bun/config.json")).unwrap()).unwrap();
    assert_eq!(
        cfg["process"]["args"],
        serde_json::json!(["/bin/echo", "from-umoci"])
    );
}

#[test]
fn corrupt_blob_unknown_image_and_gc() {
    let a = Tmp::new("bad");
    busybox(a.path(), "bb:1", "gzip");
    let layout = a.path().join("layout");
    ok(
        a.path(),
        &[
            "export",
            "--format",
            "oci",
            "-o",
            layout.to_str().unwrap(),
            "bb:1",
        ],
    );
    // Flip a byte in the biggest blob (the layer).
    let blobs = layout.join("blobs/sha256");
    let big = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&big).unwrap();
    let n = bytes.len() / 2;
    bytes[n] ^= 0xff;
    std::fs::write(&big, bytes).unwrap();
    let b = Tmp::new("bad-b");
    let e = fails(b.path(), &["import", layout.to_str().unwrap(), "bb"]);
    assert!(e.contains("digest mismatch"), "{e}");
    assert!(
        !ok(b.path(), &["images"]).contains("bb"),
        "no half-written image is named"
    );
    assert!(fails(b.path(), &["inspect", "nosuch"]).contains("nosuch"));
    assert!(fails(b.path(), &["bundle", "nosuch", "/nonexistent-dir"]).contains("not found"));
    // A truncated archive.
    let tar = a.path().join("t.tar");
    ok(a.path(), &["save", "-o", tar.to_str().unwrap(), "bb:1"]);
    let len = std::fs::metadata(&tar).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&tar).unwrap();
    f.set_len(len / 2).unwrap();
    fails(b.path(), &["load", "-i", tar.to_str().unwrap()]);
    // gc: after rmi, the blobs go.
    ok(a.path(), &["tag", "bb:1", "keep:1"]);
    ok(a.path(), &["rmi", "bb:1"]);
    assert!(ok(a.path(), &["gc"]).contains("0 blobs removed"));
    ok(a.path(), &["rmi", "keep:1"]);
    assert!(ok(a.path(), &["gc"]).contains("3 blobs removed"));
}

/// The runtime to run containers with: berth when built next to us, else runc.
fn runtime() -> Option<String> {
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_berth-image"));
    let berth = exe.parent().unwrap().join("berth");
    if berth.is_file() && std::env::var_os("BERTH_IMAGE_TEST_RUNC").is_none() {
        return Some(berth.display().to_string());
    }
    have("runc").then(|| "runc".to_string())
}

#[test]
fn run_ps_commit_rm_volumes() {
    let Some(rt) = runtime() else {
        eprintln!("skipped: no berth or runc to run containers with");
        return;
    };
    let a = Tmp::new("run");
    busybox(a.path(), "bb:1", "gzip");
    let o = bi(
        a.path(),
        &[
            "run",
            "--runtime",
            &rt,
            "--rm",
            "-u",
            "user",
            "-w",
            "/tmp",
            "-e",
            "FOO=bar",
            "bb:1",
            "sh",
            "-c",
            "id -u; id -G; pwd; echo $FOO $HOME; exit 3",
        ],
    );
    assert_eq!(
        o.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(out, "1000\n1000 2000\n/tmp\nbar /home/user\n");
    assert!(!ok(a.path(), &["ps"]).contains("bb:1"), "--rm removed it");
    // A named container with a named volume; commit its changes.
    ok(a.path(), &["volume", "create", "data"]);
    let o = bi(
        a.path(),
        &[
            "run",
            "--runtime",
            &rt,
            "--name",
            "c1",
            "-v",
            "data:/data",
            "bb:1",
            "sh",
            "-c",
            "echo v > /data/x && echo new > /etc/new && rm /etc/group",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(ok(a.path(), &["ps"]).contains("c1"));
    assert_eq!(
        std::fs::read_to_string(a.path().join("volumes/data/_data/x")).unwrap(),
        "v\n"
    );
    ok(a.path(), &["commit", "c1", "bb:2"]);
    ok(a.path(), &["rm", "--runtime", &rt, "c1"]);
    assert!(!ok(a.path(), &["ps"]).contains("c1"));
    let bun = a.path().join("b2");
    ok(a.path(), &["bundle", "bb:2", bun.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(bun.join("rootfs/etc/new")).unwrap(),
        "new\n"
    );
    assert!(!bun.join("rootfs/etc/group").exists());
    assert!(
        !bun.join("rootfs/data/x").exists(),
        "volume content is not committed"
    );
    assert!(ok(a.path(), &["volume", "ls"]).contains("data"));
    ok(a.path(), &["volume", "rm", "data"]);
    // --entrypoint "" with no command is an error.
    let e = fails(
        a.path(),
        &["run", "--runtime", &rt, "--entrypoint", "", "bb:1"],
    );
    assert!(e.contains("no command"), "{e}");
}

#[test]
fn multi_platform_index_picks_platform() {
    let a = Tmp::new("multi");
    busybox(a.path(), "one:1", "gzip");
    busybox(a.path(), "two:1", "zstd");
    let layout = a.path().join("layout");
    ok(
        a.path(),
        &[
            "export",
            "--format",
            "oci",
            "-o",
            layout.to_str().unwrap(),
            "one:1",
            "two:1",
        ],
    );
    let ip = layout.join("index.json");
    let idx: serde_json::Value = serde_json::from_slice(&std::fs::read(&ip).unwrap()).unwrap();
    let mut m = idx["manifests"].clone();
    m[0]["platform"] = serde_json::json!({"os": "linux", "architecture": "amd64"});
    m[1]["platform"] = serde_json::json!({"os": "linux", "architecture": "arm64", "variant": "v8"});
    for d in m.as_array_mut().unwrap() {
        d.as_object_mut().unwrap().remove("annotations");
    }
    let nested = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": m,
    }))
    .unwrap();
    let nd = berth_image::Digest::of(&nested);
    std::fs::write(layout.join("blobs/sha256").join(nd.hex()), &nested).unwrap();
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": nd.to_string(),
        "size": nested.len(), "annotations": {"org.opencontainers.image.ref.name": "multi"}}]});
    std::fs::write(&ip, serde_json::to_vec(&top).unwrap()).unwrap();
    let b = Tmp::new("multi-b");
    ok(
        b.path(),
        &[
            "import",
            "--platform",
            "linux/arm64",
            layout.to_str().unwrap(),
            "m",
        ],
    );
    assert_eq!(digest_of(b.path(), "m:multi"), digest_of(a.path(), "two:1"));
    ok(
        b.path(),
        &[
            "import",
            "--platform",
            "linux/amd64",
            layout.to_str().unwrap(),
            "m",
        ],
    );
    assert_eq!(digest_of(b.path(), "m:multi"), digest_of(a.path(), "one:1"));
    let e = fails(
        b.path(),
        &[
            "import",
            "--platform",
            "linux/s390x",
            layout.to_str().unwrap(),
            "m",
        ],
    );
    assert!(e.contains("no image for platform"), "{e}");
}

#[test]
fn concurrent_writers() {
    let a = Tmp::new("concurrent");
    let root = a.path().to_path_buf();
    let hs: Vec<_> = (0..4)
        .map(|i| {
            let root = root.clone();
            std::thread::spawn(move || {
                bi(
                    &root,
                    &["busybox", &format!("c{i}:1"), "--compression", "gzip"],
                )
            })
        })
        .chain(std::iter::once({
            let root = root.clone();
            std::thread::spawn(move || bi(&root, &["gc"]))
        }))
        .collect();
    for h in hs {
        let o = h.join().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let images = ok(&root, &["images"]);
    for i in 0..4 {
        assert!(images.contains(&format!("c{i}:1")), "{images}");
        let bun = root.join(format!("b{i}"));
        ok(
            &root,
            &["bundle", &format!("c{i}:1"), bun.to_str().unwrap()],
        );
    }
}

/// `berth-image images | head -0`: a reader that has gone away ends the listing quietly
/// (exit 0, nothing on stderr) rather than with a panic and a backtrace.
#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    let t = Tmp::new("closed-pipe");
    busybox(t.path(), "bb:1", "gzip");
    let (read_end, write_end) = nix::unistd::pipe().unwrap();
    drop(read_end);
    let out = Command::new(env!("CARGO_BIN_EXE_berth-image"))
        .arg("--root")
        .arg(t.path())
        .arg("images")
        .stdout(std::process::Stdio::from(write_end))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}
