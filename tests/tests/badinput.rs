//! The bad-input catalogue: hostile or absurd bundles and arguments. Each is refused with
//! one line on stderr and a non-zero exit, and leaves nothing behind (state dir,
//! processes, mounts); where runc 1.1.5 accepts an input, so does berth.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use berth_tests::*;

/// Nothing of `b` is left: no state, no process rooted in its rootfs, no mount under it.
#[track_caller]
fn assert_clean(rt: &Runtime, b: &Bundle) {
    assert!(
        rt.root_entries().is_empty(),
        "state left: {:?}",
        rt.root_entries()
    );
    let rootfs = b.rootfs();
    let left = wait_for(std::time::Duration::from_secs(5), || {
        std::fs::read_dir("/proc").unwrap().flatten().all(|e| {
            std::fs::read_link(e.path().join("root")).map_or(true, |r| r != rootfs)
                || !pid_alive(e.file_name().to_string_lossy().parse().unwrap_or(0))
        })
    });
    assert!(left, "a process is left in {}", rootfs.display());
    let bundle = b.path().to_str().unwrap();
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains(bundle), "mount left under {bundle}: {mi}");
}

/// `create` with `extra` args must fail with a one-line error and leave nothing; returns
/// the message (normalised).
#[track_caller]
fn refused(rt: &Runtime, b: &Bundle, extra: &[&str]) -> String {
    b.write();
    let id = rt.id("bad");
    let mut args = vec!["create"];
    args.extend_from_slice(extra);
    args.extend(["--bundle", b.path().to_str().unwrap(), &id]);
    let out = rt.run(&args);
    assert!(!out.success() && out.code.is_some(), "must fail: {out:?}");
    let m = normalize_stderr(&out.stderr, rt.name());
    assert!(
        !m.is_empty() && !m.contains('\n'),
        "one line: {:?}",
        out.stderr
    );
    assert_clean(rt, b);
    m
}

/// `create` + `start` + `delete` must work (runc accepts the input too).
#[track_caller]
fn accepted(rt: &Runtime, b: &Bundle) {
    let id = rt.id("ok");
    let out = rt.create(&id, b);
    assert!(out.success(), "must be accepted: {out:?}");
    rt.delete_force(&id).ok();
    assert_clean(rt, b);
}

fn raw_config(b: &Bundle, text: &[u8]) {
    b.write();
    std::fs::write(b.config_path(), text).unwrap();
}

runtime_test!(empty_config, |rt| {
    let b = Bundle::new();
    b.write();
    let id = rt.id("empty");
    std::fs::write(b.config_path(), "").unwrap();
    let out = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!out.success());
    let m = normalize_stderr(&out.stderr, rt.name());
    assert!(
        !m.contains('\n') && m.starts_with("<rt> create failed: "),
        "{m}"
    );
    assert_clean(rt, &b);
});

runtime_test!(malformed_json_variants, |rt| {
    for text in [
        &b"{\"ociVersion\": \"1.0.2\""[..],
        b"[]",
        b"\"spec\"",
        b"{\"process\": {\"args\": [\"sh\"]}} trailing",
        b"\xff\xfe{}",
        b"{\"root\": {\"path\": \"rootfs\"}, \"process\": {\"args\": [\"sh\"], \"cwd\": \"/\"}, \"linux\": {\"namespaces\": [{\"type\": \"pid\"}]},}",
    ] {
        let b = Bundle::new();
        b.write();
        std::fs::write(b.config_path(), text).unwrap();
        let id = rt.id("malformed");
        let out = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
        assert!(!out.success() && out.code.is_some(), "{:?}: {out:?}", String::from_utf8_lossy(text));
        let m = normalize_stderr(&out.stderr, rt.name());
        assert!(!m.contains('\n'), "one line: {m}");
        assert_clean(rt, &b);
    }
});

runtime_test!(null_config, |rt| {
    // runc 1.1.5 dereferences a nil spec here and dies with a Go panic trace.
    if rt.is_runc() {
        return;
    }
    let b = Bundle::new();
    raw_config(&b, b"null");
    let id = rt.id("null");
    let out = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!out.success() && out.code.is_some(), "{out:?}");
    assert!(
        !normalize_stderr(&out.stderr, rt.name()).contains('\n'),
        "{out:?}"
    );
    assert_clean(rt, &b);
});

runtime_test!(wrong_type_args_string, |rt| {
    let mut b = Bundle::new();
    b.set("process.args", json!("sleep 1"));
    let m = refused(rt, &b, &[]);
    assert!(m.contains("args"), "{m}");
});

runtime_test!(wrong_type_memory_limit_string, |rt| {
    let mut b = Bundle::new();
    b.set("linux.resources", json!({"memory": {"limit": "100M"}}));
    let m = refused(rt, &b, &[]);
    assert!(m.contains("limit"), "{m}");
});

runtime_test!(unknown_fields_are_accepted, |rt| {
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.set("futureField", json!({"x": 1}));
    b.set("process.futureProcessField", json!([1, 2]));
    b.set("linux.futureLinuxField", json!("y"));
    accepted(rt, &b);
});

runtime_test!(memory_limit_1e20, |rt| {
    let mut b = Bundle::new();
    raw_config(&b, b"");
    b.set("linux.resources", json!({}));
    b.write();
    let text = std::fs::read_to_string(b.config_path()).unwrap().replacen(
        "\"resources\": {}",
        "\"resources\": {\"memory\": {\"limit\": 100000000000000000000}}",
        1,
    );
    std::fs::write(b.config_path(), text).unwrap();
    let id = rt.id("huge");
    let out = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    assert!(!out.success() && out.code.is_some(), "{out:?}");
    let m = normalize_stderr(&out.stderr, rt.name());
    assert!(!m.contains('\n') && m.contains("limit"), "{m}");
    assert_clean(rt, &b);
});

runtime_test!(negative_pids_limit_means_unlimited, |rt| {
    // runc: a pids limit ≤ 0 is "max".
    let mut b =
        Bundle::sh("cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max");
    b.set("linux.resources", json!({"pids": {"limit": -5}}));
    let out = rt.run_bundle(&b);
    assert!(out.success(), "{out:?}");
    assert_clean(rt, &b);
});

runtime_test!(negative_memory_limit, |rt| {
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.set("linux.resources", json!({"memory": {"limit": -5}}));
    b.write();
    let id = rt.id("negmem");
    let out = rt.create(&id, &b);
    if out.success() {
        rt.delete_force(&id).ok();
    } else {
        let m = normalize_stderr(&out.stderr, rt.name());
        assert!(!m.contains('\n'), "one line: {m}");
    }
    assert_clean(rt, &b);
});

runtime_test!(hugepage_size_that_is_not_a_size, |rt| {
    // The page size names a cgroup file (hugetlb.<size>.max). runc 1.1.5 pastes it in and
    // fails when the file is missing; berth refuses anything but <n>KB|MB|GB up front.
    for size in ["../../x", "2XB", "2MB/../../cgroup.procs"] {
        let mut b = Bundle::new();
        b.args(&["true"]);
        b.set(
            "linux.resources",
            json!({"hugepageLimits": [{"pageSize": size, "limit": 4194304}]}),
        );
        let m = refused(rt, &b, &[]);
        if !rt.is_runc() {
            assert!(
                m.contains("linux.resources.hugepageLimits[0].pageSize"),
                "{m}"
            );
        }
    }
});

runtime_test!(negative_rlimit_is_refused, |rt| {
    let mut b = Bundle::new();
    b.set(
        "process.rlimits",
        json!([{"type": "RLIMIT_NOFILE", "hard": -1, "soft": -1}]),
    );
    let m = refused(rt, &b, &[]);
    assert!(m.contains("hard") || m.contains("rlimits"), "{m}");
});

runtime_test!(one_mib_argument, |rt| {
    // Longer than MAX_ARG_STRLEN (128 KiB): create succeeds, the execve at start fails
    // with E2BIG and the container stops.
    let mut b = Bundle::new();
    let big = "A".repeat(1 << 20);
    b.args(&["echo", &big]);
    let out = rt.run_bundle(&b);
    assert!(!out.success() && out.code.is_some(), "{out:?}");
    assert!(out.stderr.contains("argument list too long"), "{out:?}");
    assert_clean(rt, &b);
});

runtime_test!(many_env_entries_are_passed, |rt| {
    let mut b = Bundle::sh("env | grep -c ^V");
    let env: Vec<String> = (0..5000).map(|i| format!("V{i}=x")).collect();
    b.with(|c| {
        let list = c["process"]["env"].as_array_mut().unwrap();
        list.extend(env.iter().map(|e| json!(e)));
    });
    assert_eq!(rt.output_of(&b).trim(), "5000");
});

runtime_test!(rootfs_symlink_to_host_root, |rt| {
    let mut b = Bundle::new();
    std::os::unix::fs::symlink("/", b.path().join("hostroot")).unwrap();
    b.set("root.path", json!("hostroot"));
    let m = refused(rt, &b, &[]);
    assert_eq!(
        m,
        "<rt> create failed: invalid rootfs: not an absolute path, or a symlink"
    );
});

runtime_test!(console_socket_not_a_socket, |rt| {
    let mut b = Bundle::new();
    b.set("process.terminal", json!(true));
    let file = rt.work().join("not-a-socket");
    std::fs::write(&file, "").unwrap();
    let m = refused(rt, &b, &["--console-socket", file.to_str().unwrap()]);
    assert!(m.contains("connection refused"), "{m}");
});

runtime_test!(console_socket_missing, |rt| {
    let mut b = Bundle::new();
    b.set("process.terminal", json!(true));
    let m = refused(rt, &b, &["--console-socket", "/nonexistent-dir/sock"]);
    assert!(m.contains("no such file or directory"), "{m}");
});

runtime_test!(pid_file_in_missing_dir, |rt| {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let m = refused(rt, &b, &["--pid-file", "/nonexistent-dir/sub/pid"]);
    assert!(m.contains("no such file or directory"), "{m}");
});

/// A bundle path that is not UTF-8: runc 1.1.5 fails (Go strings mangle it into U+FFFD
/// and the rootfs mount fails), berth refuses it (its state file records the bundle as
/// JSON text). Either way: one line, nothing left.
fn non_utf8_bundle(rt: &Runtime) {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.write();
    let mut name = b.path().as_os_str().as_bytes().to_vec();
    name.extend_from_slice(b"-\xff\xfe");
    let weird = Path::new(OsStr::from_bytes(&name)).to_path_buf();
    std::fs::rename(b.path(), &weird).unwrap();
    let id = rt.id("nonutf8");
    let mut cmd = rt.command(&["create"]);
    cmd.arg("--bundle").arg(&weird).arg(&id);
    let out = rt.run_cmd(cmd);
    let listed = rt.list(&["--format", "json"]);
    rt.delete_force(&id);
    std::fs::rename(&weird, b.path()).unwrap();
    assert!(!out.success() && out.code.is_some(), "{out:?}");
    assert!(
        !normalize_stderr(&out.stderr, rt.name()).contains('\n'),
        "{out:?}"
    );
    assert!(listed.success(), "{listed:?}");
    assert_clean(rt, &b);
}

runtime_test!(non_utf8_bundle_path, |rt| { non_utf8_bundle(rt) });

runtime_test!(non_utf8_pid_file_path, |rt| {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b.write();
    let mut pid_file = rt.work().as_os_str().as_bytes().to_vec();
    pid_file.extend_from_slice(b"/pid-\xff");
    let pid_file = Path::new(OsStr::from_bytes(&pid_file)).to_path_buf();
    let id = rt.id("nonutf8pid");
    let mut cmd = rt.command(&["create", "--bundle", b.path().to_str().unwrap()]);
    cmd.arg("--pid-file").arg(&pid_file).arg(&id);
    let out = rt.run_cmd(cmd);
    assert!(out.success(), "{out:?}");
    let pid: i64 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, rt.pid(&id));
    rt.delete_force(&id).ok();
    assert_clean(rt, &b);
});

runtime_test!(bundle_through_symlink, |rt| {
    // runc resolves the bundle by chdir'ing into it: a symlinked bundle path works.
    let mut b = Bundle::new();
    b.args(&["true"]);
    b.write();
    let link = rt.work().join("bundle-link");
    std::os::unix::fs::symlink(b.path(), &link).unwrap();
    let id = rt.id("symbundle");
    let out = rt.run(&["create", "--bundle", link.to_str().unwrap(), &id]);
    assert!(out.success(), "{out:?}");
    rt.delete_force(&id).ok();
    assert_clean(rt, &b);
});

runtime_test!(lone_surrogate_in_mount_destination, |rt| {
    // JSON cannot carry non-UTF-8 bytes; a lone surrogate escape is the nearest thing.
    let b = Bundle::new();
    b.write();
    let text = std::fs::read_to_string(b.config_path()).unwrap().replacen(
        "\"destination\": \"/proc\"",
        "\"destination\": \"/proc\\udc80\"",
        1,
    );
    std::fs::write(b.config_path(), text).unwrap();
    let id = rt.id("surrogate");
    let out = rt.run(&["create", "--bundle", b.path().to_str().unwrap(), &id]);
    if out.success() {
        rt.delete_force(&id).ok();
    } else {
        let m = normalize_stderr(&out.stderr, rt.name());
        assert!(!m.contains('\n'), "one line: {m}");
    }
    assert_clean(rt, &b);
});

runtime_test!(huge_config_file, |rt| {
    // 4 MiB of annotations: refused or accepted, but never a crash.
    let mut b = Bundle::new();
    b.args(&["true"]);
    let big = "x".repeat(1 << 20);
    b.with(|c| {
        let mut ann = serde_json::Map::new();
        for i in 0..4 {
            ann.insert(format!("a{i}"), json!(big));
        }
        c["annotations"] = Value::Object(ann);
    });
    b.write();
    let id = rt.id("hugecfg");
    let out = rt.create(&id, &b);
    assert!(out.code.is_some(), "crashed: {out:?}");
    rt.delete_force(&id).ok();
    assert_clean(rt, &b);
});
