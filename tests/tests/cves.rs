//! Regression tests for runc's published vulnerabilities: each runs an attack container.

use berth_tests::*;

fn sh_out(rt: &Runtime, script: &str, edit: impl FnOnce(&mut Bundle)) -> String {
    let mut b = Bundle::sh(script);
    edit(&mut b);
    rt.output_of(&b).trim_end().to_string()
}

// CVE-2019-5736: a container overwrote the host runtime through /proc/<pid>/exe of the
// runtime process that had joined it. runc defends with a sealed memfd copy of itself;
// berth never re-execs itself, and the forked child that joins the container is
// non-dumpable until it execs the user's program, so /proc/<pid>/exe of that child is
// out of reach. The attack: watch for new pids while `exec` runs and try to open their
// exe; any success that is not a busybox binary is the runtime.
runtime_test!(cve_2019_5736_runtime_exe_not_reachable, |rt| {
    let mut b = Bundle::sh(
        "while true; do for p in /proc/[0-9]*; do \
           x=$(readlink $p/exe 2>/dev/null); \
           case \"$x\" in ''|/bin/busybox|/bin/*) ;; *) echo \"$x\" >> /tmp/leak; \
             cat $p/exe > /dev/null 2>&1 && echo opened >> /tmp/leak;; esac; \
         done; done",
    );
    b.writable();
    let id = rt.start_detached(&b);
    for _ in 0..30 {
        rt.exec(&[&id, "true"]);
    }
    let leak = rt.exec(&[&id, "cat", "/tmp/leak"]).stdout;
    rt.kill(&id, "KILL");
    assert_eq!(leak.trim(), "", "runtime binary reachable: {leak}");
});

// CVE-2019-5736, deterministically: a `berth exec` child is held (debug-build hook
// BERTH_TEST_STALL_FIFO, see process/spawn.rs) after it has joined the container and
// before it execs, so it still runs the host's berth binary inside the container's pid
// namespace. The container's root finds it by name and tries to get at /proc/<pid>/exe
// (readlink, open for reading — the attack's first step, the write coming after the
// runtime exits — and open read-write). All must fail.
// The container has its own user namespace and CAP_SYS_PTRACE in it: that passes every
// ptrace access check (uid, capability subset) against the held child, which joined that
// user namespace, except the one for a non-dumpable process (CAP_SYS_PTRACE over the
// user namespace its memory belongs to, the host's). So dumpability is the only defence
// here: with the PR_SET_DUMPABLE(0) in spawn.rs changed to 1, this test fails with
// "found readlink-ok read-ok" (the read-write open gets ETXTBSY).
berth_only_test!(
    cve_2019_5736_exe_of_stalled_exec_not_reachable,
    "uses berth's debug-build stall hook; runc defends with a memfd copy instead",
    |rt| {
        let mut b = Bundle::sh("sleep 1000");
        b.set("process.args", json!(["sleep", "1000"]));
        b.namespace("user", None);
        let map = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        b.set("linux.uidMappings", map.clone());
        b.set("linux.gidMappings", map);
        for set in ["bounding", "effective", "permitted"] {
            b.push(
                &format!("process.capabilities.{set}"),
                json!("CAP_SYS_PTRACE"),
            );
        }
        let id = rt.start_detached(&b);
        let fifo = rt.work().join("stall");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path in our scratch dir.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let mut cmd = rt.command(&["exec", &id, "true"]);
        cmd.env("BERTH_TEST_STALL_FIFO", &fifo);
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        let mut held = cmd.spawn().unwrap();
        rt.track_pid(held.id() as i64);
        let attack = "for i in $(seq 1 1000); do for p in /proc/[0-9]*; do \
              if [ \"$(cat $p/comm 2>/dev/null)\" = berth ]; then echo found; \
                readlink $p/exe >/dev/null 2>&1 && echo readlink-ok; \
                cat $p/exe >/dev/null 2>&1 && echo read-ok; \
                (exec 3<>$p/exe) 2>/dev/null && echo rw-open-ok; \
                exit 0; fi; done; sleep 0.01; done; echo not-found";
        let out = rt.exec(&[&id, "sh", "-c", attack]);
        // Release the held process and check it completes normally.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&fifo)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"1"))
            .unwrap();
        let done = wait_for(std::time::Duration::from_secs(20), || {
            held.try_wait().unwrap().is_some()
        });
        assert!(done, "held exec never finished");
        assert!(held.wait().unwrap().success(), "held exec failed");
        rt.kill(&id, "KILL");
        assert_eq!(out.ok().stdout, "found\n", "runtime binary reachable");
    }
);

// CVE-2024-21626: a host descriptor leaked into the container and a cwd of
// /proc/self/fd/N escaped the rootfs. No descriptor beyond stdio may survive into the
// process, and such a cwd must not point outside the container. (runc 1.1.5 predates the
// fix of 1.1.12, so the check of the cwd runs against berth only.)
compare_test!(cve_2024_21626_no_leaked_fds, |rt| -> String {
    sh_out(rt, "ls /proc/self/fd | sort -n | tr '\\n' ' '", |_| {})
});

compare_test!(cve_2024_21626_no_leaked_fds_exec, |rt| -> String {
    let mut b = Bundle::sh("sleep 1000");
    b.set("process.args", json!(["sleep", "1000"]));
    let id = rt.start_detached(&b);
    let out = rt
        .exec(&[&id, "sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"])
        .ok()
        .stdout;
    rt.kill(&id, "KILL");
    out
});

berth_only_test!(
    cve_2024_21626_cwd_via_leaked_fd,
    "runc 1.1.5 is vulnerable (fixed in runc 1.1.12)",
    |rt| {
        for n in 3..12 {
            let mut b = Bundle::sh("readlink /proc/self/cwd; ls ../../../ 2>&1 | head -3");
            b.set("process.cwd", json!(format!("/proc/self/fd/{n}")));
            let (code, out, err) = rt.run_container(&b);
            if code == 0 {
                let cwd = out.lines().next().unwrap_or("");
                assert!(
                    cwd.starts_with('/') && !cwd.contains("berth") && !cwd.contains("/run/"),
                    "fd {n}: cwd escaped to {cwd}: {out} {err}"
                );
            }
        }
    }
);

// CVE-2021-30465: a mount destination resolving through a symlink must stay inside the
// rootfs (the link is resolved as if the rootfs were /).
compare_test!(
    cve_2021_30465_symlinked_mount_target_stays_inside,
    |rt| -> String {
        let host = TempDir::new("cve-30465");
        let mut b = Bundle::sh("grep -c ' /inside ' /proc/self/mountinfo; ls /inside");
        std::fs::create_dir_all(b.rootfs().join("inside")).unwrap();
        std::os::unix::fs::symlink(host.path(), b.rootfs().join("evil")).unwrap();
        b.push(
        "mounts",
        json!({"destination": "/evil", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m"]}),
    );
        // host.path() does not exist inside the rootfs; either the runtime creates it inside,
        // or refuses. Either way the host directory must not get the mount.
        let _ = rt.run_container(&b);
        let host_mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(
            !host_mounts.contains(host.path().to_str().unwrap()),
            "tmpfs landed on the host path"
        );
        "ok".to_string()
    }
);

// CVE-2022-29162: processes must not get an inheritable set nobody asked for (init, exec,
// exec --cap).
compare_test!(cve_2022_29162_no_inheritable_caps, |rt| -> Vec<String> {
    let mut b = Bundle::sh("sleep 1000");
    b.set("process.args", json!(["sleep", "1000"]));
    let id = rt.start_detached(&b);
    let keys = &["CapInh", "CapAmb"];
    let mut out = Vec::new();
    for args in [
        vec![id.as_str(), "cat", "/proc/self/status"],
        vec![
            "--cap",
            "CAP_SYS_ADMIN",
            id.as_str(),
            "cat",
            "/proc/self/status",
        ],
        vec!["--user", "1000", id.as_str(), "cat", "/proc/self/status"],
    ] {
        out.extend(status_lines(&rt.exec(&args).ok().stdout, keys));
    }
    rt.kill(&id, "KILL");
    for l in &out {
        assert!(l.ends_with("0000000000000000"), "{l}");
    }
    out
});

// CVE-2019-16884: a volume mounted over /proc could fake /proc/self/attr and bypass the
// LSM. Mounting anything but procfs over /proc is refused.
compare_test!(cve_2019_16884_no_fake_proc, |rt| -> i32 {
    let host = TempDir::new("cve-16884");
    let mut b = Bundle::sh("true");
    b.bind(host.path(), "/proc", &[]);
    let (code, _, _) = rt.run_container(&b);
    assert_ne!(code, 0);
    code
});

// maskedPaths / readonlyPaths: the container cannot undo them (no CAP_SYS_ADMIN).
compare_test!(masked_paths_cannot_be_undone, |rt| -> String {
    sh_out(
        rt,
        "umount /proc/kcore 2>/dev/null; echo umount=$?; \
         wc -c < /proc/kcore; \
         mount -o remount,rw /proc/sys 2>/dev/null; echo remount=$?; \
         echo 1 > /proc/sys/kernel/panic 2>/dev/null; echo write=$?; \
         ls /proc/acpi 2>/dev/null | wc -l",
        |_| {},
    )
});
