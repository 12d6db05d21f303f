//! Cgroups: every resource field set and read back from the cgroup file (compared with
//! runc), shown to take effect where practical (OOM kill reported by `events`, a fork
//! bomb stopped by pids.max, a paused process not running), `update`, `events`, the
//! cgroup namespace, exec placement, failures leaving nothing behind, and cgroup v2 for
//! real in a private cgroup2 mount (see docs/cgroups.md).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_tests::*;

/// The host directory of `controller` for process `pid` ("" = the unified hierarchy).
fn cgroup_dir(pid: i64, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in text.lines() {
        let mut f = line.splitn(3, ':');
        let (_, names, path) = (f.next(), f.next().unwrap(), f.next().unwrap());
        let hit = if controller.is_empty() {
            names.is_empty()
        } else {
            names.split(',').any(|n| n == controller)
        };
        if hit {
            let mount = if controller.is_empty() {
                "unified"
            } else {
                controller
            };
            return PathBuf::from(format!("/sys/fs/cgroup/{mount}{path}"));
        }
    }
    panic!("{controller} not in /proc/{pid}/cgroup: {text}");
}

/// Trimmed contents of a cgroup file of the container `id`.
fn read_cg(rt: &Runtime, id: &str, controller: &str, file: &str) -> String {
    let dir = cgroup_dir(rt.pid(id), controller);
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

/// A running `sleep 1000` container with `resources`.
fn with_resources(rt: &Runtime, resources: Value) -> (Bundle, String) {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.set("linux.resources", resources);
    let id = rt.start_detached(&b);
    (b, id)
}

compare_test!(memory_fields_read_back, |rt| -> Vec<String> {
    let (_b, id) = with_resources(
        rt,
        json!({"memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728,
                          "swappiness": 10, "disableOOMKiller": true}}),
    );
    [
        "memory.limit_in_bytes",
        "memory.soft_limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "memory.swappiness",
    ]
    .iter()
    .map(|f| read_cg(rt, &id, "memory", f))
    .chain([read_cg(rt, &id, "memory", "memory.oom_control")
        .lines()
        .next()
        .unwrap()
        .to_string()])
    .collect()
});

compare_test!(cpu_fields_read_back, |rt| -> Vec<String> {
    let (_b, id) = with_resources(
        rt,
        json!({"cpu": {"shares": 512, "quota": 50000, "period": 200000, "cpus": "0", "mems": "0"}}),
    );
    let mut out: Vec<String> = ["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"]
        .iter()
        .map(|f| read_cg(rt, &id, "cpu", f))
        .collect();
    out.push(read_cg(rt, &id, "cpuset", "cpuset.cpus"));
    out.push(read_cg(rt, &id, "cpuset", "cpuset.mems"));
    out
});

compare_test!(pids_limit_read_back, |rt| -> String {
    let (_b, id) = with_resources(rt, json!({"pids": {"limit": 42}}));
    read_cg(rt, &id, "pids", "pids.max")
});

/// The blkio weight file this kernel offers: `blkio.weight` (CFQ, old kernels),
/// `blkio.bfq.weight` (the BFQ scheduler, when loaded), or none (mq-deadline only, as on a
/// new machine here): then weights cannot be set by any runtime, and the tests say so.
fn blkio_weight_file() -> Option<&'static str> {
    let root = std::path::Path::new("/sys/fs/cgroup/blkio");
    let found = ["blkio.weight", "blkio.bfq.weight"]
        .into_iter()
        .find(|f| root.join(f).exists());
    if found.is_none() {
        eprintln!(
            "skipped: no blkio weight file under {} (no BFQ/CFQ I/O scheduler on this host)",
            root.display()
        );
    }
    found
}

compare_test!(blkio_weight_read_back, |rt| -> String {
    let Some(file) = blkio_weight_file() else {
        return String::new();
    };
    let (_b, id) = with_resources(rt, json!({"blockIO": {"weight": 300}}));
    read_cg(rt, &id, "blkio", file)
});

compare_test!(devices_list_v1, |rt| -> Vec<String> {
    let (_b, id) = with_resources(
        rt,
        json!({"devices": [{"allow": false, "access": "rwm"},
                           {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "r"}]}),
    );
    let mut lines: Vec<String> = read_cg(rt, &id, "devices", "devices.list")
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
});

/// /dev/kmsg (c 1:11) bound in: opening it for writing (which writes nothing) is decided
/// by the device rules alone (opening it for reading also needs CAP_SYSLOG where
/// dmesg_restrict is set, as on Debian).
fn kmsg_open(rt: &Runtime, allow: Option<&str>) -> String {
    let mut b = Bundle::sh(": > /dev/kmsg && echo opened");
    b.push(
        "mounts",
        json!({"destination": "/dev/kmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]}),
    );
    if let Some(access) = allow {
        b.push(
            "linux.resources.devices",
            json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": access}),
        );
    }
    let (_, out, err) = rt.run_container(&b);
    format!("{}{}", out.trim(), normalize_stderr(err.trim(), rt.name()))
}

compare_test!(device_rules_take_effect_v1, |rt| -> (String, String) {
    (kmsg_open(rt, None), kmsg_open(rt, Some("w")))
});

// Access letters other than r, w and m: runc's cgroup v1 code reads access as a set of
// those three and ignores the rest; berth reads them so. (runc refuses an access of no
// such letter, "x", with "resulting devices cgroup doesn't precisely match target"; berth
// lets such a rule change nothing.)
compare_test!(
    device_access_other_letters_ignored_v1,
    |rt| -> Vec<String> {
        ["r", "w", "rwa", "wwr", "ra"]
            .iter()
            .map(|a| kmsg_open(rt, Some(a)))
            .collect()
    }
);

// A node in linux.devices is made in /dev, but only linux.resources.devices decides
// whether it may be opened: it must not widen the device cgroup (runc: EPERM).
compare_test!(
    linux_devices_node_does_not_widen_the_device_cgroup,
    |rt| -> String {
        let mut b = Bundle::sh("echo hi > /dev/kmsg && echo written");
        b.push(
            "linux.devices",
            json!({"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 420}),
        );
        b.set(
            "linux.resources.devices",
            json!([{"allow": false, "access": "rwm"}]),
        );
        let (_, out, err) = rt.run_container(&b);
        format!("{}{}", out.trim(), normalize_stderr(err.trim(), rt.name()))
    }
);

runtime_test!(oom_kill_reported_by_events, |rt| {
    let (_b, id) = with_resources(rt, json!({"memory": {"limit": 33554432, "swap": 33554432}}));
    let out_path = rt.work().join("events.out");
    let mut cmd = rt.command(&["events", "--interval", "1s", &id]);
    cmd.stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::null());
    let mut events = cmd.spawn().unwrap();
    rt.track_pid(events.id() as i64);
    let read = || std::fs::read_to_string(&out_path).unwrap_or_default();
    assert!(wait_for(Duration::from_secs(20), || read().contains("\"stats\"")));
    let hog = rt.exec(&[&id, "sh", "-c", "tail /dev/zero"]);
    assert_eq!(hog.code, Some(137), "{hog:?}");
    assert!(
        wait_for(Duration::from_secs(20), || read()
            .contains(&format!("{{\"type\":\"oom\",\"id\":\"{id}\"}}"))),
        "no oom event in {}",
        read()
    );
    let _ = events.kill(); // by PID
    let _ = events.wait();
    let control = read_cg(rt, &id, "memory", "memory.oom_control");
    assert!(!control.contains("oom_kill 0"), "{control}");
});

runtime_test!(fork_bomb_stopped_by_pids_max, |rt| {
    let (_b, id) = with_resources(rt, json!({"pids": {"limit": 8}}));
    let out = rt.exec(&[
        &id,
        "sh",
        "-c",
        "i=0; while [ $i -lt 30 ]; do sleep 1000 & i=$((i+1)); done; echo done",
    ]);
    assert!(
        out.stderr.contains("Resource temporarily unavailable"),
        "{out:?}"
    );
    let pids: Vec<i64> =
        serde_json::from_str(&rt.run(&["ps", "--format", "json", &id]).ok().stdout).unwrap();
    assert!(pids.len() <= 8, "{pids:?}");
    assert_eq!(read_cg(rt, &id, "pids", "pids.max"), "8");
});

runtime_test!(paused_process_not_running, |rt| {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = rt.start_detached(&b);
    rt.run(&["pause", &id]).ok();
    assert_eq!(rt.status(&id), "paused");
    assert_eq!(read_cg(rt, &id, "freezer", "freezer.state"), "FROZEN");
    let list = rt.list(&["--format", "json"]);
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap();
    assert_eq!(entry["status"], "paused");
    // A frozen task is not runnable: it shows as D (uninterruptible) in /proc.
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", rt.pid(&id))).unwrap();
    let state = stat.rsplit(") ").next().unwrap().chars().next().unwrap();
    assert_eq!(state, 'D', "{stat}");
    rt.run(&["resume", &id]).ok();
    assert_eq!(rt.status(&id), "running");
});

compare_test!(cgroup_namespace_shows_root, |rt| -> String {
    let mut b = Bundle::sh("cat /proc/self/cgroup");
    b.namespace("cgroup", None);
    rt.output_of(&b)
});

runtime_test!(exec_joins_the_container_cgroup, |rt| {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = rt.start_detached(&b);
    let init = std::fs::read_to_string(format!("/proc/{}/cgroup", rt.pid(&id))).unwrap();
    let exec = rt.exec(&[&id, "cat", "/proc/self/cgroup"]).ok();
    assert_eq!(exec.stdout, init);
});

compare_test!(update_flags, |rt| -> Vec<String> {
    let (_b, id) = with_resources(rt, json!({"memory": {"limit": 67108864}}));
    let weight = blkio_weight_file();
    let mut args = vec![
        "update",
        "--memory",
        "128m",
        "--memory-reservation",
        "32m",
        "--cpu-share",
        "256",
        "--cpu-quota",
        "20000",
        "--cpu-period",
        "100000",
        "--pids-limit",
        "20",
        "--cpuset-cpus",
        "0",
    ];
    if weight.is_some() {
        args.extend(["--blkio-weight", "200"]);
    }
    args.push(&id);
    rt.run(&args).ok();
    let mut out = vec![
        read_cg(rt, &id, "memory", "memory.limit_in_bytes"),
        read_cg(rt, &id, "memory", "memory.soft_limit_in_bytes"),
        read_cg(rt, &id, "cpu", "cpu.shares"),
        read_cg(rt, &id, "cpu", "cpu.cfs_quota_us"),
        read_cg(rt, &id, "cpu", "cpu.cfs_period_us"),
        read_cg(rt, &id, "pids", "pids.max"),
        read_cg(rt, &id, "cpuset", "cpuset.cpus"),
    ];
    if let Some(file) = weight {
        out.push(read_cg(rt, &id, "blkio", file));
    }
    out
});

compare_test!(update_from_resources_file, |rt| -> Vec<String> {
    let (_b, id) = with_resources(rt, json!({}));
    let file = rt.work().join("resources.json");
    std::fs::write(
        &file,
        r#"{"memory": {"limit": 100000000, "swap": 200000000}, "cpu": {"shares": 100}, "pids": {"limit": 9}}"#,
    )
    .unwrap();
    rt.run(&["update", "-r", file.to_str().unwrap(), &id]).ok();
    vec![
        read_cg(rt, &id, "memory", "memory.limit_in_bytes"),
        read_cg(rt, &id, "memory", "memory.memsw.limit_in_bytes"),
        read_cg(rt, &id, "cpu", "cpu.shares"),
        read_cg(rt, &id, "pids", "pids.max"),
    ]
});

compare_test!(update_invalid_value_is_one_line_error, |rt| -> (
    Option<i32>,
    String
) {
    let (_b, id) = with_resources(rt, json!({}));
    let out = rt.run(&["update", "--cpu-share", "1", &id]).fails();
    // runc also logs a warning about rolling back; compare the error line.
    let err = out
        .stderr
        .lines()
        .find(|l| l.contains("level=error"))
        .map(|l| normalize_stderr(l, rt.name()))
        .unwrap_or_default();
    (out.code, err)
});

/// Create with `resources`; it must fail with one line and leave no state or cgroup.
fn failing_create(rt: &Runtime, resources: Value) -> String {
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.set("linux.resources", resources);
    let id = rt.id("bad");
    let out = rt.create(&id, &b).fails();
    assert!(
        rt.root_entries().is_empty(),
        "state left: {:?}",
        rt.root_entries()
    );
    for c in ["pids", "cpu", "devices", "freezer", "unified"] {
        let dir = PathBuf::from(format!("/sys/fs/cgroup/{c}/{id}"));
        assert!(!dir.exists(), "{} left behind", dir.display());
    }
    let err = normalize_stderr(out.stderr.trim(), rt.name());
    if !rt.is_runc() {
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    // runc may log a warning first; the error is the last line.
    err.lines().last().unwrap_or("").replace(&id, "<id>")
}

compare_test!(invalid_swappiness_fails_clean, |rt| -> String {
    failing_create(rt, json!({"memory": {"swappiness": 200}}))
});

compare_test!(invalid_cpu_value_fails_clean, |rt| -> String {
    failing_create(rt, json!({"cpu": {"cpus": "99999"}}))
        .split(" /sys/fs/cgroup")
        .next()
        .unwrap()
        .to_string()
});

compare_test!(missing_controller_fails_clean, |rt| -> String {
    // hugetlb has no mounted v1 hierarchy here: runc refuses, and so must we.
    failing_create(
        rt,
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 0}]}),
    )
});

compare_test!(events_stats_shape, |rt| -> (
    Vec<String>,
    Vec<String>,
    Value
) {
    let (_b, id) = with_resources(rt, json!({"pids": {"limit": 50}}));
    let out = rt.run(&["events", "--stats", &id]).ok();
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    let mut data = keys(&v["data"]);
    data.sort();
    let mut top = keys(&v);
    top.sort();
    let memory_limit = v["data"]["memory"]["usage"]["limit"].clone();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id.as_str());
    (top, data, json!([v["data"]["pids"], memory_limit.is_u64()]))
});

/// Runs `script` under the runtime in a private mount namespace where /sys/fs/cgroup is
/// a fresh cgroup2 mount: the runtime sees a pure v2 host. $RT is the runtime with its
/// --root, $B the bundle, $ID a container id, $CG the container's cgroup directory.
///
/// That mount is the host's own cgroup2 hierarchy (hybrid's /sys/fs/cgroup/unified), and
/// a runtime on a pure v2 host enables every controller in the root's subtree_control:
/// the script turns off again what it found off (hugetlb left on there makes crun refuse
/// every container and keeps hugetlb from being mounted as v1). One such script at a time
/// (flock), so none turns a controller off under another's container.
fn in_private_v2(rt: &Runtime, b: &Bundle, script: &str) -> String {
    b.write();
    let id = rt.id("v2");
    let full = format!(
        "set -u; umount -R /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup || exit 99; \
         ST=/sys/fs/cgroup/cgroup.subtree_control; was=\" $(cat $ST) \"; \
         CG=/sys/fs/cgroup/$ID; {script}; $RT delete -f $ID >/dev/null 2>&1; \
         test -e $CG && echo cgroup-left; \
         for c in $(cat $ST); do case \"$was\" in *\" $c \"*) ;; *) echo -$c >$ST || echo \"$c left on\";; esac; done; \
         true"
    );
    let lock = std::env::temp_dir().join("berth-tests-private-v2.lock");
    let mut cmd = Command::new("flock");
    cmd.arg(&lock)
        .args(["unshare", "-m", "--propagation", "private"])
        .args(["sh", "-c", &full])
        .env(
            "RT",
            format!("{} --root {}", rt.bin.display(), rt.root().display()),
        )
        .env("B", b.path())
        .env("ID", &id)
        .stdin(Stdio::null());
    let out = rt.run_cmd(cmd);
    assert_eq!(out.code, Some(0), "{out:?}");
    normalize_stderr(&out.stdout, rt.name())
}

compare_test!(v2_limits_devices_pause, |rt| -> String {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.push(
        "mounts",
        json!({"destination": "/dev/kmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]}),
    );
    b.set(
        "linux.resources",
        json!({"unified": {"cgroup.max.descendants": "7"}}),
    );
    in_private_v2(
        rt,
        &b,
        "$RT run -d --bundle $B $ID >/dev/null; \
         echo descendants=$(cat $CG/cgroup.max.descendants); \
         $RT exec $ID sh -c ': < /dev/null && echo null-ok'; \
         $RT exec $ID sh -c ': < /dev/kmsg && echo kmsg-opened' 2>&1 | sed 's/.*: //'; \
         $RT pause $ID; echo freeze=$(cat $CG/cgroup.freeze) status=$($RT state $ID | grep -o '\"status\": *\"[a-z]*\"' | tr -d ' '); \
         $RT resume $ID; echo freeze=$(cat $CG/cgroup.freeze); \
         $RT events --stats $ID | grep -o '\"usage\":{\"total\":[1-9]' | cut -c1-17; \
         echo procs=$(wc -l < $CG/cgroup.procs)",
    )
});

compare_test!(v2_missing_controller_fails_clean, |rt| -> String {
    // memory is bound to its v1 hierarchy on this host, so the v2 view has no memory.max.
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.set("linux.resources", json!({"memory": {"limit": 67108864}}));
    in_private_v2(
        rt,
        &b,
        "$RT create --bundle $B $ID 2>&1 | tail -1 | sed -e 's/.*msg=\"//' -e 's/\"$//' -e \"s/$ID/<id>/g\"; \
         test -e $CG && echo cgroup-left",
    )
});

compare_test!(blkio_throttling_read_back, |rt| -> Vec<String> {
    // Per-device limits on the machine's first virtio disk (major 254 here).
    let (major, minor) = first_disk();
    let dev = |rate: u64| json!({"major": major, "minor": minor, "rate": rate});
    let (_b, id) = with_resources(
        rt,
        json!({"blockIO": {
            "throttleReadBpsDevice": [dev(1048576)],
            "throttleWriteBpsDevice": [dev(2097152)],
            "throttleReadIOPSDevice": [dev(100)],
            "throttleWriteIOPSDevice": [dev(200)],
        }}),
    );
    [
        "blkio.throttle.read_bps_device",
        "blkio.throttle.write_bps_device",
        "blkio.throttle.read_iops_device",
        "blkio.throttle.write_iops_device",
    ]
    .iter()
    .map(|f| read_cg(rt, &id, "blkio", f))
    .collect()
});

compare_test!(cpu_realtime_read_back, |rt| -> Vec<String> {
    let (_b, id) = with_resources(
        rt,
        json!({"cpu": {"realtimeRuntime": 10000, "realtimePeriod": 1000000}}),
    );
    ["cpu.rt_runtime_us", "cpu.rt_period_us"]
        .iter()
        .map(|f| read_cg(rt, &id, "cpu", f))
        .collect()
});

runtime_test!(cpu_burst_and_idle_read_back, |rt| {
    let (_b, id) = with_resources(
        rt,
        json!({"cpu": {"quota": 50000, "period": 100000, "burst": 20000, "idle": 1}}),
    );
    if rt.is_runc() {
        // runc 1.1.5 predates cpu burst and idle: it leaves them at their defaults.
        return;
    }
    assert_eq!(read_cg(rt, &id, "cpu", "cpu.cfs_burst_us"), "20000");
    assert_eq!(read_cg(rt, &id, "cpu", "cpu.idle"), "1");
});

/// Major and minor of the first whole disk (not a partition, not zram).
fn first_disk() -> (u64, u64) {
    for entry in std::fs::read_dir("/sys/block").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with("zram") || name.starts_with("loop") || name.starts_with("ram") {
            continue;
        }
        let dev = std::fs::read_to_string(entry.path().join("dev")).unwrap();
        let (major, minor) = dev.trim().split_once(':').unwrap();
        return (major.parse().unwrap(), minor.parse().unwrap());
    }
    panic!("no block device in /sys/block");
}

/// rmdir `rel` in every hierarchy (a test's own cgroupsPath; runc and berth leave the
/// parents of a nested path, and a runtime killed mid-test may leave the rest).
fn remove_test_cgroup(rel: &str) {
    for h in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(h.path().join(rel));
    }
}

// A cgroupsPath naming a cgroup that is already frozen: the init would freeze as soon as
// it joined it and never answer. runc refuses before it makes anything; so must berth.
compare_test!(create_into_a_frozen_cgroup_is_refused, |rt| -> (
    Option<i32>,
    String,
    bool
) {
    let id = rt.id("frozen");
    let rel = format!("berth-test-{id}");
    let dir = PathBuf::from("/sys/fs/cgroup/freezer").join(&rel);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("freezer.state"), "FROZEN").unwrap();
    let mut b = Bundle::sh("true");
    b.set("linux.cgroupsPath", json!(format!("/{rel}")));
    let out = rt.create(&id, &b);
    let state_left = rt.root().join(&id).exists();
    std::fs::write(dir.join("freezer.state"), "THAWED").unwrap();
    rt.delete_force(&id);
    remove_test_cgroup(&rel);
    let line = normalize_stderr(out.stderr.lines().last().unwrap_or(""), rt.name());
    (out.code, line, state_left)
});

// A container frozen behind the runtime's back (freezer.state written by someone else)
// between create and start, and then one paused by `pause`: every command answers
// (the harness kills a command that does not within its timeout), none waits on the
// frozen init, and `delete --force` still removes it all.
compare_test!(commands_on_a_frozen_container_all_return, |rt| -> Vec<
    String,
> {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = rt.id("frozenlife");
    rt.create(&id, &b).ok();
    let freezer = cgroup_dir(rt.pid(&id), "freezer");
    std::fs::write(freezer.join("freezer.state"), "FROZEN").unwrap();
    let mut seen = vec![format!("status: {}", rt.status(&id))];
    let mut step = |what: &str, out: Output| {
        let hung = out.stderr.contains("[harness: killed");
        seen.push(format!("{what}: {:?} hung={hung}", out.code));
    };
    step("start", rt.start(&id));
    step("ps", rt.run(&["ps", &id]));
    step("events --stats", rt.run(&["events", "--stats", &id]));
    step("exec", rt.exec(&[&id, "true"]));
    step("update", rt.run(&["update", "--pids-limit", "50", &id]));
    step("kill", rt.kill(&id, "KILL"));
    step("delete -f", rt.delete_force(&id));
    seen.push(format!("state left: {}", rt.root().join(&id).exists()));
    seen.push(format!("cgroup left: {}", freezer.exists()));
    seen
});

compare_test!(v2_create_into_a_frozen_cgroup_is_refused, |rt| -> String {
    let mut b = Bundle::new();
    b.args(&["true"]);
    in_private_v2(
        rt,
        &b,
        "mkdir $CG && echo 1 > $CG/cgroup.freeze; \
         $RT create --bundle $B $ID 2>&1 | tail -1 | sed -e 's/.*msg=\"//' -e 's/\"$//'; \
         echo 0 > $CG/cgroup.freeze; rmdir $CG",
    )
});

// A pod-like parent with a CPU limit: shrinking the period first would make the old quota
// exceed the parent's share (EINVAL); runc then writes the quota first and the period
// again, and so must berth.
compare_test!(cpu_period_update_under_a_limited_parent, |rt| -> (
    Option<i32>,
    Vec<String>
) {
    let id = rt.id("cpuparent");
    let parent = format!("berth-test-{id}");
    let pdir = PathBuf::from("/sys/fs/cgroup/cpu").join(&parent);
    std::fs::create_dir_all(&pdir).unwrap();
    std::fs::write(pdir.join("cpu.cfs_period_us"), "100000").unwrap();
    std::fs::write(pdir.join("cpu.cfs_quota_us"), "50000").unwrap();
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.set("linux.cgroupsPath", json!(format!("/{parent}/ct")));
    b.set(
        "linux.resources",
        json!({"cpu": {"quota": 50000, "period": 100000}}),
    );
    rt.create(&id, &b).ok();
    let out = rt.run(&[
        "update",
        "--cpu-period",
        "50000",
        "--cpu-quota",
        "25000",
        &id,
    ]);
    let got = vec![
        read_cg(rt, &id, "cpu", "cpu.cfs_period_us"),
        read_cg(rt, &id, "cpu", "cpu.cfs_quota_us"),
    ];
    rt.delete_force(&id);
    remove_test_cgroup(&format!("{parent}/ct"));
    remove_test_cgroup(&parent);
    (out.code, got)
});

// `exec --cgroup`: an existing sub-cgroup of the container's, per controller; a path
// that leaves the container's cgroup and a malformed argument are refused.
compare_test!(exec_into_a_sub_cgroup, |rt| -> Vec<String> {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = rt.start_detached(&b);
    let dir = cgroup_dir(rt.pid(&id), "pids").join("sub");
    std::fs::create_dir_all(&dir).unwrap();
    let joined = rt.exec(&[
        "--cgroup",
        "pids:sub",
        &id,
        "grep",
        ":pids:",
        "/proc/self/cgroup",
    ]);
    let escape = rt.exec(&["--cgroup", "pids:../x", &id, "true"]);
    let malformed = rt.exec(&["--cgroup", "a:b:c", &id, "true"]);
    let missing = rt.exec(&["--cgroup", "pids:nonexistent", &id, "true"]);
    let unknown = rt.exec(&["--cgroup", "whaaat:/", &id, "true"]);
    rt.delete_force(&id);
    let _ = std::fs::remove_dir(&dir);
    assert!(
        missing.stderr.contains(" adding pid ")
            && missing.stderr.contains("/nonexistent/cgroup.procs"),
        "{missing:?}"
    );
    vec![
        format!(
            "{:?} {}",
            joined.code,
            joined.stdout.trim_end().ends_with("/sub")
        ),
        format!(
            "{:?} {}",
            escape.code,
            escape.stderr.contains("../x is not a sub cgroup path")
        ),
        format!(
            "{:?} {}",
            malformed.code,
            normalize_stderr(malformed.stderr.trim(), rt.name())
        ),
        format!(
            "{:?} {}",
            unknown.code,
            unknown.stderr.contains("unknown controller whaaat")
        ),
        // runc's words for it, which its tests match.
        format!(
            "{:?} {} {}",
            missing.code,
            missing.stderr.contains(" adding pid "),
            missing
                .stderr
                .contains("/nonexistent/cgroup.procs: no such file ")
        ),
    ]
});

// A cgroupsPath that already holds a process: runc 1.1 goes on with a warning (and a
// second one about its own 1.2, which berth has no reason to print).
compare_test!(create_into_a_non_empty_cgroup_warns, |rt| -> (
    Option<i32>,
    Vec<String>
) {
    let mut holder = Bundle::new();
    holder.args(&["sleep", "1000"]);
    let hid = rt.id("holder");
    let rel = format!("berth-test-{hid}");
    holder.set("linux.cgroupsPath", json!(format!("/{rel}")));
    rt.create(&hid, &holder).ok();
    let mut b = Bundle::sh("true");
    b.set("linux.cgroupsPath", json!(format!("/{rel}")));
    let id = rt.id("joiner");
    let out = rt.create(&id, &b);
    let warnings = out
        .stderr
        .lines()
        .filter(|l| l.contains("level=warning") && l.contains("not empty"))
        .map(|l| normalize_stderr(l, rt.name()))
        .collect();
    rt.delete_force(&id);
    rt.delete_force(&hid);
    remove_test_cgroup(&rel);
    (out.code, warnings)
});

// --systemd-cgroup on a host without systemd (this one): the path's syntax is checked
// first, then one line says systemd is not running, and nothing is left behind.
compare_test!(systemd_driver_without_systemd_fails_cleanly, |rt| -> Vec<(
    Option<i32>,
    String,
    Vec<String>
)> {
    if std::path::Path::new("/run/systemd/system").is_dir() {
        eprintln!("skipped: systemd runs here (the modern-host VM tests the driver)");
        return Vec::new();
    }
    let mut out = Vec::new();
    for path in [
        None,
        Some("system.slice:berth-test:x"),
        Some("bad"),
        Some("nope:p:n"),
    ] {
        let mut b = Bundle::sh("true");
        if let Some(p) = path {
            b.set("linux.cgroupsPath", json!(p));
        }
        let id = rt.id("sd");
        let o = rt.run(&[
            "--systemd-cgroup",
            "run",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ]);
        let line = normalize_stderr(
            &error_message(o.stderr.lines().last().unwrap_or_default()),
            rt.name(),
        );
        out.push((o.code, line, rt.root_entries()));
    }
    out
});

// On cgroup2 the init is cloned straight into its cgroup (clone3 with CLONE_INTO_CGROUP:
// no cgroup.procs write, whose migration waits for an RCU grace period).
berth_only_test!(
    v2_init_is_cloned_into_its_cgroup,
    "berth's own way of placing the init; runc writes cgroup.procs",
    |rt| {
        let mut b = Bundle::new();
        b.args(&["sleep", "1000"]);
        let log = rt.work().join("clone-into.log");
        let out = in_private_v2(
            rt,
            &b,
            &format!(
                "$RT --debug --log {log} run -d --bundle $B $ID >/dev/null; \
                 pid=$($RT state $ID | sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p'); \
                 grep -qx \"$pid\" $CG/cgroup.procs && echo init-in-cgroup; \
                 grep -c 'cloned into its cgroup' {log}",
                log = log.display()
            ),
        );
        assert_eq!(out, "init-in-cgroup\n1", "{out}");
    }
);

// A cgroup2 directory that cannot take processes (a domain controller enabled in its
// subtree_control): clone3 refuses it, berth clones as before and the cgroup.procs write
// says why, in one line; nothing is left.
berth_only_test!(
    v2_clone_into_a_refusing_cgroup_falls_back,
    "berth's own way of placing the init; runc writes cgroup.procs",
    |rt| {
        let mut b = Bundle::new();
        b.args(&["true"]);
        let log = rt.work().join("clone-refused.log");
        let out = in_private_v2(
            rt,
            &b,
            &format!(
                "echo +hugetlb >$ST || exit 98; mkdir $CG && echo +hugetlb >$CG/cgroup.subtree_control || exit 97; \
                 $RT --debug --log {log} create --bundle $B $ID 2>&1 | tail -1 | grep -o 'cgroup.procs.*busy'; \
                 $RT state $ID >/dev/null 2>&1 && echo state-left; \
                 grep -c 'clone3 into the cgroup refused' {log}; \
                 echo -hugetlb >$CG/cgroup.subtree_control; rmdir $CG",
                log = log.display()
            ),
        );
        assert_eq!(out, "cgroup.procs: device or resource busy\n1", "{out}");
    }
);
