//! Bad input: each error is one line, a non-zero exit, and leaves no state dir behind.

use berth_tests::*;

#[track_caller]
fn assert_no_state(rt: &Runtime) {
    assert!(
        rt.root_entries().is_empty(),
        "state left in root: {:?}",
        rt.root_entries()
    );
}

/// The error messages (timestamps and program name normalised).
fn msg(rt: &Runtime, out: &Output) -> String {
    normalize_stderr(&out.stderr, rt.name())
}

fn bpath(b: &Bundle) -> &str {
    b.path().to_str().unwrap()
}

runtime_test!(state_unknown_id, |rt| {
    let out = rt.run(&["state", "no-such-container"]).fails();
    assert_eq!(out.code, Some(1));
    assert_eq!(msg(rt, &out), "container does not exist");
    assert_eq!(out.stdout, "");
});

runtime_test!(error_line_format, |rt| {
    // runc logs errors to stderr as logrus text: time="RFC3339" level=error msg="…"
    // The same with Rust's backtrace variables set, as in a developer's shell.
    for backtrace in [None, Some("1"), Some("full")] {
        if let Some(v) = backtrace {
            rt.env("RUST_BACKTRACE", v);
        }
        let out = rt.run(&["state", "no-such-container"]).fails();
        let line = out.stderr.trim_end();
        assert!(!line.contains('\n'), "one line ({backtrace:?}): {line:?}");
        assert!(
            line.starts_with("time=\"") && line.contains("\" level=error msg=\""),
            "{line:?}"
        );
    }
});

// Started with descriptors 0-2 closed (a careless daemon), the runtime still works and
// the files it opens do not land on them: the container gets them open on /dev/null.
runtime_test!(closed_stdio_is_reopened_on_dev_null, |rt| {
    use std::os::unix::process::CommandExt;
    let b = Bundle::sh("for fd in 0 1 2; do [ -e /proc/self/fd/$fd ] || exit 7; done");
    b.write();
    let id = rt.id("closedstdio");
    let mut cmd = rt.command(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    // SAFETY: close(2) only, between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            for fd in 0..3 {
                libc::close(fd);
            }
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_no_state(rt);
});

runtime_test!(start_unknown_id, |rt| {
    let out = rt.run(&["start", "no-such-container"]).fails();
    assert_eq!(msg(rt, &out), "container does not exist");
});

runtime_test!(kill_unknown_id, |rt| {
    let out = rt.run(&["kill", "no-such-container", "KILL"]).fails();
    assert_eq!(msg(rt, &out), "container does not exist");
});

runtime_test!(delete_unknown_id, |rt| {
    let out = rt.run(&["delete", "no-such-container"]).fails();
    assert_eq!(msg(rt, &out), "container does not exist");
});

runtime_test!(exec_unknown_id, |rt| {
    let out = rt.run(&["exec", "no-such-container", "true"]).fails();
    assert!(
        msg(rt, &out).contains("container does not exist"),
        "{out:?}"
    );
});

runtime_test!(duplicate_id, |rt| {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = rt.id("dup");
    rt.create(&id, &b).ok();
    let pid = rt.pid(&id);
    let out = rt.create(&id, &b).fails();
    assert_eq!(out.code, Some(1));
    assert_eq!(
        msg(rt, &out),
        "<rt> create failed: container with given ID already exists"
    );
    // the first container is untouched
    assert_eq!(rt.status(&id), "created");
    assert_eq!(rt.pid(&id), pid);
});

runtime_test!(missing_id_argument, |rt| {
    let out = rt.run(&["state"]).fails();
    assert!(
        out.stderr.contains("requires exactly 1 argument(s)"),
        "{out:?}"
    );
});

fn bad_signal(rt: &Runtime, sig: &str, expected: &str) {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    let id = rt.start_detached(&b);
    let out = rt.kill(&id, sig).fails();
    assert_eq!(out.code, Some(1));
    assert_eq!(msg(rt, &out), expected);
    assert_eq!(rt.status(&id), "running");
}

runtime_test!(bad_signal_name, |rt| {
    bad_signal(rt, "FOO", "unknown signal \"FOO\"")
});
runtime_test!(bad_signal_sig_name, |rt| {
    bad_signal(rt, "SIGFOO", "unknown signal \"SIGFOO\"")
});
runtime_test!(bad_signal_number, |rt| {
    bad_signal(rt, "99", "unable to signal init: invalid argument")
});

runtime_test!(missing_bundle, |rt| {
    let id = rt.id("nobundle");
    let out = rt
        .run(&["create", "--bundle", "/nonexistent-rt-bundle", &id])
        .fails();
    assert_eq!(out.code, Some(1));
    assert_eq!(
        msg(rt, &out),
        "<rt> create failed: chdir /nonexistent-rt-bundle: no such file or directory"
    );
    assert_no_state(rt);
});

runtime_test!(missing_config, |rt| {
    let b = Bundle::new();
    let id = rt.id("noconfig");
    let out = rt.run(&["create", "--bundle", bpath(&b), &id]).fails();
    assert_eq!(
        msg(rt, &out),
        "<rt> create failed: JSON specification file config.json not found"
    );
    assert_no_state(rt);
});

runtime_test!(invalid_json, |rt| {
    let b = Bundle::new();
    std::fs::write(b.config_path(), "{bad").unwrap();
    let id = rt.id("badjson");
    let out = rt.run(&["create", "--bundle", bpath(&b), &id]).fails();
    let m = msg(rt, &out);
    assert!(m.starts_with("<rt> create failed: "), "{m}");
    assert!(!m.contains('\n'), "one line: {m}");
    assert_no_state(rt);
});

runtime_test!(wrong_type_names_field, |rt| {
    let mut b = Bundle::new();
    b.set("ociVersion", json!(5));
    let id = rt.id("badtype");
    let out = rt.create(&id, &b).fails();
    let m = msg(rt, &out);
    // runc: "json: cannot unmarshal number into Go struct field Spec.ociVersion of type string"
    assert!(
        m.starts_with("<rt> create failed: ") && m.contains("ociVersion"),
        "{m}"
    );
    assert_no_state(rt);
});

runtime_test!(wrong_type_nested_field, |rt| {
    let mut b = Bundle::new();
    b.set("process.cwd", json!(7));
    let id = rt.id("badcwd");
    let out = rt.create(&id, &b).fails();
    let m = msg(rt, &out);
    // runc: "... Go struct field Process.process.cwd of type string"
    assert!(m.contains("cwd"), "{m}");
    assert_no_state(rt);
});

runtime_test!(missing_executable, |rt| {
    let mut b2 = Bundle::new();
    b2.args(&["nosuchcmd"]);
    let id = rt.id("noexe");
    let out = rt.create(&id, &b2).fails();
    assert_eq!(out.code, Some(1));
    assert_eq!(
        msg(rt, &out),
        "<rt> create failed: unable to start container process: exec: \"nosuchcmd\": executable file not found in $PATH"
    );
    assert_no_state(rt);
});

runtime_test!(missing_executable_run, |rt| {
    let mut b = Bundle::new();
    b.args(&["nosuchcmd"]);
    let out = rt.run_bundle(&b).fails();
    assert_eq!(out.code, Some(1));
    assert!(
        msg(rt, &out).ends_with("executable file not found in $PATH"),
        "{out:?}"
    );
    assert!(msg(rt, &out).starts_with("<rt> run failed: "), "{out:?}");
    assert_no_state(rt);
});

runtime_test!(missing_executable_absolute, |rt| {
    let mut b = Bundle::new();
    b.args(&["/nosuch/cmd"]);
    let id = rt.id("noabs");
    let out = rt.create(&id, &b).fails();
    assert_eq!(
        msg(rt, &out),
        "<rt> create failed: unable to start container process: exec: \"/nosuch/cmd\": stat /nosuch/cmd: no such file or directory"
    );
    assert_no_state(rt);
});

runtime_test!(missing_bind_source, |rt| {
    let mut b = Bundle::sh("true");
    b.bind(std::path::Path::new("/nonexistent-rt-src"), "/mnt", &[]);
    let id = rt.id("nosrc");
    let out = rt.create(&id, &b).fails();
    assert_eq!(out.code, Some(1));
    let m = msg(rt, &out);
    assert!(
        m.contains("/nonexistent-rt-src") && m.ends_with("no such file or directory"),
        "{m}"
    );
    // runc: <rt> create failed: unable to start container process: error during container
    // init: error mounting "/nonexistent-rt-src" to rootfs at "/mnt": stat
    // /nonexistent-rt-src: no such file or directory
    assert!(
        m.contains("error mounting \"/nonexistent-rt-src\" to rootfs at \"/mnt\""),
        "{m}"
    );
    assert_no_state(rt);
    // no mount left on the host
    let mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mi.contains(bpath(&b)), "mount left behind: {mi}");
});

runtime_test!(failed_create_leaves_no_process, |rt| {
    let mut b = Bundle::new();
    b.args(&["nosuchcmd"]);
    let id = rt.id("noproc");
    let pidfile = rt.work().join("pid");
    b.write();
    rt.run(&[
        "create",
        "--pid-file",
        pidfile.to_str().unwrap(),
        "--bundle",
        bpath(&b),
        &id,
    ])
    .fails();
    // No process still has the bundle's rootfs as its root.
    let rootfs = b.rootfs();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        if let Ok(r) = std::fs::read_link(e.path().join("root")) {
            assert_ne!(
                r,
                rootfs,
                "process {:?} left in the container",
                e.file_name()
            );
        }
    }
    assert_no_state(rt);
});

runtime_test!(no_state_after_failed_run, |rt| {
    let mut b = Bundle::new();
    b.set("process.cwd", json!("relative/cwd"));
    let out = rt.run_bundle(&b).fails();
    assert_eq!(
        msg(rt, &out),
        "<rt> run failed: Cwd must be an absolute path"
    );
    assert_no_state(rt);
});

// linux.intelRdt where resctrl is absent (as here): a schema is refused with runc's words;
// a bare closID runs without RDT, as under runc. Nothing is left behind.
compare_test!(intel_rdt_without_resctrl, |rt| -> Vec<String> {
    let mut seen = Vec::new();
    for (rdt, what) in [
        (json!({"l3CacheSchema": "L3:0=f"}), "l3"),
        (json!({"memBwSchema": "MB:0=50"}), "mb"),
        (json!({"closID": "a/b"}), "closid"),
        (json!({"closID": "berth-test"}), "plain"),
    ] {
        let mut b = Bundle::sh("echo ran");
        b.set("linux.intelRdt", rdt);
        let (code, out, err) = rt.run_container(&b);
        let said = [
            "intelRdt.l3CacheSchema is specified in config, but Intel RDT/CAT is not enabled",
            "intelRdt.memBwSchema is specified in config, but Intel RDT/MBA is not enabled",
            "invalid intelRdt.ClosID \"a/b\"",
        ]
        .iter()
        .position(|m| err.contains(m));
        seen.push(format!("{what}: {code} {} {said:?}", out.trim()));
    }
    assert_no_state(rt);
    seen
});

// checkpoint's argument checks, as runc makes them before it runs CRIU: a --parent-path
// that is absolute or missing is refused naming the flag; unknown ids and stopped
// containers as for every command.
compare_test!(checkpoint_argument_checks, |rt| -> Vec<String> {
    let mut b = Bundle::new();
    b.args(&["sleep", "30"]);
    let id = rt.start_detached(&b);
    let images = rt.work().join("images");
    let images = images.to_str().unwrap();
    let mut seen = Vec::new();
    for parent in [
        format!("{}/parent", rt.work().display()),
        "./no-such-parent".into(),
    ] {
        let out = rt.run(&[
            "checkpoint",
            "--parent-path",
            &parent,
            "--image-path",
            images,
            &id,
        ]);
        seen.push(format!(
            "{:?} {}",
            out.code,
            out.stderr.contains("--parent-path")
        ));
    }
    let out = rt.run(&["checkpoint", "no-such-container"]);
    seen.push(format!(
        "{:?} {}",
        out.code,
        normalize_stderr(out.stderr.trim(), rt.name())
    ));
    rt.delete_force(&id);
    seen
});
