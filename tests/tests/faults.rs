//! Fault injection: `berth create` SIGKILLed at each step (`BERTH_FAULT_STEP`, see
//! libcontainer/src/fault.rs) must leave something that `list` shows and
//! `delete --force` removes entirely: no state dir, cgroup dir, process or mount.

use berth_tests::*;

/// Directories named `name` in any cgroup hierarchy (v1 or v2), searched 4 levels deep.
fn cgroup_dirs_named(name: &str) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, name: &str, depth: usize, out: &mut Vec<std::path::PathBuf>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            if e.file_name() == name {
                out.push(e.path());
            } else if depth > 0 {
                walk(&e.path(), name, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(std::path::Path::new("/sys/fs/cgroup"), name, 4, &mut out);
    out
}

/// Pids of live processes whose root is `rootfs` or whose cgroup path mentions `cg`.
fn processes_of(rootfs: &std::path::Path, cg: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i64>() else {
            continue;
        };
        let in_root = std::fs::read_link(e.path().join("root")).is_ok_and(|r| r == rootfs);
        let in_cg = std::fs::read_to_string(e.path().join("cgroup")).is_ok_and(|c| c.contains(cg));
        if (in_root || in_cg) && pid_alive(pid) {
            out.push(pid);
        }
    }
    out
}

/// Mount points under the bundle (the rootfs and its submounts) seen by the host.
fn mounts_under(path: &std::path::Path) -> Vec<String> {
    let p = path.to_str().unwrap();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(4).is_some_and(|m| m.starts_with(p)))
        .map(String::from)
        .collect()
}

/// Create with the runtime killed at `step`, then check that `list` and `delete --force`
/// recover and nothing is left.
fn killed_at(rt: &Runtime, step: &str, hooks: bool) {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = rt.id(&format!("fault-{step}"));
    let cg = format!("berth-fault-{id}");
    b.set("linux.cgroupsPath", json!(format!("/{cg}")));
    b.set("linux.resources", json!({"pids": {"limit": 100}}));
    if hooks {
        b.set(
            "hooks",
            json!({"createRuntime": [{"path": "/bin/true", "args": ["true"]}]}),
        );
    }
    rt.env(libcontainer_fault_env(), step);
    let out = rt.create(&id, &b);
    rt.env(libcontainer_fault_env(), "");
    assert_eq!(out.code, None, "create must die at {step}: {out:?}");

    // list keeps working and shows the half-made container (not yet deleted).
    let listed = rt.list(&["--format", "json"]).ok();
    let parsed: Value = serde_json::from_str(listed.stdout.trim()).expect("list prints JSON");
    let ids: Vec<&str> = parsed
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![id.as_str()], "list after a crash at {step}");
    let table = rt.list(&[] as &[&str]).ok();
    assert!(table.stdout.contains(&id), "{table:?}");

    let del = rt.delete_force(&id);
    assert!(
        del.success(),
        "delete --force after a crash at {step}: {del:?}"
    );
    assert!(
        rt.root_entries().is_empty(),
        "state left: {:?}",
        rt.root_entries()
    );
    assert_eq!(
        cgroup_dirs_named(&cg),
        Vec::<std::path::PathBuf>::new(),
        "cgroup left at {step}"
    );
    let procs = wait_for(std::time::Duration::from_secs(5), || {
        processes_of(&b.rootfs(), &cg).is_empty()
    });
    assert!(
        procs,
        "processes left at {step}: {:?}",
        processes_of(&b.rootfs(), &cg)
    );
    assert_eq!(
        mounts_under(b.path()),
        Vec::<String>::new(),
        "mounts left at {step}"
    );
    let again = rt.list(&["--format", "json"]).ok();
    assert_eq!(again.stdout.trim(), "null");
}

fn libcontainer_fault_env() -> &'static str {
    "BERTH_FAULT_STEP"
}

macro_rules! fault_test {
    ($name:ident, $step:literal, $hooks:literal) => {
        berth_only_test!($name, "BERTH_FAULT_STEP is berth's test hook", |rt| {
            killed_at(rt, $step, $hooks)
        });
    };
}

fault_test!(killed_after_reserve, "reserved", false);
fault_test!(killed_after_first_state_write, "state", false);
fault_test!(killed_after_cgroup, "cgroup", false);
fault_test!(killed_after_clone, "spawned", false);
fault_test!(killed_after_hooks, "hooks", true);
fault_test!(killed_after_init_ready, "ready", false);
fault_test!(killed_after_final_state_write, "written", false);

berth_only_test!(
    unknown_fault_step_is_ignored,
    "BERTH_FAULT_STEP is berth's test hook",
    |rt| {
        let mut b = Bundle::new();
        b.args(&["true"]);
        rt.env("BERTH_FAULT_STEP", "no-such-step");
        let id = rt.id("nofault");
        rt.create(&id, &b).ok();
        rt.delete_force(&id).ok();
        assert!(rt.root_entries().is_empty());
    }
);

// The shim inherits its environment once: BERTH_FAULT_FILE names a file read at every
// step (integration/containerd-faults.sh changes it between cases); absent, no fault.
berth_only_test!(
    fault_step_from_a_file,
    "BERTH_FAULT_FILE is berth's test hook",
    |rt| {
        let mut b = Bundle::new();
        b.args(&["sleep", "1000"]);
        let step_file = b.path().join("fault-step");
        rt.env("BERTH_FAULT_FILE", step_file.to_str().unwrap());
        let id = rt.id("faultfile");
        std::fs::write(&step_file, "cgroup\n").unwrap();
        assert_eq!(rt.create(&id, &b).code, None, "create must die at cgroup");
        rt.delete_force(&id).ok();
        std::fs::remove_file(&step_file).unwrap();
        rt.create(&id, &b).ok();
        rt.delete_force(&id).ok();
        assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
    }
);
