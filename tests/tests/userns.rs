//! User namespaces: ownership under uid/gid maps, devices bind-mounted instead of made,
//! the sysfs/mqueue fallbacks, and idmapped mounts (berth-only: runc 1.1.5 has none).

use berth_tests::*;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

const BASE: u32 = 100000;

fn userns(b: &mut Bundle) {
    b.namespace("user", None);
    b.set(
        "linux.uidMappings",
        json!([{"containerID": 0, "hostID": BASE, "size": 65536}]),
    );
    b.set(
        "linux.gidMappings",
        json!([{"containerID": 0, "hostID": BASE, "size": 65536}]),
    );
}

fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).unwrap();
}

/// A host directory with files owned by 0, 1000 and BASE+7, world-writable.
fn host_dir() -> TempDir {
    let dir = TempDir::new("userns-host");
    for (name, id) in [("root0", 0), ("u1000", 1000), ("mapped7", BASE + 7)] {
        let f = dir.path().join(name);
        std::fs::write(&f, "x").unwrap();
        chown(&f, id, id);
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

fn stat_line(path: &str) -> String {
    format!("stat -c '%n %u %g' {path}")
}

// Host files appear through the map: BASE+7 as 7, unmapped ids (host root) as the
// overflow id 65534.
compare_test!(userns_host_files_appear_mapped, |rt| -> String {
    let mut b = Bundle::sh(&format!(
        "{}; {}",
        stat_line("/etc/owned7"),
        stat_line("/bin/busybox")
    ));
    userns(&mut b);
    let f = b.rootfs().join("etc/owned7");
    std::fs::write(&f, "x").unwrap();
    chown(&f, BASE + 7, BASE + 8);
    let out = rt.output_of(&b);
    assert_eq!(out, "/etc/owned7 7 8\n/bin/busybox 65534 65534\n");
    out
});

// A file created by the container's root (and one it chowns) is owned by the mapped host
// ids, on a bind-mounted volume too.
compare_test!(userns_created_files_owned_by_mapped_host_ids, |rt| -> (
    u32,
    u32,
    u32,
    u32
) {
    let host = host_dir();
    let mut b = Bundle::sh("touch /mnt/new && touch /mnt/new5 && chown 5:6 /mnt/new5");
    for set in ["bounding", "effective", "permitted"] {
        b.push(&format!("process.capabilities.{set}"), json!("CAP_CHOWN"));
    }
    userns(&mut b);
    b.bind(host.path(), "/mnt", &[]);
    rt.output_of(&b);
    let m = std::fs::metadata(host.path().join("new")).unwrap();
    let m5 = std::fs::metadata(host.path().join("new5")).unwrap();
    let got = (m.uid(), m.gid(), m5.uid(), m5.gid());
    assert_eq!(got, (BASE, BASE, BASE + 5, BASE + 6));
    got
});

// mknod is refused in a user namespace (even with CAP_MKNOD, even on its own tmpfs), so
// the default devices and linux.devices must be bind mounts of the host's nodes.
compare_test!(userns_devices_are_bind_mounts, |rt| -> String {
    let mut b = Bundle::sh(
        "mknod /tmp/n c 1 3 2>/dev/null; echo mknod=$?; \
         for d in null zero full tty random urandom fuse; do \
           grep -c \" /dev/$d \" /proc/self/mountinfo | tr '\\n' ' '; \
           stat -c '%n %F %t:%T' /dev/$d; done; \
         echo hi > /dev/null && head -c 4 /dev/zero | wc -c",
    );
    userns(&mut b);
    for set in ["bounding", "effective", "permitted"] {
        b.push(&format!("process.capabilities.{set}"), json!("CAP_MKNOD"));
    }
    b.push(
        "mounts",
        json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
    b.push(
        "linux.devices",
        json!({"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}),
    );
    let out = rt.output_of(&b);
    assert!(out.starts_with("mknod=1\n"), "{out}");
    assert!(
        out.contains("1 /dev/null character special file 1:3"),
        "{out}"
    );
    assert!(
        out.contains("1 /dev/fuse character special file a:e5"),
        "{out}"
    );
    out
});

// Without its own network namespace, a user namespace may not mount sysfs: the host's
// /sys is bound instead (read-only as asked). runc 1.1.5 fails the container.
berth_only_test!(
    userns_sysfs_falls_back_to_bind,
    "runc 1.1.5 fails: mount sysfs: operation not permitted",
    |rt| {
        let mut b = Bundle::sh(
            "grep ' /sys ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1 | sort -u; \
             test -d /sys/kernel && echo kernel",
        );
        userns(&mut b);
        b.without_namespace("network");
        assert_eq!(rt.output_of(&b), "ro\nkernel\n");
    }
);

// Likewise mqueue without an ipc namespace: the host's /dev/mqueue is bound (when the
// host has one; otherwise the mount fails as under runc).
berth_only_test!(
    userns_mqueue_falls_back_to_bind,
    "runc 1.1.5 fails: mount mqueue: operation not permitted",
    |rt| {
        let mut b = Bundle::sh("grep ' /dev/mqueue ' /proc/self/mountinfo | cut -d' ' -f9");
        userns(&mut b);
        b.without_namespace("ipc");
        if Path::new("/dev/mqueue").is_dir() {
            assert_eq!(rt.output_of(&b), "mqueue\n");
        } else {
            let (code, _, err) = rt.run_container(&b);
            assert_ne!(code, 0);
            assert!(err.contains("/dev/mqueue"), "{err}");
        }
    }
);

fn idmapped(b: &mut Bundle, host: &Path, opts: &[&str], maps: Option<Value>) {
    let mut m = json!({
        "destination": "/mnt", "type": "bind", "source": host, "options": opts,
    });
    if let Some(maps) = maps {
        m["uidMappings"] = maps.clone();
        m["gidMappings"] = maps;
    }
    b.push("mounts", m);
}

// With the container's own maps on the mount, host ids 0.. appear as 0.. inside (not as
// 65534), and what the container's root creates is owned by host root.
berth_only_test!(
    idmapped_mount_with_container_maps,
    "runc 1.1.5 has no idmapped mounts",
    |rt| {
        let host = host_dir();
        let mut b = Bundle::sh(&format!(
            "{}; touch /mnt/made; grep -c ' /mnt .*idmapped' /proc/self/mountinfo",
            stat_line("/mnt/root0 /mnt/u1000 /mnt/mapped7")
        ));
        userns(&mut b);
        let maps = json!([{"containerID": 0, "hostID": BASE, "size": 65536}]);
        idmapped(&mut b, host.path(), &["bind", "idmap"], Some(maps));
        assert_eq!(
            rt.output_of(&b),
            "/mnt/root0 0 0\n/mnt/u1000 1000 1000\n/mnt/mapped7 65534 65534\n1\n"
        );
        let m = std::fs::metadata(host.path().join("made")).unwrap();
        assert_eq!((m.uid(), m.gid()), (0, 0));
    }
);

// `idmap` without mappings on the mount uses linux.uidMappings/gidMappings.
berth_only_test!(
    idmapped_mount_defaults_to_container_maps,
    "runc 1.1.5 has no idmapped mounts",
    |rt| {
        let host = host_dir();
        let mut b = Bundle::sh(&stat_line("/mnt/root0 /mnt/u1000"));
        userns(&mut b);
        idmapped(&mut b, host.path(), &["rbind", "ridmap"], None);
        assert_eq!(rt.output_of(&b), "/mnt/root0 0 0\n/mnt/u1000 1000 1000\n");
    }
);

// Without a user namespace: the mount's maps alone decide (host 0 shown as 1000, host
// 1000 unmapped).
berth_only_test!(
    idmapped_mount_without_userns,
    "runc 1.1.5 has no idmapped mounts",
    |rt| {
        let host = host_dir();
        let mut b = Bundle::sh(&stat_line("/mnt/root0 /mnt/u1000"));
        let maps = json!([{"containerID": 0, "hostID": 1000, "size": 1}]);
        idmapped(&mut b, host.path(), &["bind", "ro"], Some(maps));
        assert_eq!(
            rt.output_of(&b),
            "/mnt/root0 1000 1000\n/mnt/u1000 65534 65534\n"
        );
    }
);

// Only bind mounts can be idmapped; without any maps there is nothing to map with.
berth_only_test!(
    idmapped_mount_refused_when_impossible,
    "runc 1.1.5 has no idmapped mounts",
    |rt| {
        let mut b = Bundle::sh("true");
        b.push(
            "mounts",
            json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
                   "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
                   "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}]}),
        );
        let (code, _, err) = rt.run_container(&b);
        assert_ne!(code, 0);
        assert!(err.contains("only supported for bind mounts"), "{err}");
        let host = host_dir();
        let mut b = Bundle::sh("true");
        idmapped(&mut b, host.path(), &["bind", "idmap"], None);
        let (code, _, err) = rt.run_container(&b);
        assert_ne!(code, 0);
        assert!(err.contains("needs uidMappings and gidMappings"), "{err}");
    }
);

// Maps the kernel refuses (two uid ranges overlapping inside the container): the parent's
// write fails while the child waits for it. A one-line error naming the map file, exit
// non-zero, nothing left — not a runtime and a child waiting on each other forever.
/// Two host directories only their owner (host root) may enter, each holding dir/foo.
fn inaccessible_sources() -> TempDir {
    use std::os::unix::fs::PermissionsExt;
    let top = TempDir::new("userns-inaccessible");
    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for n in ["1", "2"] {
        let dir = top.path().join(n).join("dir");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("foo"), "x").unwrap();
        std::fs::set_permissions(top.path().join(n), std::fs::Permissions::from_mode(0o700))
            .unwrap();
    }
    top
}

// The mapped root cannot enter the sources' parents, yet binds them: the runtime opens
// each source as host root before the init enters the user namespace (runc's
// "userns with 2 inaccessible mounts"), and exec then sees them too.
compare_test!(userns_binds_sources_the_mapped_root_cannot_reach, |rt| -> (
    String,
    String
) {
    let top = inaccessible_sources();
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    userns(&mut b);
    for n in ["1", "2"] {
        b.push(
            "mounts",
            json!({"destination": format!("/tmp/mount-{n}"), "type": "bind",
                   "source": top.path().join(n).join("dir"), "options": ["bind"]}),
        );
    }
    let id = rt.start_detached(&b);
    let exec = rt.exec(&[&id, "cat", "/tmp/mount-1/foo", "/tmp/mount-2/foo"]);
    let _ = rt.delete_force(&id);
    let mut run = Bundle::sh("cat /tmp/mount-1/foo /tmp/mount-2/foo");
    userns(&mut run);
    for n in ["1", "2"] {
        run.push(
            "mounts",
            json!({"destination": format!("/tmp/mount-{n}"), "type": "bind",
                   "source": top.path().join(n).join("dir"), "options": ["bind"]}),
        );
    }
    (
        rt.output_of(&run),
        format!("{}{}", exec.stdout, exec.code.unwrap_or(-1)),
    )
});

runtime_test!(id_maps_the_kernel_refuses_fail_cleanly, |rt| {
    let mut b = Bundle::sh("true");
    userns(&mut b);
    b.set(
        "linux.uidMappings",
        json!([
            {"containerID": 0, "hostID": BASE, "size": 10},
            {"containerID": 5, "hostID": BASE + 1000, "size": 10}
        ]),
    );
    let id = rt.id("badmap");
    let out = rt.create(&id, &b).fails();
    assert!(out.stderr.contains("uid_map"), "{out:?}");
    assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
});
