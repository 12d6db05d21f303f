//! `berth check` against `berth create`: a catalogue of bundles, each broken in one
//! field. `check` must exit 1 and name that field's JSON path; `create` must fail and
//! leave nothing behind. Good bundles: `check` exits 0 and `create` succeeds.

use std::path::Path;

use berth_tests::*;

/// One broken bundle: the JSON path `check` must name, and the edit that breaks it.
struct Case {
    field: &'static str,
    edit: fn(&mut Bundle),
}

fn cases() -> Vec<Case> {
    fn mount(b: &mut Bundle, m: Value) {
        b.push("mounts", m);
    }
    fn hook(b: &mut Bundle, kind: &str, path: &str) {
        b.set(&format!("hooks.{kind}"), json!([{ "path": path }]));
    }
    fn resources(b: &mut Bundle, key: &str, v: Value) {
        b.set(&format!("linux.resources.{key}"), v);
    }
    fn file_in(b: &Bundle, name: &str, text: &str, mode: u32) -> String {
        use std::os::unix::fs::PermissionsExt;
        let path = b.path().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path.to_str().unwrap().to_string()
    }
    fn userns(b: &mut Bundle) {
        b.namespace("user", None);
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        b.set("linux.uidMappings", map.clone());
        b.set("linux.gidMappings", map);
    }
    vec![
        // What `create`'s own spec checks refuse.
        Case {
            field: "process.args",
            edit: |b| {
                b.set("process.args", json!([]));
            },
        },
        Case {
            field: "process.cwd",
            edit: |b| {
                b.set("process.cwd", json!("relative/dir"));
            },
        },
        Case {
            field: "process.env[2]",
            edit: |b| {
                b.push("process.env", json!("NOEQUALS"));
            },
        },
        Case {
            field: "root.path",
            edit: |b| {
                b.set("root.path", json!("no-such-rootfs"));
            },
        },
        Case {
            field: "hostname",
            edit: |b| {
                b.without_namespace("uts");
            },
        },
        Case {
            field: "domainname",
            edit: |b| {
                b.without_namespace("uts").remove("hostname");
                b.set("domainname", json!("example"));
            },
        },
        Case {
            field: "linux.namespaces[5]",
            edit: |b| {
                b.push("linux.namespaces", json!({"type": "pid"}));
            },
        },
        Case {
            field: "linux.maskedPaths",
            edit: |b| {
                b.without_namespace("mount");
            },
        },
        Case {
            field: "linux.uidMappings",
            edit: |b| {
                b.namespace("user", None);
            },
        },
        Case {
            field: "linux.gidMappings",
            edit: |b| {
                b.namespace("user", None);
                b.set(
                    "linux.uidMappings",
                    json!([{"containerID": 0, "hostID": 100000, "size": 65536}]),
                );
            },
        },
        Case {
            field: "linux.sysctl.net.ipv4.ip_forward",
            edit: |b| {
                b.without_namespace("network");
                b.set("linux.sysctl", json!({"net.ipv4.ip_forward": "1"}));
            },
        },
        Case {
            field: "linux.sysctl.kernel.msgmax",
            edit: |b| {
                b.without_namespace("ipc");
                b.set("linux.sysctl", json!({"kernel.msgmax": "8192"}));
            },
        },
        Case {
            field: "linux.sysctl.vm.swappiness",
            edit: |b| {
                b.set("linux.sysctl", json!({"vm.swappiness": "10"}));
            },
        },
        Case {
            field: "linux.resources.hugepageLimits[0].pageSize",
            edit: |b| {
                resources(
                    b,
                    "hugepageLimits",
                    json!([{"pageSize": "2XB", "limit": 4194304}]),
                )
            },
        },
        Case {
            field: "linux.timeOffsets",
            edit: |b| {
                b.set("linux.timeOffsets", json!({"monotonic": {"secs": 10}}));
            },
        },
        Case {
            field: "mounts[7].destination",
            edit: |b| {
                mount(
                    b,
                    json!({"destination": "", "type": "tmpfs", "source": "tmpfs"}),
                )
            },
        },
        Case {
            field: "process.selinuxLabel",
            edit: |b| {
                b.set(
                    "process.selinuxLabel",
                    json!("system_u:system_r:container_t:s0"),
                );
            },
        },
        // What config.json's types refuse (the parse error's path).
        Case {
            field: "linux.resources.pids.limit",
            edit: |b| resources(b, "pids", json!({"limit": "100"})),
        },
        Case {
            field: "process.rlimits[0].hard",
            edit: |b| {
                b.set("process.rlimits.0.hard", json!(-1));
            },
        },
        Case {
            field: "process.capabilities.bounding",
            edit: |b| {
                b.push("process.capabilities.bounding", json!("CAP_NO_SUCH"));
            },
        },
        // What only the host (or the kernel at create) refuses.
        Case {
            field: "process.args[0]",
            edit: |b| {
                b.args(&["no-such-program"]);
            },
        },
        Case {
            field: "process.apparmorProfile",
            edit: |b| {
                b.set("process.apparmorProfile", json!("berth-test-profile"));
            },
        },
        Case {
            field: "process.rlimits[0].soft",
            edit: |b| {
                b.set("process.rlimits.0.soft", json!(4096));
            },
        },
        Case {
            field: "process.oomScoreAdj",
            edit: |b| {
                b.set("process.oomScoreAdj", json!(5000));
            },
        },
        Case {
            field: "process.ioPriority.priority",
            edit: |b| {
                b.set(
                    "process.ioPriority",
                    json!({"class": "IOPRIO_CLASS_BE", "priority": 9}),
                );
            },
        },
        Case {
            field: "process.user.uid",
            edit: |b| {
                userns(b);
                b.set("process.user.uid", json!(70000));
            },
        },
        Case {
            field: "process.user.gid",
            edit: |b| {
                userns(b);
                b.set("process.user.gid", json!(70000));
            },
        },
        Case {
            field: "linux.namespaces[4].path",
            edit: |b| {
                b.namespace("ipc", Some("/proc/no-such-pid/ns/ipc"));
            },
        },
        Case {
            field: "hooks.prestart[0].path",
            edit: |b| hook(b, "prestart", "/no/such/hook"),
        },
        Case {
            field: "hooks.createRuntime[0].path",
            edit: |b| {
                let path = file_in(b, "hook-not-executable", "#!/bin/sh\n", 0o644);
                hook(b, "createRuntime", &path);
            },
        },
        Case {
            field: "hooks.createContainer[0].path",
            // Executable, but neither a script nor a binary: execve says ENOEXEC.
            edit: |b| {
                let path = file_in(b, "hook-not-a-program", "hello\n", 0o755);
                hook(b, "createContainer", &path);
            },
        },
        Case {
            field: "mounts[7].source",
            edit: |b| {
                mount(
                    b,
                    json!({"destination": "/data", "type": "bind", "source": "/no/such/source", "options": ["rbind"]}),
                )
            },
        },
        Case {
            field: "mounts[7].type",
            edit: |b| {
                mount(
                    b,
                    json!({"destination": "/data", "type": "nosuchfs", "source": "none"}),
                )
            },
        },
        Case {
            field: "mounts[7].options",
            edit: |b| {
                mount(
                    b,
                    json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["idmap"],
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}),
                )
            },
        },
        Case {
            field: "mounts[7]",
            // procfs does not take an idmap.
            edit: |b| {
                mount(
                    b,
                    json!({"destination": "/hostproc", "type": "bind", "source": "/proc", "options": ["rbind", "idmap"],
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}),
                )
            },
        },
        Case {
            field: "linux.rootfsPropagation",
            edit: |b| {
                b.set("linux.rootfsPropagation", json!("sideways"));
            },
        },
        Case {
            field: "linux.devices[0]",
            edit: |b| {
                b.set(
                    "linux.devices",
                    json!([{"path": "/dev/all", "type": "a", "major": 1, "minor": 3}]),
                );
            },
        },
        Case {
            field: "linux.resources.devices[1]",
            edit: |b| {
                b.push(
                    "linux.resources.devices",
                    json!({"allow": true, "type": "p", "access": "rwm"}),
                );
            },
        },
        Case {
            field: "linux.sysctl.net.ipv4.no_such_key",
            edit: |b| {
                b.set("linux.sysctl", json!({"net.ipv4.no_such_key": "1"}));
            },
        },
        Case {
            field: "linux.cgroupsPath",
            edit: |b| {
                b.set("linux.cgroupsPath", json!("/"));
            },
        },
        Case {
            field: "linux.resources.memory.limit",
            edit: |b| resources(b, "memory", json!({"limit": 1000})),
        },
        Case {
            field: "linux.resources.memory.swappiness",
            edit: |b| resources(b, "memory", json!({"swappiness": 200})),
        },
        Case {
            field: "linux.resources.memory.swap",
            edit: |b| resources(b, "memory", json!({"limit": 67108864, "swap": 33554432})),
        },
        Case {
            field: "linux.resources.unified",
            edit: |b| resources(b, "unified", json!({"memory.high": "67108864"})),
        },
        Case {
            field: "linux.resources.cpu.cpus",
            edit: |b| resources(b, "cpu", json!({"cpus": "0-511"})),
        },
        Case {
            field: "linux.resources.cpu.mems",
            edit: |b| resources(b, "cpu", json!({"mems": "63"})),
        },
        Case {
            field: "linux.resources.cpu.shares",
            edit: |b| resources(b, "cpu", json!({"shares": 1})),
        },
        Case {
            field: "linux.resources.cpu.period",
            edit: |b| resources(b, "cpu", json!({"period": 10})),
        },
        Case {
            field: "linux.resources.cpu.quota",
            edit: |b| resources(b, "cpu", json!({"quota": 10, "period": 100000})),
        },
        Case {
            field: "linux.resources.cpu.realtimeRuntime",
            edit: |b| resources(b, "cpu", json!({"realtimeRuntime": 5000000})),
        },
        Case {
            field: "linux.resources.rdma",
            edit: |b| resources(b, "rdma", json!({"mlx4_0": {"hcaHandles": 2}})),
        },
        Case {
            field: "linux.resources.network.classID",
            edit: |b| resources(b, "network", json!({"classID": 1048577})),
        },
        Case {
            field: "linux.resources.network.priorities",
            edit: |b| {
                resources(
                    b,
                    "network",
                    json!({"priorities": [{"name": "lo", "priority": 1}]}),
                )
            },
        },
        Case {
            field: "linux.resources.hugepageLimits",
            edit: |b| {
                resources(
                    b,
                    "hugepageLimits",
                    json!([{"pageSize": "2MB", "limit": 4194304}]),
                )
            },
        },
        Case {
            field: "linux.resources.blockIO.weight",
            edit: |b| resources(b, "blockIO", json!({"weight": 500})),
        },
        Case {
            field: "linux.seccomp.defaultAction",
            edit: |b| {
                b.set("linux.seccomp", json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
            },
        },
        Case {
            field: "linux.seccomp.flags",
            edit: |b| {
                b.set("linux.seccomp", json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}));
            },
        },
        Case {
            field: "linux.seccomp.syscalls[0]",
            edit: |b| {
                b.set(
                    "linux.seccomp",
                    json!({"defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}),
                );
            },
        },
        Case {
            field: "linux.seccomp.listenerPath",
            edit: |b| {
                b.set(
                    "linux.seccomp",
                    json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/no/such/agent.sock",
                    "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}),
                );
            },
        },
    ]
}

/// Whether `reported` is `field` or a path inside it (`field.x`, `field[0]`).
fn names(reported: &str, field: &str) -> bool {
    reported == field
        || reported
            .strip_prefix(field)
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
}

/// `berth check --format json` of the bundle: exit code and error findings' paths.
fn check(rt: &Runtime, bundle: &Path) -> (Option<i32>, Value) {
    let out = rt.run(&[
        "check",
        "--format",
        "json",
        "--bundle",
        bundle.to_str().unwrap(),
    ]);
    assert!(
        !out.stderr.contains("panicked") && !out.stderr.contains("RUST_BACKTRACE"),
        "{out:?}"
    );
    let doc: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("check printed no JSON ({e}): {out:?}"));
    (out.code, doc)
}

fn error_paths(doc: &Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn catalogue_of_broken_bundles_agrees_with_create() {
    let rt = Runtime::berth();
    let cases = cases();
    let distinct: std::collections::HashSet<&str> = cases.iter().map(|c| c.field).collect();
    assert!(distinct.len() >= 40, "{} distinct fields", distinct.len());
    assert_eq!(
        distinct.len(),
        cases.len(),
        "each case breaks a different field"
    );
    let mut failures = Vec::new();
    for case in &cases {
        let mut b = Bundle::new();
        b.args(&["true"]);
        (case.edit)(&mut b);
        b.write();
        let (code, doc) = check(&rt, b.path());
        let paths = error_paths(&doc);
        if code != Some(1) {
            failures.push(format!("{}: check exited {code:?}: {doc}", case.field));
        }
        if !paths.iter().any(|p| names(p, case.field)) {
            failures.push(format!("{}: check did not name it: {paths:?}", case.field));
        }
        let id = rt.id("check");
        let out = rt.create(&id, &b);
        // CHECK_SHOW=1 prints why create failed, to see that it is this field.
        if std::env::var_os("CHECK_SHOW").is_some() {
            eprintln!("{} => {}", case.field, out.stderr.trim());
        }
        if out.success() {
            failures.push(format!("{}: create succeeded", case.field));
        }
        rt.delete_force(&id);
        if !rt.root_entries().is_empty() {
            failures.push(format!(
                "{}: state left: {:?}",
                case.field,
                rt.root_entries()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// An edit that keeps a bundle runnable.
type Edit = Box<dyn Fn(&mut Bundle)>;

#[test]
fn good_bundles_pass_check_and_create() {
    let rt = Runtime::berth();
    let host_dir = TempDir::new("check-bind");
    let edits: Vec<Edit> = vec![
        Box::new(|_| {}),
        Box::new(|b| {
            b.set(
                "linux.resources.memory",
                json!({"limit": 67108864, "swap": 134217728}),
            );
            b.set("linux.resources.pids", json!({"limit": 64}));
            b.set(
                "linux.resources.cpu",
                json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0"}),
            );
            b.set(
                "linux.sysctl",
                json!({"net.ipv4.ip_forward": "1", "kernel.msgmax": "8192"}),
            );
        }),
        Box::new(|b| {
            b.set(
                "linux.seccomp",
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
                    "syscalls": [{"names": ["getppid", "no_such_syscall"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}),
            );
            b.set("process.oomScoreAdj", json!(100));
            b.set("process.cwd", json!("/tmp/new-dir"));
        }),
        Box::new(move |b| {
            b.bind(host_dir.path(), "/data", &["ro"]);
            b.set("hooks.prestart", json!([{"path": "/bin/true"}]));
            b.args(&["/bin/sh", "-c", "true"]);
        }),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let mut b = Bundle::new();
        b.args(&["true"]);
        edit(&mut b);
        b.write();
        let (code, doc) = check(&rt, b.path());
        assert_eq!(code, Some(0), "good bundle {i}: {doc}");
        assert_eq!(doc["wouldRun"], true, "good bundle {i}: {doc}");
        let id = rt.id("checkok");
        let out = rt.create(&id, &b);
        assert!(out.success(), "good bundle {i}: create failed: {out:?}");
        rt.delete_force(&id).ok();
        assert!(rt.root_entries().is_empty(), "{:?}", rt.root_entries());
    }
}

#[test]
fn warnings_do_not_fail_the_check() {
    let rt = Runtime::berth();
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.set(
        "linux.seccomp",
        json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_AARCH64"],
            "syscalls": [{"names": ["no_such_syscall"], "action": "SCMP_ACT_ERRNO"}]}),
    );
    b.write();
    let (code, doc) = check(&rt, b.path());
    assert_eq!(code, Some(0), "{doc}");
    let warned: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "warning")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        warned.contains(&"linux.seccomp.architectures[0]")
            && warned.contains(&"linux.seccomp.syscalls[0].names[0]"),
        "{doc}"
    );
}

#[test]
fn unreadable_bundles_are_reported_not_crashed_on() {
    let rt = Runtime::berth();
    let missing = rt.work().join("no-such-bundle");
    let (code, doc) = check(&rt, &missing);
    assert_eq!(code, Some(1));
    assert_eq!(error_paths(&doc), ["bundle"], "{doc}");

    let b = Bundle::new();
    b.write();
    std::fs::write(b.config_path(), "{\"process\": ").unwrap();
    let (code, doc) = check(&rt, b.path());
    assert_eq!(code, Some(1));
    // The parse error's position: the field it stopped in, with line and column.
    assert_eq!(error_paths(&doc), ["process"], "{doc}");
    let problem = doc["findings"][0]["problem"].as_str().unwrap();
    assert!(problem.contains("line 1 column 12"), "{doc}");

    std::fs::write(b.config_path(), "not json").unwrap();
    let (code, doc) = check(&rt, b.path());
    assert_eq!(code, Some(1));
    assert_eq!(error_paths(&doc), ["config.json"], "{doc}");

    std::fs::remove_file(b.config_path()).unwrap();
    let (code, doc) = check(&rt, b.path());
    assert_eq!(code, Some(1));
    assert_eq!(error_paths(&doc), ["config.json"], "{doc}");
}

#[test]
fn text_format_is_one_line_per_problem_and_a_summary() {
    let rt = Runtime::berth();
    let mut b = Bundle::new();
    b.set("process.args", json!([]));
    b.set("process.cwd", json!("rel"));
    b.set("linux.resources.memory", json!({"swappiness": 200}));
    b.write();
    let out = rt.run(&["check", "-b", b.path().to_str().unwrap()]);
    assert_eq!(out.code, Some(1), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.contains(&"process.args: args must not be empty; the program to run and its arguments, e.g. [\"sh\"]"),
        "{out:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("process.cwd: ")),
        "{out:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("linux.resources.memory.swappiness: ")),
        "{out:?}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .ends_with("the bundle would not run here"),
        "{out:?}"
    );
}
