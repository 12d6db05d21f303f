//! What the process sees inside the container: identity, limits, capabilities, mounts,
//! devices. Where behaviour must match runc exactly, `compare_test!` checks berth
//! against runc on the same bundle.

use berth_tests::*;

/// Run `sh -c SCRIPT` in a bundle edited by `edit`; return trimmed stdout (exit 0 required).
fn sh_out(rt: &Runtime, script: &str, edit: impl FnOnce(&mut Bundle)) -> String {
    let mut b = Bundle::sh(script);
    edit(&mut b);
    rt.output_of(&b).trim_end().to_string()
}

runtime_test!(hostname_is_set, |rt| {
    assert_eq!(
        sh_out(rt, "hostname", |b| {
            b.set("hostname", json!("berth-host"));
        }),
        "berth-host"
    );
});

berth_only_test!(
    domainname_is_set,
    "runc 1.1.5 ignores domainname (added in runc 1.2)",
    |rt| {
        let out = sh_out(rt, "cat /proc/sys/kernel/domainname", |b| {
            b.set("domainname", json!("example.org"));
        });
        assert_eq!(out, "example.org");
    }
);

runtime_test!(pid_is_1, |rt| {
    assert_eq!(
        sh_out(rt, "echo $$; cut -d' ' -f1 /proc/self/stat", |_| {}),
        "1\n1"
    );
});

runtime_test!(own_mount_namespace, |rt| {
    let inside = sh_out(rt, "readlink /proc/self/ns/mnt", |_| {});
    let host = std::fs::read_link("/proc/self/ns/mnt").unwrap();
    assert!(inside.starts_with("mnt:["), "{inside}");
    assert_ne!(inside, host.to_str().unwrap());
    let mi = sh_out(rt, "cat /proc/self/mountinfo", |_| {});
    let host_mi = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_ne!(mi, host_mi.trim_end());
});

runtime_test!(proc_is_mounted, |rt| {
    let mi = sh_out(rt, "cat /proc/self/mountinfo", |_| {});
    assert!(
        mi.lines()
            .any(|l| l.split(' ').nth(4) == Some("/proc") && l.contains(" - proc ")),
        "{mi}"
    );
});

runtime_test!(root_is_pivoted, |rt| {
    // "/" is the bundle's rootfs: the busybox we copied, and no host files.
    let out = sh_out(rt, "ls /; test -e /work && echo HOST; true", |_| {});
    assert!(!out.contains("HOST"), "{out}");
    assert!(out.contains("bin") && out.contains("etc"), "{out}");
});

/// mountinfo reduced to what must match runc: mount point, per-mount options, fs type,
/// super options (ids, device numbers, roots and optional fields dropped).
fn mount_table(mi: &str) -> Vec<String> {
    mi.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-").unwrap();
            format!(
                "{} {} {} {}",
                f[4],
                f[5],
                f[sep + 1],
                f.get(sep + 3).unwrap_or(&"")
            )
        })
        .collect()
}

compare_test!(mountinfo_matches_runc, |rt| -> Vec<String> {
    mount_table(&sh_out(rt, "cat /proc/self/mountinfo", |_| {}))
});

runtime_test!(user_uid_gid, |rt| {
    let out = sh_out(rt, "id", |b| {
        b.set("process.user", json!({"uid": 1000, "gid": 1000}));
    });
    assert_eq!(out, "uid=1000(user) gid=1000(user)");
});

runtime_test!(additional_gids, |rt| {
    let out = sh_out(rt, "id; grep Groups /proc/self/status", |b| {
        b.set(
            "process.user",
            json!({"uid": 1000, "gid": 1000, "additionalGids": [2000, 65534]}),
        );
    });
    assert_eq!(
        out.replace('\t', " ").trim_end(),
        "uid=1000(user) gid=1000(user) groups=2000(extra),65534(nogroup)\nGroups: 2000 65534"
    );
});

runtime_test!(root_has_no_supplementary_groups, |rt| {
    let out = sh_out(rt, "grep Groups /proc/self/status", |_| {});
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["Groups:"]);
});

runtime_test!(umask, |rt| {
    assert_eq!(
        sh_out(rt, "umask", |b| {
            b.set("process.user.umask", json!(0o027));
        }),
        "0027"
    );
});

runtime_test!(default_umask, |rt| {
    assert_eq!(sh_out(rt, "umask", |_| {}), "0022");
});

runtime_test!(cwd, |rt| {
    assert_eq!(
        sh_out(rt, "pwd", |b| {
            b.set("process.cwd", json!("/tmp"));
        }),
        "/tmp"
    );
});

runtime_test!(cwd_created_if_missing, |rt| {
    assert_eq!(
        sh_out(rt, "pwd", |b| {
            b.set("process.cwd", json!("/work/dir"));
        }),
        "/work/dir"
    );
});

runtime_test!(env_is_passed, |rt| {
    let out = sh_out(rt, "echo $FOO", |b| {
        b.push("process.env", json!("FOO=bar baz"));
    });
    assert_eq!(out, "bar baz");
});

compare_test!(env_matches_runc, |rt| -> String {
    // runc adds HOME from /etc/passwd when the config has none.
    let out = sh_out(
        rt,
        "env | grep -v '^PWD=' | grep -v '^SHLVL=' | sort",
        |b| {
            b.push("process.env", json!("A=1"));
        },
    );
    assert!(out.contains("HOME=/root"), "{out}");
    out
});

runtime_test!(home_from_passwd_for_user, |rt| {
    let out = sh_out(rt, "echo $HOME", |b| {
        b.set("process.user", json!({"uid": 1000, "gid": 1000}));
    });
    assert_eq!(out, "/home/user");
});

runtime_test!(rlimit_nofile, |rt| {
    let out = sh_out(rt, "grep 'Max open files' /proc/self/limits", |b| {
        b.set(
            "process.rlimits",
            json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048}]),
        );
    });
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["Max", "open", "files", "512", "2048", "files"]
    );
});

runtime_test!(rlimit_default_from_spec, |rt| {
    assert_eq!(sh_out(rt, "ulimit -n", |_| {}), "1024");
});

runtime_test!(rlimit_other, |rt| {
    let out = sh_out(rt, "grep 'Max processes' /proc/self/limits", |b| {
        b.push(
            "process.rlimits",
            json!({"type": "RLIMIT_NPROC", "soft": 300, "hard": 400}),
        );
    });
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>()[2..4],
        ["300", "400"]
    );
});

runtime_test!(oom_score_adj, |rt| {
    let out = sh_out(rt, "cat /proc/self/oom_score_adj", |b| {
        b.set("process.oomScoreAdj", json!(500));
    });
    assert_eq!(out, "500");
});

const CAP_KEYS: &[&str] = &["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"];

compare_test!(capabilities_match_runc, |rt| -> Vec<String> {
    let out = sh_out(rt, "cat /proc/self/status", |_| {});
    let caps = status_lines(&out, CAP_KEYS);
    // runc's default spec: AUDIT_WRITE(29), KILL(5), NET_BIND_SERVICE(10) in all but inheritable.
    assert_eq!(
        caps,
        [
            "CapInh: 0000000000000000",
            "CapPrm: 0000000020000420",
            "CapEff: 0000000020000420",
            "CapBnd: 0000000020000420",
            // ambient caps not in the inheritable set cannot be raised; runc ignores that
            "CapAmb: 0000000000000000"
        ]
    );
    caps
});

compare_test!(capabilities_custom_sets, |rt| -> Vec<String> {
    let out = sh_out(rt, "cat /proc/self/status", |b| {
        b.set(
            "process.capabilities",
            json!({
                "bounding": ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_NET_RAW"],
                "effective": ["CAP_CHOWN"],
                "permitted": ["CAP_CHOWN", "CAP_NET_RAW"],
                "inheritable": ["CAP_NET_RAW"],
                "ambient": ["CAP_NET_RAW"]
            }),
        );
    });
    let caps = status_lines(&out, CAP_KEYS);
    assert_eq!(
        caps,
        [
            "CapInh: 0000000000002000",
            "CapPrm: 0000000000002001",
            "CapEff: 0000000000002001",
            "CapBnd: 0000000000202001",
            "CapAmb: 0000000000002000"
        ]
    );
    caps
});

compare_test!(capabilities_non_root_user, |rt| -> Vec<String> {
    let out = sh_out(rt, "cat /proc/self/status", |b| {
        b.set("process.user", json!({"uid": 1000, "gid": 1000}));
    });
    status_lines(&out, CAP_KEYS)
});

runtime_test!(no_new_privileges_set, |rt| {
    let out = sh_out(rt, "grep NoNewPrivs /proc/self/status", |_| {});
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "1"]
    );
});

runtime_test!(no_new_privileges_unset, |rt| {
    let out = sh_out(rt, "grep NoNewPrivs /proc/self/status", |b| {
        b.set("process.noNewPrivileges", json!(false));
    });
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["NoNewPrivs:", "0"]
    );
});

runtime_test!(sysctl_net, |rt| {
    let out = sh_out(rt, "cat /proc/sys/net/ipv4/ip_forward", |b| {
        b.set("linux.sysctl", json!({"net.ipv4.ip_forward": "1"}));
    });
    assert_eq!(out, "1");
});

runtime_test!(sysctl_ipc, |rt| {
    let out = sh_out(rt, "cat /proc/sys/kernel/shm_rmid_forced", |b| {
        b.set("linux.sysctl", json!({"kernel.shm_rmid_forced": "1"}));
    });
    assert_eq!(out, "1");
});

runtime_test!(readonly_rootfs, |rt| {
    let out = sh_out(
        rt,
        "touch /x 2>&1 && echo WROTE; grep -c ' / .* ro,' /proc/self/mountinfo",
        |_| {},
    );
    assert!(!out.contains("WROTE"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
});

runtime_test!(writable_rootfs, |rt| {
    let out = sh_out(rt, "touch /x && echo WROTE", |b| {
        b.writable();
    });
    assert_eq!(out, "WROTE");
});

runtime_test!(masked_paths_default, |rt| {
    // files are masked with /dev/null, directories with an empty read-only tmpfs
    let out = sh_out(
        rt,
        "wc -c < /proc/keys; wc -c < /proc/timer_list; ls -A /sys/firmware | wc -l",
        |_| {},
    );
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0", "0", "0"]);
});

runtime_test!(masked_paths_custom, |rt| {
    let mut b = Bundle::sh("cat /etc/secret; echo; ls -A /etc/secretdir | wc -l");
    std::fs::write(b.rootfs().join("etc/secret"), "TOPSECRET").unwrap();
    std::fs::create_dir(b.rootfs().join("etc/secretdir")).unwrap();
    std::fs::write(b.rootfs().join("etc/secretdir/f"), "x").unwrap();
    b.push("linux.maskedPaths", json!("/etc/secret"));
    b.push("linux.maskedPaths", json!("/etc/secretdir"));
    b.push("linux.maskedPaths", json!("/does/not/exist"));
    let out = rt.output_of(&b);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["0"]);
});

runtime_test!(readonly_paths_default, |rt| {
    let out = sh_out(rt, "echo 1 > /proc/sys/kernel/shm_rmid_forced 2>/dev/null && echo WROTE; grep ' /proc/sys ' /proc/self/mountinfo", |b| {
        b.remove("linux.sysctl");
    });
    assert!(!out.contains("WROTE"), "{out}");
    assert!(out.contains(" /proc/sys ro,"), "{out}");
});

runtime_test!(readonly_paths_custom, |rt| {
    let host = TempDir::new("ro");
    let mut b = Bundle::sh("touch /data/f 2>/dev/null && echo WROTE; cat /data/in");
    std::fs::write(host.path().join("in"), "readable").unwrap();
    b.bind(host.path(), "/data", &[]);
    b.push("linux.readonlyPaths", json!("/data"));
    let out = rt.output_of(&b);
    assert_eq!(out, "readable");
    assert!(!host.path().join("f").exists());
});

runtime_test!(tmpfs_mount_options, |rt| {
    let out = sh_out(
        rt,
        "grep ' /scratch ' /proc/self/mountinfo; stat -c %a /scratch",
        |b| {
            b.push(
                "mounts",
                json!({"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                   "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=700"]}),
            );
        },
    );
    let mut lines = out.lines();
    let mi = lines.next().unwrap();
    let f: Vec<&str> = mi.split(' ').collect();
    assert!(
        f[5].contains("nosuid") && f[5].contains("nodev") && f[5].contains("noexec"),
        "{mi}"
    );
    assert!(
        mi.contains(" - tmpfs tmpfs ") && mi.contains("size=1024k") && mi.contains("mode=700"),
        "{mi}"
    );
    assert_eq!(lines.next(), Some("700"));
});

runtime_test!(bind_mount, |rt| {
    let host = TempDir::new("bind");
    std::fs::write(host.path().join("in"), "from-host").unwrap();
    let mut b = Bundle::sh("cat /data/in; echo from-container > /data/out");
    b.bind(host.path(), "/data", &[]);
    assert_eq!(rt.output_of(&b), "from-host");
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap(),
        "from-container\n"
    );
});

runtime_test!(bind_mount_file, |rt| {
    let host = TempDir::new("bindf");
    std::fs::write(host.path().join("f"), "one-file").unwrap();
    let mut b = Bundle::sh("cat /etc/bound");
    b.push(
        "mounts",
        json!({"destination": "/etc/bound", "type": "bind",
                            "source": host.path().join("f"), "options": ["bind"]}),
    );
    assert_eq!(rt.output_of(&b), "one-file");
});

runtime_test!(ro_bind_mount, |rt| {
    let host = TempDir::new("robind");
    let mut b =
        Bundle::sh("touch /data/f 2>/dev/null && echo WROTE; grep ' /data ' /proc/self/mountinfo");
    b.bind(host.path(), "/data", &["ro", "nosuid", "nodev"]);
    let out = rt.output_of(&b);
    assert!(!out.contains("WROTE"), "{out}");
    let opts = out.split(' ').nth(5).unwrap();
    assert!(
        opts.starts_with("ro,") && opts.contains("nosuid") && opts.contains("nodev"),
        "{out}"
    );
    assert!(!host.path().join("f").exists());
});

fn optional_fields(line: &str) -> String {
    let f: Vec<&str> = line.split(' ').collect();
    let sep = f.iter().position(|x| *x == "-").unwrap();
    f[6..sep]
        .iter()
        .map(|s| s.split(':').next().unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

runtime_test!(mount_propagation_shared, |rt| {
    let host = TempDir::new("prop");
    let mut b = Bundle::sh("grep ' /data ' /proc/self/mountinfo");
    b.bind(host.path(), "/data", &["rshared"]);
    assert_eq!(optional_fields(&rt.output_of(&b)), "shared");
});

runtime_test!(mount_propagation_private, |rt| {
    let host = TempDir::new("prop");
    let mut b = Bundle::sh("grep ' /data ' /proc/self/mountinfo");
    b.bind(host.path(), "/data", &["rprivate"]);
    assert_eq!(optional_fields(&rt.output_of(&b)), "");
});

compare_test!(rootfs_propagation_matches_runc, |rt| -> Vec<String> {
    // The propagation tags of "/" and of a bind mount under each rootfsPropagation.
    [
        "shared", "slave", "private", "rshared", "rslave", "rprivate",
    ]
    .iter()
    .map(|p| {
        let host = TempDir::new("rprop");
        let mut b = Bundle::sh("awk '$5 == \"/\" || $5 == \"/data\"' /proc/self/mountinfo");
        b.set("linux.rootfsPropagation", json!(p));
        b.bind(host.path(), "/data", &[]);
        let out = rt.output_of(&b);
        format!(
            "{p}: {}",
            out.lines()
                .map(optional_fields)
                .collect::<Vec<_>>()
                .join(" | ")
        )
    })
    .collect()
});

runtime_test!(linux_devices, |rt| {
    let out = sh_out(
        rt,
        "stat -c '%F %t %T %a %u %g' /dev/mynull; echo x > /dev/mynull && echo WROTE",
        |b| {
            b.push(
                "linux.devices",
                json!({"path": "/dev/mynull", "type": "c", "major": 1, "minor": 3,
                                       "fileMode": 0o640, "uid": 0, "gid": 5}),
            );
        },
    );
    assert_eq!(out, "character special file 1 3 640 0 5\nWROTE");
});

runtime_test!(default_devices, |rt| {
    let out = sh_out(
        rt,
        "for d in null zero full random urandom tty; do stat -c '%n %F %t %T %a' /dev/$d; done; head -c 4 /dev/zero | wc -c",
        |_| {},
    );
    assert_eq!(
        out,
        "/dev/null character special file 1 3 666\n\
         /dev/zero character special file 1 5 666\n\
         /dev/full character special file 1 7 666\n\
         /dev/random character special file 1 8 666\n\
         /dev/urandom character special file 1 9 666\n\
         /dev/tty character special file 5 0 666\n4"
    );
});

runtime_test!(dev_symlinks, |rt| {
    let out = sh_out(
        rt,
        "for l in fd stdin stdout stderr ptmx; do echo $l=$(readlink /dev/$l); done",
        |_| {},
    );
    assert_eq!(
        out,
        "fd=/proc/self/fd\nstdin=/proc/self/fd/0\nstdout=/proc/self/fd/1\nstderr=/proc/self/fd/2\nptmx=pts/ptmx"
    );
});

runtime_test!(dev_is_tmpfs_and_pts, |rt| {
    let mi = sh_out(rt, "cat /proc/self/mountinfo", |_| {});
    for (mp, ty) in [
        ("/dev", "tmpfs"),
        ("/dev/pts", "devpts"),
        ("/dev/shm", "tmpfs"),
        ("/dev/mqueue", "mqueue"),
        ("/sys", "sysfs"),
    ] {
        assert!(
            mi.lines()
                .any(|l| l.split(' ').nth(4) == Some(mp) && l.contains(&format!(" - {ty} "))),
            "{mp} {ty}: {mi}"
        );
    }
});

compare_test!(no_pivot_mountinfo_matches_runc, |rt| -> Vec<String> {
    // `run --no-pivot`: MS_MOVE + chroot instead of pivot_root; same view from inside.
    let b = Bundle::sh("cat /proc/self/mountinfo");
    b.write();
    let id = rt.id("nopivot");
    let out = rt
        .run(&[
            "run",
            "--no-pivot",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ])
        .ok();
    let _ = rt.run(&["delete", "--force", &id]);
    mount_table(&out.stdout)
});

compare_test!(no_pivot_hides_the_bare_host_proc, |rt| -> (bool, bool) {
    // Without pivot_root the host's /proc stays in the mount namespace; were it left whole,
    // a user namespace inside could mount a fresh procfs (the kernel allows that when a
    // bare one is already mounted) and reach what the container's masks hide.
    let mut b = Bundle::sh("unshare -mrpf sh -c 'mount -t proc none /proc && echo mounted'");
    for set in ["bounding", "permitted", "effective"] {
        b.push(&format!("process.capabilities.{set}"), json!("CAP_SETFCAP"));
    }
    b.write();
    let id = rt.id("nopivot-proc");
    let out = rt.run(&[
        "run",
        "--no-pivot",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    let _ = rt.run(&["delete", "--force", &id]);
    (
        out.stdout.contains("mounted"),
        out.stderr.contains("mount: permission denied"),
    )
});

berth_only_test!(
    io_priority_and_scheduler_are_applied,
    "process.ioPriority and process.scheduler are runtime-spec 1.2: runc 1.1.5 ignores them",
    |rt| {
        let mut b = Bundle::sh("ionice -p $$; cut -d' ' -f19,41 /proc/self/stat");
        b.set(
            "process.ioPriority",
            json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
        );
        b.set(
            "process.scheduler",
            json!({"policy": "SCHED_BATCH", "nice": 7}),
        );
        // ionice, then nice (field 19) and policy (field 41: SCHED_BATCH is 3).
        assert_eq!(rt.output_of(&b), "best-effort: prio 6\n7 3\n");
    }
);

berth_only_test!(
    io_priority_out_of_range_is_refused,
    "process.ioPriority is runtime-spec 1.2: runc 1.1.5 ignores it",
    |rt| {
        let mut b = Bundle::sh("true");
        b.set(
            "process.ioPriority",
            json!({"class": "IOPRIO_CLASS_BE", "priority": 9}),
        );
        let (code, _, err) = rt.run_container(&b);
        assert_ne!(code, 0);
        assert!(
            err.contains("process.ioPriority.priority: invalid value 9"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
);

/// Mount points at or below `dir` in this (the host's) mount namespace.
fn host_mounts_below(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|p| std::path::Path::new(p).starts_with(dir))
        .collect()
}

/// The optional fields (propagation) of every host mount, by mount point.
fn host_propagation() -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let dash = f.iter().position(|x| *x == "-").unwrap_or(6);
            format!("{} {}", f[4], f[6..dash].join(","))
        })
        .collect()
}

// No mount namespace: the container is confined to its rootfs by chroot and its mounts
// are made in the host's namespace, as runc does. Berth-only because runc then makes every
// host mount a recursive slave (its prepareRoot on the host's "/") and leaves its mounts
// behind: run under the suite, it changed this host (a shared /run/netns went private).
// Berth leaves the host's propagation alone and detaches its mounts at delete.
berth_only_test!(
    no_mount_namespace_runs_chrooted,
    "runc would make the host's mounts slaves and leave its mounts behind",
    |rt| {
        let mut b = Bundle::sh(
            "test -x /bin/busybox && echo confined; test -e /proc/self/status && echo proc",
        );
        b.without_namespace("mount");
        b.remove("linux.maskedPaths");
        b.remove("linux.readonlyPaths");
        b.set("root.readonly", json!(false));
        let before = host_propagation();
        let out = rt.output_of(&b);
        assert_eq!(out, "confined\nproc\n");
        let left = host_mounts_below(&b.rootfs());
        assert!(left.is_empty(), "mounts left on the host: {left:?}");
        assert_eq!(host_propagation(), before, "the host's propagation changed");
    }
);

// Without a mount namespace nothing can be masked or made read-only: refused, as runc.
compare_test!(no_mount_namespace_refuses_masked_paths, |rt| -> (
    Option<i32>,
    String
) {
    let mut b = Bundle::sh("true");
    b.without_namespace("mount");
    let id = rt.id("nomntmask");
    let out = rt.create(&id, &b);
    let line = normalize_stderr(out.stderr.lines().last().unwrap_or(""), rt.name());
    (
        out.code,
        line.contains("unable to restrict sys entries without a private MNT namespace")
            .to_string(),
    )
});
