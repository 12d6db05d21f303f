//! State durability (short tests), and the long runs behind `make reliability`
//! (`#[ignore]`d here): churn of 1,000 containers with leak counts, 65,536 mounts.

use std::time::{Duration, Instant};

use berth_tests::*;

/// A created container whose state file is then replaced by `text`.
fn with_state(rt: &Runtime, text: &[u8]) -> (String, Bundle, i64) {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = rt.id("durable");
    rt.create(&id, &b).ok();
    let pid = rt.pid(&id);
    std::fs::write(rt.root().join(&id).join("state.json"), text).unwrap();
    (id, b, pid)
}

/// `list` works and skips the broken container, `state` refuses it with one line,
/// `delete --force` removes it and kills its init.
fn unreadable_state(rt: &Runtime, text: &[u8], expect: &str) {
    let (id, _b, pid) = with_state(rt, text);
    let list = rt.list(&["--format", "json"]).ok();
    assert_eq!(list.stdout.trim(), "null", "{list:?}");
    rt.list(&[] as &[&str]).ok();
    let state = rt.run(&["state", &id]).fails();
    let m = normalize_stderr(&state.stderr, rt.name());
    assert!(!m.contains('\n') && m.contains(expect), "{m}");
    rt.delete(&id).fails();
    let del = rt.delete_force(&id);
    assert!(del.success(), "{del:?}");
    assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
    assert!(
        wait_for(Duration::from_secs(5), || !pid_alive(pid)),
        "init {pid} survived delete --force"
    );
}

berth_only_test!(torn_state_file, "berth's state format", |rt| {
    unreadable_state(
        rt,
        b"{\"version\":1,\"id\":\"x\",\"bund",
        "EOF while parsing",
    )
});

berth_only_test!(garbage_state_file, "berth's state format", |rt| {
    unreadable_state(rt, b"\x00\xff garbage \x7f", "expected value")
});

berth_only_test!(empty_state_file, "berth's state format", |rt| {
    unreadable_state(rt, b"", "EOF while parsing")
});

berth_only_test!(
    state_from_another_format_version,
    "berth's state format",
    |rt| {
        unreadable_state(
            rt,
            br#"{"version":99,"id":"x","pid":1,"future":{"layout":true}}"#,
            "(format 99, this <rt> reads 1)",
        )
    }
);

berth_only_test!(
    state_without_version_is_refused,
    "berth's state format",
    |rt| {
        unreadable_state(
            rt,
            br#"{"id":"x","pid":1}"#,
            "(format 0, this <rt> reads 1)",
        )
    }
);

berth_only_test!(
    temp_file_left_between_write_and_rename,
    "berth's state format",
    |rt| {
        // A crash between write and rename leaves `.state.json.tmp-<pid>` beside the
        // intact old state.json: the container still reads, starts and deletes.
        let mut b = Bundle::new();
        b.args(&["sleep", "1000"]);
        let id = rt.id("tmpleft");
        rt.create(&id, &b).ok();
        let dir = rt.root().join(&id);
        std::fs::write(dir.join(".state.json.tmp-99999"), b"{\"version\":1,\"id\":").unwrap();
        assert_eq!(rt.status(&id), "created");
        rt.start(&id).ok();
        rt.wait_status(&id, "running");
        let list = rt.list(&["--format", "json"]).ok();
        assert!(list.stdout.contains(&id), "{list:?}");
        rt.delete_force(&id).ok();
        assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
    }
);

berth_only_test!(stray_file_in_state_root, "berth's state root", |rt| {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = rt.id("stray");
    rt.create(&id, &b).ok();
    std::fs::write(rt.root().join("not-a-container"), b"x").unwrap();
    std::fs::create_dir(rt.root().join("empty-dir")).unwrap();
    let list = rt.list(&["-q"]).ok();
    assert_eq!(list.stdout, format!("empty-dir\n{id}\n"));
    rt.delete_force("empty-dir").ok();
    rt.delete_force(&id).ok();
    std::fs::remove_file(rt.root().join("not-a-container")).unwrap();
    assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
});

// ---- long runs (make reliability) ----

/// What a node has that a leaking runtime would grow.
#[derive(Debug, PartialEq, Eq, Clone)]
struct Footprint {
    mounts: usize,
    cgroup_dirs: usize,
    processes: usize,
    state_entries: usize,
    our_fds: usize,
}

/// Cgroup directories of this test's containers (named after their ids), 4 levels
/// deep: the whole tree changes with other users' containers on a shared machine.
fn count_dirs(dir: &std::path::Path, depth: usize) -> usize {
    let ours = format!("-{}-", std::process::id());
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let mine = usize::from(name.starts_with("churn") && name.contains(&ours));
                    mine + if depth > 0 {
                        count_dirs(&e.path(), depth - 1)
                    } else {
                        0
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

fn footprint(rt: &Runtime) -> Footprint {
    Footprint {
        mounts: our_mounts(),
        cgroup_dirs: count_dirs(std::path::Path::new("/sys/fs/cgroup"), 4),
        processes: our_processes(),
        state_entries: rt.root_entries().len(),
        our_fds: std::fs::read_dir("/proc/self/fd").unwrap().count(),
    }
}

/// Mounts of this test: under its temp dirs (bundles, state roots) or naming its
/// containers. The whole table moves with other users' containers on a shared machine.
fn our_mounts() -> usize {
    let ours = format!("-{}-", std::process::id());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&ours) && (l.contains("berth-test-") || l.contains("churn")))
        .count()
}

/// Live processes in this test's containers' cgroups or children of this test: other
/// users' processes on a shared machine would make a global count meaningless.
fn our_processes() -> usize {
    let ours = format!("-{}-", std::process::id());
    let me = format!(") S {} ", std::process::id());
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            let cg = std::fs::read_to_string(e.path().join("cgroup")).unwrap_or_default();
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            // Zombies are not counted: a killed init is reparented to pid 1, which reaps it
            // (in some sandboxes pid 1 never does; that is not ours to fix).
            let zombie = stat
                .rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'));
            let hit = !zombie && (cg.contains(&ours) || stat.contains(&me));
            if hit && std::env::var_os("CHURN_DEBUG").is_some() {
                eprintln!("process {stat}");
            }
            hit
        })
        .count()
}

fn mem_available_kib() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One container's life: create, start, exec, kill, delete.
fn life(rt: &Runtime, b: &Bundle, n: usize) {
    let id = rt.id(&format!("churn{n}"));
    let bundle = b.path().to_str().unwrap();
    rt.run(&["create", "--bundle", bundle, &id]).ok();
    rt.start(&id).ok();
    let out = rt.exec(&[id.as_str(), "echo", "hi"]).ok();
    assert_eq!(out.stdout.trim(), "hi");
    rt.kill(&id, "KILL").ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).ok();
}

#[test]
#[ignore = "long: make reliability"]
fn churn_1000() {
    let rt = &Runtime::berth();
    {
        let total: usize = std::env::var("CHURN")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000);
        let mut b = Bundle::new();
        b.args(&["sleep", "1000"]);
        b.set("linux.resources", json!({"pids": {"limit": 50}}));
        b.write();
        // Warm-up: the first container settles caches (cgroup parents, dentries).
        life(rt, &b, 0);
        let before = footprint(rt);
        let mem_before = mem_available_kib();
        let start = Instant::now();
        let next = std::sync::atomic::AtomicUsize::new(1);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    // Runtime is not Sync: each worker has its own handle and state root.
                    let worker = Runtime::berth();
                    loop {
                        let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if n > total {
                            break;
                        }
                        life(&worker, &b, n);
                    }
                    assert!(
                        worker.root_entries().is_empty(),
                        "{:?}",
                        worker.root_entries()
                    );
                });
            }
        });
        let took = start.elapsed();
        let after = footprint(rt);
        let mem_after = mem_available_kib();
        eprintln!(
            "churn: {total} containers in {took:.1?} ({:.1} ms each, 2 at a time)\n before: {before:?}\n after:  {after:?}\n MemAvailable: {mem_before} kB -> {mem_after} kB ({:+} kB)",
            took.as_secs_f64() * 1000.0 / total as f64,
            mem_after - mem_before
        );
        assert_eq!(after.mounts, before.mounts, "mounts leaked");
        assert_eq!(after.cgroup_dirs, before.cgroup_dirs, "cgroup dirs leaked");
        assert_eq!(after.state_entries, 0, "state entries leaked");
        assert_eq!(after.our_fds, before.our_fds, "fds leaked");
        assert_eq!(after.processes, before.processes, "processes leaked");
    }
}

#[test]
#[ignore = "long: make reliability"]
fn mounts_65536() {
    let rt = &Runtime::berth();
    {
        let mut b = Bundle::new();
        b.args(&["true"]);
        b.with(|c| {
            let mounts = c["mounts"].as_array_mut().unwrap();
            for i in 0..65536 {
                mounts.push(json!({"destination": format!("/tmp/m{i}"), "type": "bind",
                    "source": "/dev/null", "options": ["bind"]}));
            }
        });
        b.write();
        let id = rt.id("mounts");
        let start = Instant::now();
        let mut cmd = rt.command(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        let status = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        eprintln!(
            "65,536 mounts: create {status} after {:.1?}",
            start.elapsed()
        );
        rt.delete_force(&id).ok();
        assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
        let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mi.contains(b.path().to_str().unwrap()), "mount left");
    }
}
