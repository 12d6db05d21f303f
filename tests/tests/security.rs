//! Security: seccomp (Docker's default profile and every action/operator/flag), capability
//! sets for init and exec, LSM labels. Each seccomp test calls the filtered syscall from
//! inside the container (busybox applets) and compares the result with runc.

use berth_tests::*;

fn sh_out(rt: &Runtime, script: &str, edit: impl FnOnce(&mut Bundle)) -> String {
    let mut b = Bundle::sh(script);
    edit(&mut b);
    rt.output_of(&b).trim_end().to_string()
}

/// Every capability this kernel knows, for privileged containers.
fn all_caps() -> Vec<String> {
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    const NAMES: &[&str] = &[
        "CHOWN",
        "DAC_OVERRIDE",
        "DAC_READ_SEARCH",
        "FOWNER",
        "FSETID",
        "KILL",
        "SETGID",
        "SETUID",
        "SETPCAP",
        "LINUX_IMMUTABLE",
        "NET_BIND_SERVICE",
        "NET_BROADCAST",
        "NET_ADMIN",
        "NET_RAW",
        "IPC_LOCK",
        "IPC_OWNER",
        "SYS_MODULE",
        "SYS_RAWIO",
        "SYS_CHROOT",
        "SYS_PTRACE",
        "SYS_PACCT",
        "SYS_ADMIN",
        "SYS_BOOT",
        "SYS_NICE",
        "SYS_RESOURCE",
        "SYS_TIME",
        "SYS_TTY_CONFIG",
        "MKNOD",
        "LEASE",
        "AUDIT_WRITE",
        "AUDIT_CONTROL",
        "SETFCAP",
        "MAC_OVERRIDE",
        "MAC_ADMIN",
        "SYSLOG",
        "WAKE_ALARM",
        "BLOCK_SUSPEND",
        "AUDIT_READ",
        "PERFMON",
        "BPF",
        "CHECKPOINT_RESTORE",
    ];
    // Only what this (possibly itself contained) test process may hand out.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap();
    NAMES[..=(last as usize).min(NAMES.len() - 1)]
        .iter()
        .enumerate()
        .filter(|(i, _)| bnd & (1 << i) != 0)
        .map(|(_, n)| format!("CAP_{n}"))
        .collect()
}

/// Docker's default capability set.
const DOCKER_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Moby's default profile (tests/data, vendored) resolved as dockerd does before sending it
/// to the runtime: archMap → architectures for amd64, includes/excludes by capability and
/// arch, minKernel (always met here).
fn docker_profile(caps: &[&str]) -> Value {
    let raw: Value = serde_json::from_str(include_str!("../data/moby-default-seccomp.json"))
        .expect("vendored profile parses");
    let has = |list: &Value, what: &dyn Fn(&str) -> bool| {
        list.as_array()
            .is_some_and(|l| l.iter().any(|v| what(v.as_str().unwrap_or(""))))
    };
    let mut syscalls = Vec::new();
    for s in raw["syscalls"].as_array().unwrap() {
        let inc = &s["includes"];
        let exc = &s["excludes"];
        if !inc["arches"].is_null() && !has(&inc["arches"], &|a| a == "amd64") {
            continue;
        }
        if !inc["caps"].is_null()
            && !inc["caps"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| caps.contains(&c.as_str().unwrap()))
        {
            continue;
        }
        if has(&exc["arches"], &|a| a == "amd64") || has(&exc["caps"], &|c| caps.contains(&c)) {
            continue;
        }
        let mut s = s.clone();
        for k in ["includes", "excludes", "comment"] {
            s.as_object_mut().unwrap().remove(k);
        }
        syscalls.push(s);
    }
    json!({
        "defaultAction": raw["defaultAction"],
        "defaultErrnoRet": raw["defaultErrnoRet"],
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    })
}

fn caps_json(caps: &[String]) -> Value {
    json!({"bounding": caps, "effective": caps, "permitted": caps})
}

/// A privileged-capability container filtered by the profile Docker sends for its default
/// capabilities: what is denied is denied by seccomp, not by missing capabilities.
fn docker_bundle(script: &str, no_new_privs: bool) -> Bundle {
    let mut b = Bundle::sh(script);
    b.set("process.capabilities", caps_json(&all_caps()));
    b.set("process.noNewPrivileges", json!(no_new_privs));
    b.set("linux.seccomp", docker_profile(DOCKER_CAPS));
    b
}

/// Syscalls Docker's profile denies (unshare, sethostname, mount, clone with namespace
/// flags, reboot), allows (chroot, ls, mknod), and one the profile predates (ENOSYS stub).
const DOCKER_SCRIPT: &str = "grep '^Seccomp:' /proc/self/status; \
    unshare -m true 2>/dev/null; echo unshare=$?; \
    hostname nope 2>&1; echo hostname=$?; \
    mkdir -p /tmp/m && mount -t tmpfs x /tmp/m 2>&1; echo mount=$?; \
    chroot / true; echo chroot=$?; \
    mknod /tmp/n c 1 3; echo mknod=$?; \
    ls / >/dev/null; echo ls=$?; \
    nsenter -t 1 -m true 2>&1; echo nsenter=$?";

compare_test!(seccomp_docker_default_profile, |rt| -> String {
    let out = rt.output_of(&docker_bundle(DOCKER_SCRIPT, false));
    assert!(out.contains("Seccomp:\t2"), "{out}");
    assert!(out.contains("unshare=1"), "{out}");
    assert!(out.contains("ls=0"), "{out}");
    out
});

compare_test!(
    seccomp_docker_default_profile_no_new_privs,
    |rt| -> String { rt.output_of(&docker_bundle(DOCKER_SCRIPT, true)) }
);

compare_test!(seccomp_applies_to_exec, |rt| -> (String, String) {
    let mut b = docker_bundle("sleep 1000", false);
    b.set("process.args", json!(["sleep", "1000"]));
    let id = rt.start_detached(&b);
    let out = rt.exec(&[
        &id,
        "sh",
        "-c",
        "grep '^Seccomp:' /proc/self/status; hostname x 2>&1; echo $?",
    ]);
    let cap = rt.exec(&[
        "--cap",
        "CAP_SYS_ADMIN",
        &id,
        "sh",
        "-c",
        "unshare -m true; echo $?",
    ]);
    rt.kill(&id, "KILL");
    (out.stdout, cap.stdout)
});

/// A profile that allows everything except `names`, which get `action` (+ extra fields).
fn deny(names: &[&str], action: &str, extra: Value) -> Value {
    let mut rule = json!({"names": names, "action": action});
    if let Value::Object(m) = extra {
        rule.as_object_mut().unwrap().extend(m);
    }
    json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [rule]})
}

const MKDIR: &[&str] = &["mkdir", "mkdirat"];
const MKDIR_SCRIPT: &str = "mkdir /tmp/x 2>&1; echo rc=$?";

fn with_profile(rt: &Runtime, script: &str, profile: Value) -> String {
    sh_out(rt, script, |b| {
        b.writable();
        b.set("linux.seccomp", profile);
    })
}

compare_test!(seccomp_errno_default_eperm, |rt| -> String {
    let out = with_profile(rt, MKDIR_SCRIPT, deny(MKDIR, "SCMP_ACT_ERRNO", json!({})));
    assert!(out.contains("Operation not permitted"), "{out}");
    out
});

compare_test!(seccomp_errno_ret, |rt| -> String {
    let out = with_profile(
        rt,
        MKDIR_SCRIPT,
        deny(MKDIR, "SCMP_ACT_ERRNO", json!({"errnoRet": 13})),
    );
    assert!(out.contains("Permission denied"), "{out}");
    out
});

compare_test!(seccomp_default_errno_ret, |rt| -> String {
    let profile = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": MKDIR, "action": "SCMP_ACT_ERRNO", "errnoRet": 28}],
    });
    let a = with_profile(rt, MKDIR_SCRIPT, profile);
    // defaultErrnoRet with an ERRNO default: everything not allowed gets it.
    let mut profile = docker_profile(DOCKER_CAPS);
    profile["defaultErrnoRet"] = json!(5);
    for s in profile["syscalls"].as_array_mut().unwrap() {
        if let Some(names) = s["names"].as_array_mut() {
            names.retain(|n| !MKDIR.contains(&n.as_str().unwrap()));
        }
    }
    let b = with_profile(rt, MKDIR_SCRIPT, profile);
    assert!(b.contains("Input/output error"), "{b}");
    format!("{a}\n{b}")
});

// Killed by SIGSYS: sh reports 128+31.
compare_test!(seccomp_kill_actions, |rt| -> Vec<String> {
    [
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_TRAP",
    ]
    .iter()
    .map(|action| {
        let out = with_profile(rt, MKDIR_SCRIPT, deny(MKDIR, action, json!({})));
        assert!(out.ends_with("rc=159"), "{action}: {out}");
        format!("{action}: {out}")
    })
    .collect()
});

compare_test!(seccomp_trace_without_tracer_is_enosys, |rt| -> String {
    let out = with_profile(rt, MKDIR_SCRIPT, deny(MKDIR, "SCMP_ACT_TRACE", json!({})));
    assert!(out.contains("Function not implemented"), "{out}");
    out
});

compare_test!(seccomp_log_allows, |rt| -> String {
    let out = with_profile(rt, MKDIR_SCRIPT, deny(MKDIR, "SCMP_ACT_LOG", json!({})));
    assert_eq!(out, "rc=0");
    out
});

compare_test!(seccomp_unknown_names_are_skipped, |rt| -> String {
    let names = ["mkdir", "mkdirat", "no_such_syscall", "socketcall"];
    with_profile(rt, MKDIR_SCRIPT, deny(&names, "SCMP_ACT_ERRNO", json!({})))
});

// kill(pid, sig): EQ on the signal, MASKED_EQ (signals 0..15 denied), NE, GT/LE.
compare_test!(seccomp_argument_operators, |rt| -> Vec<String> {
    let script = "kill -0 $$ 2>/dev/null; echo sig0=$?; kill -CONT $$ 2>/dev/null; echo cont=$?";
    [
        json!([{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]),
        json!([{"index": 1, "value": 0xff0, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]),
        json!([{"index": 1, "value": 0, "op": "SCMP_CMP_NE"}]),
        json!([{"index": 1, "value": 10, "op": "SCMP_CMP_GT"}]),
        json!([{"index": 1, "value": 10, "op": "SCMP_CMP_LE"}]),
        json!([{"index": 1, "value": 18, "op": "SCMP_CMP_GE"}]),
        json!([{"index": 1, "value": 18, "op": "SCMP_CMP_LT"}]),
        // The same argument twice: either condition matches (runc's rule split).
        json!([{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 18, "op": "SCMP_CMP_EQ"}]),
    ]
    .into_iter()
    .map(|args| {
        let profile = deny(&["kill"], "SCMP_ACT_ERRNO", json!({"args": args}));
        with_profile(rt, script, profile)
    })
    .collect()
});

berth_only_test!(
    seccomp_flags,
    "runc 1.1.5 (Debian) rejects every flag: seccomp flags are not yet supported by runc",
    |rt| {
        for flags in [
            json!(["SECCOMP_FILTER_FLAG_TSYNC"]),
            json!(["SECCOMP_FILTER_FLAG_LOG"]),
            json!(["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]),
        ] {
            let mut p = deny(MKDIR, "SCMP_ACT_ERRNO", json!({}));
            p["flags"] = flags;
            let out = with_profile(rt, MKDIR_SCRIPT, p);
            assert!(out.contains("Operation not permitted"), "{out}");
        }
    }
);

// SCMP_ACT_NOTIFY: the agent at listenerPath receives the process state and the listener.
compare_test!(seccomp_notify_listener, |rt| -> (Value, String) {
    use std::os::unix::net::UnixListener;
    let sock = rt.work().join("seccomp-agent.sock");
    let _ = std::fs::remove_file(&sock);
    let listener = UnixListener::bind(&sock).unwrap();
    let agent = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let (data, fds) = recv_with_fd(&conn);
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fds[0]))
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        for fd in fds {
            // SAFETY: closing descriptors this thread received.
            unsafe { libc::close(fd) };
        }
        (data, link)
    });
    let mut p = deny(&["acct"], "SCMP_ACT_NOTIFY", json!({}));
    p["listenerPath"] = json!(sock);
    p["listenerMetadata"] = json!("meta");
    let out = sh_out(rt, "echo ok", |b| {
        b.set("linux.seccomp", p);
    });
    assert_eq!(out, "ok");
    let (data, link) = agent.join().unwrap();
    let mut v: Value = serde_json::from_slice(&data).unwrap();
    assert_eq!(link, "anon_inode:seccomp notify");
    assert_eq!(v["fds"], json!(["seccompFd"]));
    // Machine-dependent fields, and the spec version each runtime reports.
    v["ociVersion"] = json!("");
    v["state"]["ociVersion"] = json!("");
    v["pid"] = json!(0);
    v["state"]["pid"] = json!(0);
    v["state"]["id"] = json!("");
    v["state"]["bundle"] = json!("");
    (v, link)
});

// No agent listening at listenerPath: create fails with runc's words (runc's tests and
// clients match "failed to connect with seccomp agent").
compare_test!(seccomp_notify_without_agent_fails, |rt| -> (bool, bool) {
    let mut p = deny(&["acct"], "SCMP_ACT_NOTIFY", json!({}));
    p["listenerPath"] = json!(rt.work().join("nobody-listens.sock"));
    let mut b = Bundle::sh("true");
    b.set("linux.seccomp", p);
    let id = rt.id("noagent");
    let out = rt.create(&id, &b);
    let seen = (
        out.success(),
        out.stderr.contains("failed to connect with seccomp agent"),
    );
    assert_eq!(seen, (false, true), "{out:?}");
    seen
});

fn recv_with_fd(conn: &std::os::unix::net::UnixStream) -> (Vec<u8>, Vec<i32>) {
    use std::os::fd::AsRawFd;
    let mut buf = vec![0u8; 65536];
    let mut cmsg = vec![0u8; 64];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: a zeroed msghdr pointing at live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = cmsg.len();
    // SAFETY: recvmsg into the buffers above.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, 0) };
    assert!(n > 0, "recvmsg: {}", std::io::Error::last_os_error());
    let mut fds = Vec::new();
    // SAFETY: walking the control messages the kernel wrote into `cmsg`.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_type == libc::SCM_RIGHTS {
                let p = libc::CMSG_DATA(c) as *const i32;
                let count = ((*c).cmsg_len - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..count {
                    fds.push(*p.add(i));
                }
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    buf.truncate(n as usize);
    (buf, fds)
}

runtime_test!(seccomp_invalid_profiles_fail_create, |rt| {
    for p in [
        json!({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/nonexistent"}),
        json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["write"], "action": "SCMP_ACT_NOTIFY"}], "listenerPath": "/x"}),
    ] {
        let mut b = Bundle::sh("true");
        b.set("linux.seccomp", p.clone());
        let (code, _, err) = rt.run_container(&b);
        assert_ne!(code, 0, "{p}: {err}");
    }
});

// ---- capabilities -------------------------------------------------------------------

const CAP_KEYS: &[&str] = &["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"];

compare_test!(capabilities_privileged_full_set, |rt| -> Vec<String> {
    let out = sh_out(rt, "cat /proc/self/status", |b| {
        let all = all_caps();
        b.set(
            "process.capabilities",
            json!({"bounding": all, "effective": all, "permitted": all, "inheritable": all, "ambient": all}),
        );
    });
    status_lines(&out, CAP_KEYS)
});

compare_test!(capabilities_exec_cap_flag, |rt| -> Vec<Vec<String>> {
    let mut b = Bundle::sh("sleep 1000");
    b.set("process.args", json!(["sleep", "1000"]));
    let id = rt.start_detached(&b);
    let plain = rt.exec(&[&id, "cat", "/proc/self/status"]).ok().stdout;
    let with = rt
        .exec(&[
            "--cap",
            "CAP_SYS_ADMIN",
            "--cap",
            "CAP_NET_RAW",
            &id,
            "cat",
            "/proc/self/status",
        ])
        .ok()
        .stdout;
    let user = rt
        .exec(&["--user", "1000:1000", &id, "cat", "/proc/self/status"])
        .ok()
        .stdout;
    rt.kill(&id, "KILL");
    [plain, with, user]
        .iter()
        .map(|s| status_lines(s, CAP_KEYS))
        .collect()
});

compare_test!(capabilities_ambient_for_non_root, |rt| -> Vec<String> {
    let out = sh_out(rt, "cat /proc/self/status", |b| {
        b.set("process.user", json!({"uid": 1000, "gid": 1000}));
        let c = ["CAP_NET_BIND_SERVICE", "CAP_KILL"];
        b.set(
            "process.capabilities",
            json!({"bounding": c, "effective": c, "permitted": c, "inheritable": c, "ambient": c}),
        );
    });
    status_lines(&out, CAP_KEYS)
});

// ---- LSMs ---------------------------------------------------------------------------

fn lsm_enabled(name: &str) -> bool {
    std::fs::read_to_string("/sys/kernel/security/lsm")
        .is_ok_and(|l| l.split(',').any(|n| n == name))
}

// This kernel may lack AppArmor; then the profile is refused or ignored exactly as runc
// does, and with AppArmor the process runs confined by it.
compare_test!(apparmor_profile, |rt| -> (i32, String) {
    let mut b = Bundle::sh("cat /proc/self/attr/current 2>/dev/null; echo done");
    b.set("process.apparmorProfile", json!("unconfined"));
    let (code, out, err) = rt.run_container(&b);
    if !lsm_enabled("apparmor") {
        eprintln!("apparmor not enabled: {code} {out} {err}");
    }
    (code, out)
});

compare_test!(selinux_label_without_selinux, |rt| -> (i32, String) {
    let mut b = Bundle::sh("echo done");
    b.set(
        "process.selinuxLabel",
        json!("system_u:system_r:container_t:s0"),
    );
    let (code, out, err) = rt.run_container(&b);
    if lsm_enabled("selinux") {
        return (0, String::new());
    }
    let msg = error_message(&err);
    let msg = msg
        .split_once(" run failed: ")
        .map_or(msg.as_str(), |(_, m)| m);
    (code, format!("{out}{msg}"))
});

// Recursive mount options (`rro`, `rnoexec`, …) cover the mounts below a bind too: a
// read-only bind of a tree must not stay writable below its top.
compare_test!(recursive_mount_attributes_reach_submounts, |rt| -> String {
    let src = TempDir::new("recattr");
    let sub = src.path().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "tmpfs"])
        .arg(&sub)
        .status()
        .unwrap()
        .success();
    assert!(mounted, "mount a tmpfs at {}", sub.display());
    let mut b = Bundle::sh(
        "for f in /mnt/top /mnt/sub/x; do touch $f 2>&1 | sed 's/.*: //'; done; \
         grep ' /mnt/sub ' /proc/self/mountinfo | cut -d' ' -f6",
    );
    b.push(
        "mounts",
        json!({"destination": "/mnt", "type": "bind", "source": src.path(),
               "options": ["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnoatime"]}),
    );
    let out = rt.output_of(&b);
    let _ = std::process::Command::new("umount").arg(&sub).status();
    out
});

// A capability the runtime itself does not hold (a runtime in a restricted environment,
// here made by dropping CAP_SYS_NICE from berth's bounding set): the runtime spec says to
// warn and go on, not fail; the container gets the others.
berth_only_test!(
    capability_the_runtime_lacks_is_warned_not_fatal,
    "runc 1.1.5 fails such a container with EPERM (runtime spec: runtimes SHOULD NOT fail)",
    |rt| {
        let mut b = Bundle::sh("grep CapEff /proc/self/status");
        for set in ["bounding", "effective", "permitted", "inheritable"] {
            b.push(
                &format!("process.capabilities.{set}"),
                json!("CAP_SYS_NICE"),
            );
        }
        b.write();
        let id = rt.id("lackcap");
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--bounding-set", "-sys_nice"])
            .arg(&rt.bin)
            .arg("--root")
            .arg(rt.root())
            .args(["run", "--bundle", b.path().to_str().unwrap(), &id])
            .stdin(std::process::Stdio::null());
        let out = rt.run_cmd(cmd);
        let _ = rt.run(&["delete", "--force", &id]);
        assert_eq!(out.code, Some(0), "{out:?}");
        assert!(
            out.stderr.contains("CAP_SYS_NICE cannot be granted"),
            "{out:?}"
        );
        let eff = u64::from_str_radix(out.stdout.trim().trim_start_matches("CapEff:").trim(), 16)
            .unwrap();
        assert_eq!(eff & (1 << 23), 0, "CAP_SYS_NICE (23) in {eff:x}");
        assert_ne!(eff & (1 << 5), 0, "CAP_KILL kept in {eff:x}");
    }
);
