//! checkpoint/restore on this host: runc's argument and state checks, and what a failed
//! dump or restore leaves (the container running; nothing). Dumping and restoring for
//! real needs a CRIU that works on the kernel: this machine's 3.17 stops at the vDSO on
//! 6.18, so those scenarios run in the modern-host VM (integration/vm/scenarios.sh,
//! "checkpoint and restore"), against runc 1.3.

use berth_tests::*;

fn sleeper() -> Bundle {
    let mut b = Bundle::new();
    b.args(&["sleep", "1000"]);
    b
}

fn msg(rt: &Runtime, out: &Output) -> String {
    normalize_stderr(&out.stderr, rt.name())
}

/// `[GLOBALS] restore -d --bundle B --image-path IMAGES ID`.
fn restore(
    rt: &Runtime,
    globals: &[&str],
    b: &Bundle,
    images: &std::path::Path,
    id: &str,
) -> Output {
    let mut args = globals.to_vec();
    let (bundle, images) = (b.path().to_str().unwrap(), images.to_str().unwrap());
    args.extend([
        "restore",
        "-d",
        "--bundle",
        bundle,
        "--image-path",
        images,
        id,
    ]);
    rt.run(&args)
}

fn one_line(out: &Output) -> &str {
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one error line: {:?}", out.stderr);
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    lines[0]
}

// The checks made before CRIU runs, and their texts, as runc's; the container is left
// as it was by each of them.
compare_test!(checkpoint_refusals_as_runc, |rt| -> Vec<String> {
    let b = sleeper();
    let running = rt.start_detached(&b);
    let created = rt.id("created");
    rt.create(&created, &b).ok();
    let images = rt.work().join("images");
    let images = images.to_str().unwrap();
    let mut seen = Vec::new();
    for args in [
        vec!["--manage-cgroups-mode", "bogus", running.as_str()],
        vec!["--empty-ns", "bogus", running.as_str()],
        vec!["--page-server", "nope", running.as_str()],
        vec![created.as_str()],
        vec!["no-such-container"],
    ] {
        let mut all = vec!["checkpoint", "--image-path", images];
        all.extend(args);
        let out = rt.run(&all);
        // runc 1.1.5 may also warn that its deferred destroy found the container running.
        let first = msg(rt, &out)
            .lines()
            .find(|l| *l != "container still running")
            .unwrap_or("")
            .to_string();
        seen.push(format!("{:?} {first}", out.code));
    }
    seen.push(rt.status(&running));
    seen.push(rt.status(&created));
    rt.delete_force(&running);
    rt.delete_force(&created);
    seen
});

// A restore whose images lack runc's stdio record is refused naming the file, as runc
// does, and leaves no container.
compare_test!(restore_without_images_as_runc, |rt| -> Vec<String> {
    let b = sleeper();
    b.write();
    let id = rt.id("restore");
    let images = rt.work().join("no-images");
    let out = restore(rt, &[], &b, &images, &id);
    let said = normalize_stderr(
        &out.stderr.replace(images.to_str().unwrap(), "<images>"),
        rt.name(),
    );
    vec![
        format!("{:?} {said}", out.code),
        format!("{:?}", rt.root_entries()),
    ]
});

// A dump CRIU refuses (on this host: its vDSO step) leaves the container running and
// says why in one line, with CRIU's log; runc 1.1.5 destroys the container instead
// (fixed in runc 1.2). Where CRIU can dump, the container is gone afterwards, as under
// runc.
berth_only_test!(
    failed_dump_leaves_the_container_running,
    "runc 1.1.5 destroys the container when the dump fails",
    |rt| {
        let b = sleeper();
        let id = rt.start_detached(&b);
        let pid = rt.pid(&id);
        // Parents that do not exist yet are made, as runc's MkdirAll does (pre-dump
        // chains put each dump in a directory of its own).
        let images = rt.work().join("dumps/1/images");
        let out = rt.run(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]);
        if out.success() {
            let gone = rt.run(&["state", &id]);
            assert!(!gone.success(), "container still exists after checkpoint");
            return;
        }
        let line = one_line(&out);
        let log = images.join("dump.log");
        assert!(line.contains("criu failed: type DUMP"), "{line}");
        assert!(
            line.contains(&format!("log file: {}", log.display())),
            "{line}"
        );
        assert!(log.exists(), "no CRIU log at {}", log.display());
        // The stdio record: stdin is the container's /dev/null (reopened at create); stdout
        // and stderr are the test's files, outside the container, recorded under CRIU's
        // external-file key.
        let record: Vec<String> = serde_json::from_slice(
            &std::fs::read(images.join("descriptors.json")).expect("descriptors.json"),
        )
        .unwrap();
        assert_eq!(record[0], "/dev/null", "{record:?}");
        assert!(
            record[1].starts_with("file[") && record[2].starts_with("file["),
            "{record:?}"
        );
        assert_eq!(rt.status(&id), "running");
        assert!(pid_alive(pid), "init {pid} died");
        rt.delete_force(&id);
    }
);

// Without CRIU (--criu names a missing binary), both commands say so in one line; the
// container runs on, and a restore leaves nothing.
berth_only_test!(no_criu_binary, "runc 1.1.5 has no --criu option", |rt| {
    let b = sleeper();
    let id = rt.start_detached(&b);
    let images = rt.work().join("images");
    let images = images.to_str().unwrap();
    let out = rt.run(&[
        "--criu",
        "/nonexistent/criu",
        "checkpoint",
        "--image-path",
        images,
        &id,
    ]);
    assert_eq!(out.code, Some(1));
    one_line(&out);
    let said = msg(rt, &out);
    assert!(
        said.contains("\"/nonexistent/criu\": executable file not found"),
        "{said}"
    );
    assert_eq!(rt.status(&id), "running");
    // With a stdio record in place, a restore gets as far as starting CRIU.
    std::fs::create_dir_all(images).unwrap();
    std::fs::write(
        std::path::Path::new(images).join("descriptors.json"),
        "[\"/dev/null\",\"/dev/null\",\"/dev/null\"]",
    )
    .unwrap();
    let restored = rt.id("restored");
    let out = restore(
        rt,
        &["--criu", "/nonexistent/criu"],
        &b,
        std::path::Path::new(images),
        &restored,
    );
    assert_eq!(out.code, Some(1));
    assert!(
        one_line(&out).contains("executable file not found"),
        "{}",
        out.stderr
    );
    assert!(
        !rt.root().join(&restored).exists(),
        "state left for {restored}"
    );
    rt.delete_force(&id);
});

// A restore CRIU fails (here: it cannot restore on this kernel; elsewhere: the images
// are of a process that no longer matches) takes down what it made: no state, no
// cgroup, no criu-root mount, no process.
berth_only_test!(
    failed_restore_leaves_nothing,
    "runc 1.1.5 cannot restore here either; the leftovers are berth's to check",
    |rt| {
        let mut b = sleeper();
        let cg = format!("berth-cr-{}", std::process::id());
        b.set("linux.cgroupsPath", json!(format!("/{cg}")));
        b.write();
        let images = rt.work().join("images");
        std::fs::create_dir_all(&images).unwrap();
        std::fs::write(
            images.join("descriptors.json"),
            "[\"/dev/null\",\"/dev/null\",\"/dev/null\"]",
        )
        .unwrap();
        let id = rt.id("restore");
        let out = restore(rt, &[], &b, &images, &id);
        assert_eq!(out.code, Some(1), "{out:?}");
        let line = one_line(&out);
        assert!(
            line.contains("criu") && line.contains("restore.log"),
            "{line}"
        );
        assert!(
            rt.root_entries().is_empty(),
            "state left: {:?}",
            rt.root_entries()
        );
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mounts.contains("criu-root"), "criu-root still mounted");
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
            let dir = hierarchy.path().join(&cg);
            assert!(!dir.exists(), "cgroup left: {}", dir.display());
        }
        assert!(!std::path::Path::new("/sys/fs/cgroup").join(&cg).exists());
    }
);

// stdio that is the host's /dev/null is replaced by the container's own /dev/null, as
// runc does: the host's node lies on a mount the container cannot see, which CRIU cannot
// dump (podman's `run -d` hands its containers /dev/null as stdin).
compare_test!(host_dev_null_stdio_is_reopened, |rt| -> String {
    // Detached (create, start): the init gets our stdin, /dev/null, as it is.
    let mut b = Bundle::sh(
        "m=$(sed -n 's/^mnt_id:[[:space:]]*//p' /proc/self/fdinfo/0); \
         if grep -q \"^$m \" /proc/self/mountinfo; then echo visible; else echo hidden; fi >/seen; \
         sleep 1000",
    );
    b.writable();
    let id = rt.start_detached(&b);
    let seen = b.rootfs().join("seen");
    wait_for(std::time::Duration::from_secs(10), || seen.exists());
    rt.delete_force(&id);
    std::fs::read_to_string(&seen).unwrap_or_default()
});

// `--parent-path` is relative to the image path and checked on the joined text (as Go's
// filepath.Join): the final dump's directory need not exist yet. A missing parent is one
// line naming it.
berth_only_test!(
    parent_path_next_to_a_new_image_path,
    "runc 1.1.5 does not check --parent-path",
    |rt| {
        let b = sleeper();
        let id = rt.start_detached(&b);
        let dumps = rt.work().join("chain");
        std::fs::create_dir_all(dumps.join("p1")).unwrap();
        let p2 = dumps.join("p2");
        let out = rt.run(&[
            "checkpoint",
            "--parent-path",
            "../p1",
            "--image-path",
            p2.to_str().unwrap(),
            "--leave-running",
            &id,
        ]);
        assert!(
            !one_line(&out).contains("invalid --parent-path"),
            "{}",
            one_line(&out)
        );
        let out = rt.run(&[
            "checkpoint",
            "--parent-path",
            "../p0",
            "--image-path",
            dumps.join("p3").to_str().unwrap(),
            &id,
        ]);
        assert!(!out.success());
        let line = one_line(&out);
        assert!(line.contains("invalid --parent-path"), "{line}");
        assert!(line.contains("chain/p0"), "{line}");
        assert_eq!(rt.status(&id), "running");
        rt.delete_force(&id);
    }
);
