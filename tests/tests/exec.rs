//! `exec` into a running container.

use berth_tests::*;

/// A running `sleep 1000` container; keep the bundle alive (runc's exec chdirs into it).
fn running(rt: &Runtime) -> (Bundle, String) {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.set("hostname", json!("exec-host"));
    let id = rt.start_detached(&b);
    (b, id)
}

runtime_test!(exec_args, |rt| {
    let (_b, id) = running(rt);
    let out = rt.exec(&[&id, "sh", "-c", "hostname; echo $$"]).ok();
    assert_eq!(out.stdout.lines().next(), Some("exec-host"));
    assert_ne!(out.stdout.lines().nth(1), Some("1"));
});

runtime_test!(exec_sees_container_pid_ns, |rt| {
    let (_b, id) = running(rt);
    let out = rt.exec(&[&id, "cat", "/proc/1/cmdline"]).ok();
    assert_eq!(out.stdout, "sleep\x001000\x00");
});

runtime_test!(exec_exit_code, |rt| {
    let (_b, id) = running(rt);
    let out = rt.exec(&[&id, "sh", "-c", "exit 5"]);
    assert_eq!(out.code, Some(5));
});

runtime_test!(exec_missing_executable, |rt| {
    let (_b, id) = running(rt);
    let out = rt.exec(&[&id, "nosuch"]);
    assert_eq!(out.code, Some(255));
    assert_eq!(
        normalize_stderr(&out.stderr, rt.name()),
        "exec failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH"
    );
});

runtime_test!(exec_not_running_fails, |rt| {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = rt.id("execcreated");
    rt.create(&id, &b).ok();
    rt.kill(&id, "KILL").ok();
    rt.wait_status(&id, "stopped");
    let out = rt.exec(&[&id, "true"]).fails();
    assert_eq!(
        normalize_stderr(&out.stderr, rt.name()),
        "exec failed: cannot exec in a stopped container"
    );
    assert_eq!(out.code, Some(255));
});

compare_test!(exec_process_json_without_user, |rt| -> (
    Option<i32>,
    String
) {
    let (_b, id) = running(rt);
    let p = rt.work().join("process.json");
    std::fs::write(
        &p,
        serde_json::to_vec(&json!({
            "args": ["sh", "-c", "id -u; id -g"],
            "env": ["PATH=/bin"],
            "cwd": "/",
        }))
        .unwrap(),
    )
    .unwrap();
    let out = rt.exec(&["--process", p.to_str().unwrap(), &id]);
    (out.code, out.stdout)
});

runtime_test!(exec_process_json, |rt| {
    let (_b, id) = running(rt);
    let p = rt.work().join("process.json");
    std::fs::write(
        &p,
        serde_json::to_vec(&json!({
            "terminal": false,
            "user": {"uid": 1000, "gid": 1000},
            "args": ["sh", "-c", "id -u; pwd; echo $PJ"],
            "env": ["PATH=/bin", "PJ=from-process-json"],
            "cwd": "/tmp",
        }))
        .unwrap(),
    )
    .unwrap();
    let out = rt.exec(&["--process", p.to_str().unwrap(), &id]).ok();
    assert_eq!(out.stdout, "1000\n/tmp\nfrom-process-json\n");
});

runtime_test!(exec_env, |rt| {
    let (_b, id) = running(rt);
    let out = rt
        .exec(&[
            "--env",
            "FOO=bar",
            "--env",
            "BAZ=qux",
            &id,
            "sh",
            "-c",
            "echo $FOO $BAZ",
        ])
        .ok();
    assert_eq!(out.stdout, "bar qux\n");
});

compare_test!(exec_env_overrides_process_env, |rt| -> String {
    let (_b, id) = running(rt);
    rt.exec(&[
        "--env",
        "TERM=dumb",
        "--env",
        "TERM=vt100",
        &id,
        "sh",
        "-c",
        "env | grep -c ^TERM=; echo $TERM",
    ])
    .ok()
    .stdout
});

compare_test!(exec_ignore_paused_is_accepted, |rt| -> (
    Option<i32>,
    String
) {
    let (_b, id) = running(rt);
    let out = rt.exec(&["--ignore-paused", &id, "echo", "ok"]);
    (out.code, out.stdout)
});

runtime_test!(exec_cwd, |rt| {
    let (_b, id) = running(rt);
    assert_eq!(
        rt.exec(&["--cwd", "/etc", &id, "pwd"]).ok().stdout,
        "/etc\n"
    );
});

runtime_test!(exec_user, |rt| {
    let (_b, id) = running(rt);
    assert_eq!(
        rt.exec(&["--user", "1000:1000", &id, "id"]).ok().stdout,
        "uid=1000(user) gid=1000(user)\n"
    );
});

runtime_test!(exec_additional_gids, |rt| {
    let (_b, id) = running(rt);
    let out = rt
        .exec(&[
            "--user",
            "1000:1000",
            "--additional-gids",
            "2000",
            &id,
            "id",
        ])
        .ok();
    assert_eq!(
        out.stdout,
        "uid=1000(user) gid=1000(user) groups=2000(extra)\n"
    );
});

runtime_test!(exec_cap, |rt| {
    let (_b, id) = running(rt);
    let out = rt
        .exec(&[
            "--cap",
            "CAP_CHOWN",
            &id,
            "grep",
            "CapEff",
            "/proc/self/status",
        ])
        .ok();
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["CapEff:", "0000000020000421"]
    );
});

runtime_test!(exec_no_new_privs, |rt| {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.set("process.noNewPrivileges", json!(false));
    let id = rt.start_detached(&b);
    let out = rt
        .exec(&[&id, "grep", "NoNewPrivs", "/proc/self/status"])
        .ok();
    assert!(out.stdout.trim_end().ends_with('0'), "{out:?}");
    let out = rt
        .exec(&[
            "--no-new-privs",
            &id,
            "grep",
            "NoNewPrivs",
            "/proc/self/status",
        ])
        .ok();
    assert!(out.stdout.trim_end().ends_with('1'), "{out:?}");
});

runtime_test!(exec_tty, |rt| {
    let (_b, id) = running(rt);
    let console = ConsoleSocket::new(rt.work());
    let out = rt
        .exec(&[
            "--tty",
            "--detach",
            "--console-socket",
            console.path_str(),
            &id,
            "sh",
            "-c",
            "tty; echo exec-tty",
        ])
        .ok();
    assert_eq!(out.stdout, "");
    let got = console.output();
    assert!(
        got.starts_with("/dev/pts/") && got.ends_with("\nexec-tty\n"),
        "{got:?}"
    );
});

runtime_test!(exec_detach_pid_file, |rt| {
    let (_b, id) = running(rt);
    let pidfile = rt.work().join("exec.pid");
    let t = std::time::Instant::now();
    rt.exec(&[
        "--detach",
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
        "sleep",
        "1000",
    ])
    .ok();
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    let pid: i64 = std::fs::read_to_string(&pidfile).unwrap().parse().unwrap();
    rt.track_pid(pid);
    assert!(pid_alive(pid));
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap(),
        "sleep\x001000\x00"
    );
    // it runs in the container's pid namespace
    let init = rt.pid(&id);
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap(),
        std::fs::read_link(format!("/proc/{init}/ns/pid")).unwrap()
    );
});

runtime_test!(exec_preserve_fds, |rt| {
    use std::os::fd::AsRawFd;
    let (_b, id) = running(rt);
    let p = rt.work().join("fd3");
    std::fs::write(&p, "exec-fd-3").unwrap();
    let f = std::fs::File::open(&p).unwrap();
    let mut cmd = rt.command(&["exec", "--preserve-fds", "1", &id, "sh", "-c", "cat <&3"]);
    cmd.with_fds(vec![(f.as_raw_fd(), 3)]);
    assert_eq!(rt.run_cmd(cmd).ok().stdout, "exec-fd-3");
});

// Exec joins the container's namespaces through an intermediate process, which forks the
// final one and reports its pid on the channel they share. The final process must not
// speak before that report, or the runtime reads its `Ready` where it expects the pid
// ("intermediate process: unexpected Some(Ready)"). A race: many execs, each must work.
runtime_test!(exec_back_to_back, |rt| {
    let (_b, id) = running(rt);
    // Rounds of 4 concurrent execs (the race shows under load), 200 in all.
    for round in 0..50 {
        let children: Vec<_> = (0..4)
            .map(|_| {
                let mut cmd = rt.command(&["exec", id.as_str(), "true"]);
                cmd.stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped());
                cmd.spawn().unwrap()
            })
            .collect();
        for (i, c) in children.into_iter().enumerate() {
            let out = c.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "round {round} exec {i}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
});

// runc's "exec --user with no access to cwd": the container's cwd belongs to its user
// (42, mode 700); `exec --user 0` enters it although root holds no CAP_DAC_OVERRIDE there.
compare_test!(exec_as_root_into_a_cwd_only_its_owner_may_enter, |rt| -> (
    Option<i32>,
    String
) {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.set("process.cwd", json!("/root"));
    b.set("process.user.uid", json!(42));
    let root = b.path().join("rootfs/root");
    std::fs::create_dir_all(&root).unwrap();
    std::os::unix::fs::chown(&root, Some(42), None).unwrap();
    std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let id = rt.start_detached(&b);
    let out = rt.exec(&["--user", "0", &id, "pwd"]);
    (out.code, out.stdout)
});

compare_test!(exec_in_a_paused_container_is_refused, |rt| -> (
    Option<i32>,
    String
) {
    let (_b, id) = running(rt);
    rt.run(&["pause", &id]).ok();
    let out = rt.exec(&[&id, "true"]);
    rt.run(&["resume", &id]).ok();
    (out.code, normalize_stderr(&out.stderr, rt.name()))
});

// process.execCPUAffinity (runtime-spec 1.2.1): the exec'd process ends on `final`; with
// none given it gets every CPU, whatever the runtime was pinned to (runc ≥ 1.3 resets it).
berth_only_test!(
    exec_cpu_affinity,
    "process.execCPUAffinity is runtime-spec 1.2.1: runc 1.1.5 ignores it",
    |rt| {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let last = cpus - 1;
        let mut b = Bundle::new();
        b.args(&["sleep", "30"]);
        b.set(
            "process.execCPUAffinity",
            json!({"initial": "0", "final": format!("{last}")}),
        );
        let id = rt.start_detached(&b);
        let pinned = rt.exec(&[&id, "grep", "Cpus_allowed_list", "/proc/self/status"]);
        assert_eq!(
            pinned.stdout.split_whitespace().nth(1),
            Some(last.to_string().as_str()),
            "{pinned:?}"
        );
        rt.delete_force(&id);

        let mut b = Bundle::new();
        b.args(&["sleep", "30"]);
        let id = rt.start_detached(&b);
        let mut cmd = std::process::Command::new("taskset");
        cmd.args(["-c", "0"])
            .arg(&rt.bin)
            .arg("--root")
            .arg(rt.root());
        cmd.args([
            "exec",
            &id,
            "grep",
            "Cpus_allowed_list",
            "/proc/self/status",
        ]);
        let reset = rt.run_cmd(cmd);
        rt.delete_force(&id);
        let want = if cpus == 1 {
            "0".to_string()
        } else {
            format!("0-{last}")
        };
        assert_eq!(
            reset.stdout.split_whitespace().nth(1),
            Some(want.as_str()),
            "{reset:?}"
        );
    }
);

// linux.memoryPolicy (runtime-spec 1.3): set_mempolicy in the init and in exec'd
// processes; numa_maps shows the policy of each mapping ("bind:0"). A policy the kernel
// would refuse is refused at create, naming the field.
berth_only_test!(
    memory_policy_in_init_and_exec,
    "linux.memoryPolicy is runtime-spec 1.3: runc 1.1.5 ignores it",
    |rt| {
        let mut b = Bundle::new();
        b.args(&["sh", "-c", "head -n1 /proc/self/numa_maps; sleep 30"]);
        b.set(
            "linux.memoryPolicy",
            json!({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
        );
        let id = rt.start_detached(&b);
        let exec = rt.exec(&[&id, "head", "-n1", "/proc/self/numa_maps"]);
        rt.delete_force(&id);
        assert!(exec.stdout.contains(" bind=static:0 "), "{exec:?}");

        let mut bad = Bundle::sh("true");
        bad.set("linux.memoryPolicy", json!({"mode": "MPOL_BIND"}));
        let id = rt.id("badmpol");
        let out = rt.create(&id, &bad).fails();
        assert!(
            out.stderr.contains(
                "linux.memoryPolicy.nodes: memory policy mode MPOL_BIND requires at least one node"
            ),
            "{out:?}"
        );
        assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
    }
);
