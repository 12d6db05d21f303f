//! The six OCI hooks: each runs at its point with the state JSON on stdin; timeouts and
//! failures.

use berth_tests::*;
use std::path::Path;

/// A hook running `busybox sh -c SCRIPT` from the host.
fn hook(script: &str) -> Value {
    json!({"path": "/bin/busybox", "args": ["busybox", "sh", "-c", script]})
}

/// Bundle with one hook of `kind` that stores its stdin in `<dir>/<kind>.json`;
/// startContainer runs inside the container, so it writes to /hooks (bound from `dir`).
fn hooked(kind: &str, dir: &Path) -> Bundle {
    let mut b = Bundle::sh("sleep 0.2");
    b.bind(dir, "/hooks", &[]);
    b.set("annotations", json!({"org.example/a": "b"}));
    let target = if kind == "startContainer" {
        Path::new("/hooks").to_path_buf()
    } else {
        dir.to_path_buf()
    };
    b.push(
        &format!("hooks.{kind}"),
        hook(&format!("cat > {}/{kind}.json", target.display())),
    );
    b
}

/// Create, start, wait for exit, delete; return the state JSON the hook got.
fn run_hook(rt: &Runtime, kind: &str) -> Value {
    let dir = TempDir::new("hooks");
    let b = hooked(kind, dir.path());
    let id = rt.id(kind);
    rt.create(&id, &b).ok();
    let pid = rt.pid(&id);
    rt.start(&id).ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).ok();
    let file = dir.path().join(format!("{kind}.json"));
    let text =
        std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{kind} hook did not run: {e}"));
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{kind} state {text:?}: {e}"));
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["ociVersion"], rt.oci_version());
    assert_eq!(v["bundle"], b.path().to_str().unwrap());
    assert_eq!(v["annotations"], json!({"org.example/a": "b"}));
    let mut v = v;
    // the pid as the hook sees it: the init's host pid, 1 inside the container, absent when stopped
    if v["pid"].as_i64() == Some(pid) {
        v["pid"] = json!("host-pid");
    }
    v.as_object_mut().unwrap().remove("id");
    v.as_object_mut().unwrap().remove("bundle");
    v
}

runtime_test!(hook_prestart, |rt| {
    let v = run_hook(rt, "prestart");
    assert_eq!(
        (v["status"].as_str(), &v["pid"]),
        (Some("creating"), &json!("host-pid"))
    );
});

runtime_test!(hook_create_runtime, |rt| {
    let v = run_hook(rt, "createRuntime");
    assert_eq!(
        (v["status"].as_str(), &v["pid"]),
        (Some("creating"), &json!("host-pid"))
    );
});

runtime_test!(hook_create_container, |rt| {
    // runs in the container's namespaces: runc reports the pid as seen there (1)
    let v = run_hook(rt, "createContainer");
    assert_eq!(
        (v["status"].as_str(), &v["pid"]),
        (Some("creating"), &json!(1))
    );
});

runtime_test!(hook_start_container, |rt| {
    let v = run_hook(rt, "startContainer");
    assert_eq!(
        (v["status"].as_str(), &v["pid"]),
        (Some("created"), &json!(1))
    );
});

runtime_test!(hook_poststart, |rt| {
    // runc 1.1.5 reports "created" to poststart hooks
    let v = run_hook(rt, "poststart");
    assert_eq!(
        (v["status"].as_str(), &v["pid"]),
        (Some("created"), &json!("host-pid"))
    );
});

runtime_test!(hook_poststop, |rt| {
    let v = run_hook(rt, "poststop");
    assert_eq!(v["status"], "stopped");
    assert!(
        v.get("pid").is_none(),
        "no pid for a stopped container: {v}"
    );
});

compare_test!(hook_state_keys_match_runc, |rt| -> Vec<String> {
    let dir = TempDir::new("hookkeys");
    let b = hooked("prestart", dir.path());
    let id = rt.id("hookkeys");
    rt.create(&id, &b).ok();
    let text = std::fs::read_to_string(dir.path().join("prestart.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    v.as_object().unwrap().keys().cloned().collect()
});

runtime_test!(hooks_run_in_order, |rt| {
    let dir = TempDir::new("order");
    let log = dir.path().join("log");
    let mut b = Bundle::sh("true");
    b.bind(dir.path(), "/hooks", &[]);
    for kind in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        b.push(
            &format!("hooks.{kind}"),
            hook(&format!("echo {kind} >> {}", log.display())),
        );
    }
    b.push(
        "hooks.startContainer",
        hook("echo startContainer >> /hooks/log"),
    );
    let id = rt.id("order");
    rt.create(&id, &b).ok();
    rt.start(&id).ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id).ok();
    let got = std::fs::read_to_string(&log).unwrap();
    let mut got: Vec<&str> = got.lines().collect();
    // startContainer (in the container) and poststart (in the runtime) race in runc 1.1.5
    got[3..5].sort();
    assert_eq!(
        got,
        [
            "prestart",
            "createRuntime",
            "createContainer",
            "poststart",
            "startContainer",
            "poststop"
        ]
    );
});

runtime_test!(hook_env_and_args, |rt| {
    let dir = TempDir::new("hookenv");
    let mut b = Bundle::sh("true");
    b.push("hooks.prestart", json!({
        "path": "/bin/busybox",
        "args": ["busybox", "sh", "-c", "echo \"$0 $HOOKVAR\" > \"$0\"/env", dir.path().to_str().unwrap()],
        "env": ["HOOKVAR=hello"]
    }));
    // $0 is the first argument after -c's script
    let id = rt.id("hookenv");
    rt.create(&id, &b).ok();
    let got = std::fs::read_to_string(dir.path().join("env")).unwrap();
    assert_eq!(
        got.trim(),
        format!("{} hello", dir.path().display()),
        "{got}"
    );
});

compare_test!(
    start_container_hook_without_env_inherits_process_env,
    |rt| -> String {
        let mut b = Bundle::sh("cat /tmp/hook-env");
        b.push("process.env", json!("PROCVAR=from-process"));
        b.push(
        "hooks.startContainer",
        json!({"path": "/bin/sh", "args": ["sh", "-c", "echo ${PROCVAR:-unset} > /tmp/hook-env"]}),
    );
        b.writable();
        rt.output_of(&b)
    }
);

// Rust's backtrace variables too: berth switches error backtraces off for itself
// (process_start.rs) by setting and then removing RUST_LIB_BACKTRACE, so the hook must see
// exactly what the caller set, as under runc.
compare_test!(
    prestart_hook_without_env_inherits_the_runtimes_env,
    |rt| -> String {
        let dir = TempDir::new("hookinherit");
        let mut b = Bundle::sh("true");
        b.push(
            "hooks.prestart",
            json!({"path": "/bin/busybox", "args": ["busybox", "sh", "-c",
            format!("echo ${{HOOKTEST:-unset}} ${{RUST_BACKTRACE-unset}} \
                ${{RUST_LIB_BACKTRACE-unset}} > {}/env", dir.path().display())]}),
        );
        rt.env("HOOKTEST", "from-runtime");
        rt.env("RUST_BACKTRACE", "1");
        rt.output_of(&b);
        std::fs::read_to_string(dir.path().join("env")).unwrap()
    }
);

runtime_test!(hook_failure_fails_create, |rt| {
    let mut b = Bundle::sh("true");
    b.push("hooks.createRuntime", hook("echo hook-said-no >&2; exit 3"));
    let id = rt.id("hookfail");
    let out = rt.create(&id, &b).fails();
    assert!(
        rt.root_entries().is_empty(),
        "state left: {:?}",
        rt.root_entries()
    );
    assert!(out.stderr.contains("exit status 3"), "{out:?}");
    // runc 1.1's words, which its tests and clients match.
    assert!(out.stderr.contains("error running hook"), "{out:?}");
});

// A hook killed by a signal: Go's words for it ("signal: killed", "signal: bad system
// call"), which runc's tests match.
runtime_test!(hook_killed_by_a_signal_reads_as_go_says, |rt| {
    let mut b = Bundle::sh("true");
    b.push("hooks.createRuntime", hook("kill -KILL $$"));
    let id = rt.id("hookkilled");
    let out = rt.create(&id, &b).fails();
    assert!(
        out.stderr.contains("error running hook: signal: killed"),
        "{out:?}"
    );
});

runtime_test!(hook_prestart_failure_fails_create, |rt| {
    let mut b = Bundle::sh("true");
    b.push("hooks.prestart", hook("exit 1"));
    let id = rt.id("prefail");
    rt.create(&id, &b).fails();
    assert!(
        rt.root_entries().is_empty(),
        "state left: {:?}",
        rt.root_entries()
    );
});

runtime_test!(hook_timeout, |rt| {
    let mut b = Bundle::sh("true");
    let mut h = hook("sleep 20");
    h["timeout"] = json!(1);
    b.push("hooks.prestart", h);
    let id = rt.id("hooktimeout");
    let t = std::time::Instant::now();
    let out = rt.create(&id, &b).fails();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "timeout not enforced: {:?}",
        t.elapsed()
    );
    assert!(
        out.stderr
            .contains("hook ran past specified timeout of 1.0s"),
        "{out:?}"
    );
    assert!(
        rt.root_entries().is_empty(),
        "state left: {:?}",
        rt.root_entries()
    );
});

runtime_test!(poststop_failure_still_deletes, |rt| {
    let mut b = Bundle::sh("true");
    b.push("hooks.poststop", hook("exit 1"));
    let id = rt.id("poststopfail");
    rt.create(&id, &b).ok();
    rt.start(&id).ok();
    rt.wait_status(&id, "stopped");
    rt.delete(&id);
    assert!(
        rt.root_entries().is_empty(),
        "state left: {:?}",
        rt.root_entries()
    );
});

// createContainer hooks run in the container's mount namespace before pivot_root, from
// the rootfs: runc's hooks use paths relative to it (runc's "hooks library tests" bind a
// library at ./lib/… that way).
compare_test!(create_container_hook_runs_from_the_rootfs, |rt| -> (
    String,
    String
) {
    let mut b = Bundle::sh("cat /lib/marker");
    b.push(
        "hooks.createContainer",
        hook("pwd > ./hook-cwd && mkdir -p ./lib && echo from-hook > ./lib/marker"),
    );
    let out = rt.output_of(&b);
    let cwd = std::fs::read_to_string(b.rootfs().join("hook-cwd")).unwrap_or_default();
    let _ = std::fs::remove_file(b.rootfs().join("lib/marker"));
    assert_eq!(out, "from-hook\n");
    (
        out,
        (cwd.trim() == b.rootfs().to_str().unwrap()).to_string(),
    )
});
