//! Namespaces: created (user with maps, cgroup, net, ipc, pid, time) and joined by path.

use berth_tests::*;
use std::os::unix::fs::MetadataExt;

fn userns(b: &mut Bundle) {
    b.namespace("user", None);
    b.set(
        "linux.uidMappings",
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
    );
    b.set(
        "linux.gidMappings",
        json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
    );
}

runtime_test!(user_namespace_maps, |rt| {
    let mut b = Bundle::sh("cat /proc/self/uid_map /proc/self/gid_map; id -u");
    userns(&mut b);
    let out = rt.output_of(&b);
    let lines: Vec<String> = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["0 100000 65536", "0 100000 65536", "0"]);
});

runtime_test!(user_namespace_file_owner, |rt| {
    let mut b = Bundle::sh("touch /tmp/owned && touch /tmp/owned2 && chown 5:6 /tmp/owned2");
    b.push("process.capabilities.bounding", json!("CAP_CHOWN"));
    b.push("process.capabilities.effective", json!("CAP_CHOWN"));
    b.push("process.capabilities.permitted", json!("CAP_CHOWN"));
    userns(&mut b);
    b.writable();
    rt.output_of(&b);
    let m = std::fs::metadata(b.rootfs().join("tmp/owned")).unwrap();
    assert_eq!((m.uid(), m.gid()), (100000, 100000));
    let m = std::fs::metadata(b.rootfs().join("tmp/owned2")).unwrap();
    assert_eq!((m.uid(), m.gid()), (100005, 100006));
});

runtime_test!(user_namespace_caps_inside, |rt| {
    // root in the new user namespace: the capabilities of the config, over its own ns
    let mut b = Bundle::sh("grep CapEff /proc/self/status");
    userns(&mut b);
    assert_eq!(
        rt.output_of(&b).split_whitespace().collect::<Vec<_>>(),
        ["CapEff:", "0000000020000420"]
    );
});

runtime_test!(pid_namespace, |rt| {
    let out = rt.output_of(&Bundle::sh("ls /proc | grep -c '^[0-9]'"));
    // only sh (1) and its pipeline children
    let n: u32 = out.trim().parse().unwrap();
    assert!(n <= 4, "{out}");
});

runtime_test!(net_namespace_only_lo, |rt| {
    let out = rt.output_of(&Bundle::sh("ls /sys/class/net"));
    assert_eq!(out.trim(), "lo");
});

runtime_test!(host_network_without_net_namespace, |rt| {
    let mut b = Bundle::sh("readlink /proc/self/ns/net");
    b.without_namespace("network");
    assert_eq!(
        rt.output_of(&b).trim(),
        std::fs::read_link("/proc/self/ns/net")
            .unwrap()
            .to_str()
            .unwrap()
    );
});

runtime_test!(ipc_namespace, |rt| {
    let out = rt.output_of(&Bundle::sh("readlink /proc/self/ns/ipc"));
    assert!(out.starts_with("ipc:["), "{out}");
    assert_ne!(
        out.trim(),
        std::fs::read_link("/proc/self/ns/ipc")
            .unwrap()
            .to_str()
            .unwrap()
    );
});

runtime_test!(cgroup_namespace, |rt| {
    let mut b = Bundle::sh("cat /proc/self/cgroup");
    b.namespace("cgroup", None);
    let out = rt.output_of(&b);
    assert!(!out.is_empty());
    for l in out.lines() {
        assert!(l.ends_with(":/"), "cgroup ns root: {out}");
    }
});

/// A running container with hostname "ns-owner" in its own UTS namespace: its bundle (kept
/// while it runs), id and the path of that namespace.
fn uts_owner(rt: &Runtime) -> (Bundle, String, String) {
    let mut a = Bundle::new();
    a.args(&["sleep", "1000"]);
    a.set("hostname", json!("ns-owner"));
    let id = rt.start_detached(&a);
    let path = format!("/proc/{}/ns/uts", rt.pid(&id));
    (a, id, path)
}

runtime_test!(join_uts_namespace_by_path, |rt| {
    let (_owner, _id, path) = uts_owner(rt);
    let mut b = Bundle::sh("hostname");
    b.remove("hostname");
    b.namespace("uts", Some(&path));
    assert_eq!(rt.output_of(&b).trim(), "ns-owner");
});

compare_test!(hostname_in_a_joined_uts_namespace_is_set, |rt| -> (
    String,
    String
) {
    let (_owner, id, path) = uts_owner(rt);
    let mut b = Bundle::sh("hostname");
    b.set("hostname", json!("joiner"));
    b.namespace("uts", Some(&path));
    let seen = rt.output_of(&b);
    let owner = rt.exec(&[&id, "hostname"]).ok().stdout;
    (seen, owner)
});

runtime_test!(join_net_namespace_by_path, |rt| {
    let mut a = Bundle::new();
    a.args(&["sleep", "1000"]);
    let id = rt.start_detached(&a);
    let pid = rt.pid(&id);
    let target = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let mut b = Bundle::sh("readlink /proc/self/ns/net");
    b.namespace("network", Some(&format!("/proc/{pid}/ns/net")));
    assert_eq!(rt.output_of(&b).trim(), target.to_str().unwrap());
});

runtime_test!(join_missing_namespace_path_fails, |rt| {
    let mut b = Bundle::sh("true");
    b.namespace("network", Some("/proc/999999999/ns/net"));
    let id = rt.id("nsmissing");
    let out = rt.create(&id, &b).fails();
    assert!(out.stderr.contains("/proc/999999999/ns/net"), "{out:?}");
    assert!(rt.root_entries().is_empty());
});

berth_only_test!(
    time_namespace,
    "runc 1.1.5 has no time namespace (added in runc 1.2)",
    |rt| {
        let mut b = Bundle::sh("cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime");
        b.namespace("time", None);
        b.set(
            "linux.timeOffsets",
            json!({
                "monotonic": {"secs": 86400, "nanosecs": 0},
                "boottime": {"secs": 172800, "nanosecs": 0}
            }),
        );
        let out = rt.output_of(&b);
        let lines: Vec<String> = out
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(lines[0..2], ["monotonic 86400 0", "boottime 172800 0"]);
        let host_up: f64 = std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let inside: f64 = lines[2].parse().unwrap();
        assert!(
            inside >= host_up + 172800.0 - 5.0,
            "uptime {inside} vs host {host_up}"
        );
    }
);

/// `ip` on the host (iproute2), for making and removing a test link.
fn host_ip(args: &[&str]) -> bool {
    std::process::Command::new("ip")
        .args(args)
        .status()
        .is_ok_and(|s| s.success())
}

// linux.netDevices (runtime-spec 1.3): a host link moved into the container's network
// namespace under a new name, with its permanent address and up. (runc 1.3 lacks it.)
berth_only_test!(
    net_device_moved_in_renamed_with_its_address,
    "linux.netDevices is runtime-spec 1.3: runc 1.1.5 ignores it",
    |rt| {
        let link = format!("bnd{}", std::process::id() % 100000);
        // A veth pair: its module is there wherever containers network (a dummy link
        // would need the dummy module loaded).
        let peer = format!("{link}p");
        assert!(host_ip(&[
            "link", "add", &link, "type", "veth", "peer", "name", &peer
        ]));
        assert!(host_ip(&["addr", "add", "10.254.77.1/24", "dev", &link]));
        let mut b = Bundle::sh("ip -o -4 addr show ctr0; ip -o link show ctr0");
        b.set(
            "linux.netDevices",
            json!({ link.clone(): {"name": "ctr0"} }),
        );
        let out = rt.output_of(&b);
        // A virtual link goes with the namespace, its peer soon after (the kernel tears
        // namespaces down in the background): whatever is still here is taken away.
        let _ = host_ip(&["link", "del", &peer]);
        assert!(
            out.contains("ctr0") && out.contains("10.254.77.1/24"),
            "{out}"
        );
        assert!(out.contains(",UP"), "{out}");

        // Without a network namespace of its own, or with no such link: refused, nothing left.
        let mut b = Bundle::sh("true");
        b.without_namespace("network");
        b.set("linux.netDevices", json!({"eth9": {}}));
        let id = rt.id("netdevnons");
        let out = rt.create(&id, &b).fails();
        assert!(
            out.stderr.contains(
                "linux.netDevices: unable to move network devices without a NET namespace"
            ),
            "{out:?}"
        );
        let mut b = Bundle::sh("true");
        b.set("linux.netDevices", json!({"berthnosuch0": {}}));
        let id = rt.id("netdevnone");
        let out = rt.create(&id, &b).fails();
        assert!(
            out.stderr
                .contains("linux.netDevices.berthnosuch0: no such network device on the host"),
            "{out:?}"
        );
        assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
    }
);
