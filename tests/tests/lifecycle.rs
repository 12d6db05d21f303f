//! Container lifecycle: create/start/state/kill/delete/run/list, as runc does them.

use berth_tests::*;

fn sleeper() -> Bundle {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b
}

fn bpath(b: &Bundle) -> &str {
    b.path().to_str().unwrap()
}

runtime_test!(create_reports_created, |rt| {
    let b = sleeper();
    let id = rt.id("create");
    rt.create(&id, &b).ok();
    let st = rt.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    let pid = st["pid"].as_i64().unwrap();
    assert!(
        pid > 0 && pid_alive(pid),
        "created container has a live init: {st}"
    );
});

runtime_test!(state_json_has_runc_keys, |rt| {
    let b = sleeper();
    let id = rt.id("keys");
    rt.create(&id, &b).ok();
    let out = rt.run(&["state", &id]).ok();
    let st: Value = serde_json::from_str(&out.stdout).unwrap();
    let mut keys: Vec<&str> = st.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "bundle",
            "created",
            "id",
            "ociVersion",
            "owner",
            "pid",
            "rootfs",
            "status"
        ]
    );
    assert_eq!(st["ociVersion"], rt.oci_version());
    assert_eq!(st["bundle"], bpath(&b));
    assert_eq!(st["rootfs"], b.rootfs().to_str().unwrap());
    assert_eq!(st["owner"], "");
    // runc prints the state indented with two spaces, keys in this order, no final newline.
    let order: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  \"").and_then(|r| r.split('"').next()))
        .collect();
    assert_eq!(
        order,
        [
            "ociVersion",
            "id",
            "pid",
            "status",
            "bundle",
            "rootfs",
            "created",
            "owner"
        ]
    );
    assert!(
        out.stdout.starts_with("{\n  \"ociVersion\""),
        "{:?}",
        out.stdout
    );
    assert!(
        out.stdout.ends_with('}'),
        "no trailing newline after state JSON: {:?}",
        out.stdout
    );
});

runtime_test!(state_json_has_annotations, |rt| {
    let mut b = sleeper();
    b.set("annotations", json!({"org.example/a": "b"}));
    let id = rt.id("annot");
    rt.create(&id, &b).ok();
    let out = rt.run(&["state", &id]).ok();
    let st: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(st["annotations"], json!({"org.example/a": "b"}));
    let order: Vec<&str> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("  \"").and_then(|r| r.split('"').next()))
        .collect();
    assert_eq!(
        order,
        [
            "ociVersion",
            "id",
            "pid",
            "status",
            "bundle",
            "rootfs",
            "created",
            "annotations",
            "owner"
        ]
    );
});

compare_test!(state_json_matches_runc, |rt| -> Vec<Value> {
    let mut b = Bundle::sh("exit 0");
    b.set("annotations", json!({"k": "v"}));
    let id = rt.id("cmpstate");
    rt.create(&id, &b).ok();
    let created = normalize_state(&rt.state(&id), b.path());
    rt.start(&id).ok();
    rt.wait_status(&id, "stopped");
    let stopped = normalize_state(&rt.state(&id), b.path());
    vec![created, stopped]
});

runtime_test!(start_makes_running, |rt| {
    let b = sleeper();
    let id = rt.id("start");
    rt.create(&id, &b).ok();
    let out = rt.start(&id).ok();
    assert_eq!(out.stdout, "");
    assert_eq!(rt.status(&id), "running");
});

runtime_test!(start_twice_fails, |rt| {
    let b = sleeper();
    let id = rt.start_detached(&b);
    let out = rt.start(&id).fails();
    assert_eq!(
        normalize_stderr(&out.stderr, rt.name()),
        "cannot start an already running container"
    );
});

runtime_test!(exited_is_stopped_with_pid_0, |rt| {
    let b = Bundle::sh("exit 0");
    let id = rt.id("stopped");
    rt.create(&id, &b).ok();
    let pid = rt.pid(&id);
    rt.start(&id).ok();
    rt.wait_status(&id, "stopped");
    assert_eq!(rt.state(&id)["pid"], 0);
    assert!(!pid_alive(pid), "init {pid} reaped");
});

runtime_test!(delete_removes_state, |rt| {
    let b = Bundle::sh("exit 0");
    let id = rt.id("del");
    rt.create(&id, &b).ok();
    rt.start(&id).ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).ok();
    assert!(
        rt.root_entries().is_empty(),
        "state dir left: {:?}",
        rt.root_entries()
    );
    let out = rt.run(&["state", &id]).fails();
    assert!(out.stderr.contains("container does not exist"), "{out:?}");
});

runtime_test!(delete_created_kills_init, |rt| {
    let b = sleeper();
    let id = rt.id("delcreated");
    rt.create(&id, &b).ok();
    let pid = rt.pid(&id);
    rt.delete(&id).ok();
    assert!(wait_for(std::time::Duration::from_secs(5), || !pid_alive(
        pid
    )));
    assert!(rt.root_entries().is_empty());
});

runtime_test!(delete_running_without_force_fails, |rt| {
    let b = sleeper();
    let id = rt.start_detached(&b);
    let out = rt.delete(&id).fails();
    assert_eq!(out.code, Some(1));
    assert_eq!(
        normalize_stderr(&out.stderr, rt.name()),
        format!("cannot delete container {id} that is not stopped: running")
    );
    assert_eq!(rt.status(&id), "running");
});

runtime_test!(delete_force_running, |rt| {
    let b = sleeper();
    let id = rt.start_detached(&b);
    let pid = rt.pid(&id);
    rt.delete_force(&id).ok();
    assert!(
        wait_for(std::time::Duration::from_secs(5), || !pid_alive(pid)),
        "pid {pid} still alive"
    );
    assert!(
        rt.root_entries().is_empty(),
        "state dir left: {:?}",
        rt.root_entries()
    );
});

runtime_test!(delete_force_unknown_succeeds, |rt| {
    let out = rt.run(&["delete", "--force", "no-such-container"]);
    assert!(
        out.success(),
        "delete --force of a missing container is not an error: {out:?}"
    );
});

runtime_test!(run_returns_exit_code, |rt| {
    let b = Bundle::sh("echo out; echo err >&2; exit 3");
    let (code, out, err) = rt.run_container(&b);
    assert_eq!(code, 3);
    assert_eq!(out, "out\n");
    assert_eq!(err, "err\n");
});

runtime_test!(run_exit_zero, |rt| {
    let (code, out, _) = rt.run_container(&Bundle::sh("echo hello"));
    assert_eq!((code, out.as_str()), (0, "hello\n"));
});

runtime_test!(run_removes_state_after_exit, |rt| {
    let b = Bundle::sh("echo ran");
    b.write();
    let id = rt.id("runrm");
    assert_eq!(
        rt.run(&["run", "--bundle", bpath(&b), &id]).ok().stdout,
        "ran\n"
    );
    assert!(
        rt.root_entries().is_empty(),
        "run without --keep deletes: {:?}",
        rt.root_entries()
    );
});

runtime_test!(run_detach, |rt| {
    let b = sleeper();
    b.write();
    let id = rt.id("detach");
    let out = rt
        .run(&["run", "--detach", "--bundle", bpath(&b), &id])
        .ok();
    assert_eq!(out.stdout, "");
    assert_eq!(rt.status(&id), "running");
    let id2 = rt.id("detach-d");
    rt.run(&["run", "-d", "--bundle", bpath(&b), &id2]).ok();
    assert_eq!(rt.status(&id2), "running");
});

runtime_test!(run_keep, |rt| {
    let b = Bundle::sh("exit 4");
    b.write();
    let id = rt.id("keep");
    let out = rt.run(&["run", "--keep", "--bundle", bpath(&b), &id]);
    assert_eq!(out.code, Some(4));
    assert_eq!(rt.state(&id)["status"], "stopped");
    rt.delete(&id).ok();
});

// runc's `run --no-subreaper` (podman and scripts pass it): taken, and the exit status
// is still the container's.
runtime_test!(run_no_subreaper, |rt| {
    let b = Bundle::sh("exit 3");
    b.write();
    let id = rt.id("nosubreaper");
    let out = rt.run(&["run", "--no-subreaper", "--bundle", bpath(&b), &id]);
    assert_eq!(out.code, Some(3), "{}", out.stderr);
});

runtime_test!(options_after_id, |rt| {
    let b = sleeper();
    b.write();
    let id = rt.id("optafter");
    let pidfile = rt.work().join("pid");
    rt.run(&[
        "create",
        &id,
        "--bundle",
        bpath(&b),
        "--pid-file",
        pidfile.to_str().unwrap(),
    ])
    .ok();
    assert_eq!(rt.status(&id), "created");
    assert!(pidfile.exists());
});

runtime_test!(pid_file, |rt| {
    let b = sleeper();
    b.write();
    let id = rt.id("pidfile");
    let pidfile = rt.work().join("container.pid");
    rt.run(&[
        "create",
        "--pid-file",
        pidfile.to_str().unwrap(),
        "--bundle",
        bpath(&b),
        &id,
    ])
    .ok();
    let content = std::fs::read_to_string(&pidfile).unwrap();
    // runc writes the bare number, no newline.
    assert_eq!(content, rt.pid(&id).to_string());
});

runtime_test!(pid_file_relative_to_cwd, |rt| {
    let b = sleeper();
    b.write();
    let id = rt.id("pidrel");
    let mut cmd = rt.command(&[
        "create",
        "--pid-file",
        "rel.pid",
        "--bundle",
        bpath(&b),
        &id,
    ]);
    cmd.current_dir(rt.work());
    rt.run_cmd(cmd).ok();
    assert_eq!(
        std::fs::read_to_string(rt.work().join("rel.pid")).unwrap(),
        rt.pid(&id).to_string()
    );
});

runtime_test!(list_empty_table, |rt| {
    let out = rt.list::<&str>(&[]).ok();
    assert_eq!(
        out.stdout,
        "ID          PID         STATUS      BUNDLE      CREATED     OWNER\n"
    );
});

runtime_test!(list_empty_json_is_null, |rt| {
    let out = rt.list(&["--format", "json"]).ok();
    assert_eq!(out.stdout.trim_end(), "null");
});

/// Go's tabwriter as runc uses it: minwidth 12, padding 3, spaces; the last column unpadded.
fn tabwriter(rows: &[Vec<String>]) -> String {
    let cols = rows[0].len();
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].len() + 3).max().unwrap().max(12))
        .collect();
    let mut s = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        s.push('\n');
    }
    s
}

runtime_test!(list_table, |rt| {
    let b = sleeper();
    let id = rt.id("list");
    rt.create(&id, &b).ok();
    let st = rt.state(&id);
    let out = rt.list::<&str>(&[]).ok();
    let rows = vec![
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
            .map(String::from)
            .to_vec(),
        vec![
            id.clone(),
            st["pid"].to_string(),
            "created".into(),
            bpath(&b).into(),
            st["created"].as_str().unwrap().into(),
            "root".into(),
        ],
    ];
    assert_eq!(out.stdout, tabwriter(&rows));
});

compare_test!(list_json_keys_in_runcs_order, |rt| -> Vec<String> {
    let b = sleeper();
    let id = rt.id("listorder");
    rt.create(&id, &b).ok();
    let out = rt.list(&["--format", "json"]).ok();
    // The keys as printed, in order (clients that parse loosely do not care; diffs do).
    out.stdout
        .split('"')
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[1].starts_with(':'))
        .map(|w| w[0].to_string())
        .collect()
});

runtime_test!(list_json, |rt| {
    let b = sleeper();
    let id = rt.id("listjson");
    rt.create(&id, &b).ok();
    let st = rt.state(&id);
    let out = rt.list(&["--format", "json"]).ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    let arr = v.as_array().expect("array");
    assert_eq!(arr.len(), 1);
    let e = &arr[0];
    let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "bundle",
            "created",
            "id",
            "ociVersion",
            "owner",
            "pid",
            "rootfs",
            "status"
        ]
    );
    assert_eq!(e["id"], id.as_str());
    assert_eq!(e["pid"], st["pid"]);
    assert_eq!(e["status"], "created");
    assert_eq!(
        e["owner"], "root",
        "list shows the owner's name, state shows \"\""
    );
    // compact, one line
    assert!(!out.stdout.trim_end().contains('\n'));
});

runtime_test!(list_quiet, |rt| {
    let b = sleeper();
    let id1 = rt.id("q");
    let id2 = rt.id("q");
    rt.create(&id1, &b).ok();
    rt.create(&id2, &b).ok();
    let mut expected = [id1.clone(), id2.clone()];
    expected.sort();
    let out = rt.list(&["-q"]).ok();
    assert_eq!(out.stdout, format!("{}\n", expected.join("\n")));
    let out = rt.list(&["--quiet"]).ok();
    assert_eq!(out.stdout, format!("{}\n", expected.join("\n")));
});

fn kill_with(rt: &Runtime, signal: &str) {
    let b = sleeper();
    let id = rt.start_detached(&b);
    rt.kill(&id, signal).ok();
    rt.wait_status(&id, "stopped");
}

runtime_test!(kill_by_name, |rt| { kill_with(rt, "KILL") });
runtime_test!(kill_by_sig_name, |rt| { kill_with(rt, "SIGKILL") });
runtime_test!(kill_by_number, |rt| { kill_with(rt, "9") });

runtime_test!(kill_term_reaches_handler, |rt| {
    let b = Bundle::sh("trap 'exit 0' TERM; while true; do sleep 0.1; done");
    let id = rt.start_detached(&b);
    rt.kill(&id, "TERM").ok();
    rt.wait_status(&id, "stopped");
});

runtime_test!(kill_default_is_term, |rt| {
    let b = Bundle::sh("trap 'exit 0' TERM; while true; do sleep 0.1; done");
    let id = rt.start_detached(&b);
    rt.run(&["kill", &id]).ok();
    rt.wait_status(&id, "stopped");
});

runtime_test!(kill_created_container, |rt| {
    let b = sleeper();
    let id = rt.id("killcreated");
    rt.create(&id, &b).ok();
    rt.kill(&id, "KILL").ok();
    rt.wait_status(&id, "stopped");
});

runtime_test!(kill_stopped_fails, |rt| {
    let b = Bundle::sh("exit 0");
    let id = rt.id("killstopped");
    rt.create(&id, &b).ok();
    rt.start(&id).ok();
    rt.wait_status(&id, "stopped");
    let out = rt.kill(&id, "KILL").fails();
    assert_eq!(
        normalize_stderr(&out.stderr, rt.name()),
        "container not running"
    );
});

runtime_test!(kill_all, |rt| {
    let b = sleeper();
    let id = rt.start_detached(&b);
    let pidfile = rt.work().join("exec.pid");
    rt.exec(&[
        "--detach",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "sleep",
        "1000",
    ])
    .ok();
    let exec_pid: i64 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    rt.track_pid(exec_pid);
    assert!(pid_alive(exec_pid));
    rt.run(&["kill", "--all", &id, "KILL"]).ok();
    rt.wait_status(&id, "stopped");
    assert!(
        wait_for(std::time::Duration::from_secs(5), || !pid_alive(exec_pid)),
        "exec'd process survived --all"
    );
});

// A config without a process: the runtime spec lets `create` take it and has `start`
// fail ("process ... REQUIRED when start is called"); `delete` then removes it all.
berth_only_test!(
    create_without_process_start_refuses,
    "runc 1.1.5 refuses such a config at create",
    |rt| {
        let mut b = Bundle::new();
        b.remove("process");
        let id = rt.id("noproc");
        rt.create(&id, &b).ok();
        assert_eq!(rt.status(&id), "created");
        let out = rt.start(&id).fails();
        assert!(out.stderr.contains("process: not set"), "{out:?}");
        assert_eq!(rt.status(&id), "created");
        rt.delete(&id).ok();
        assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
    }
);
