//! `berth-image build`: Dockerfiles using every instruction, built on the busybox image,
//! run through the berth runtime, checked against Docker's rules; cache hits and misses.

mod common;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{bi, ok, Tmp};

/// The berth runtime next to berth-image, or skip.
fn runtime() -> Option<String> {
    let exe = std::path::PathBuf::from(env!("CARGO_BIN_EXE_berth-image"));
    let berth = exe.parent().unwrap().join("berth");
    berth.is_file().then(|| berth.display().to_string())
}

macro_rules! need_runtime {
    () => {
        match runtime() {
            Some(r) => r,
            None => {
                eprintln!("skipped: berth not built next to berth-image");
                return;
            }
        }
    };
}

struct Built {
    stdout: String,
    stderr: String,
    ok: bool,
}

fn build(root: &Path, rt: &str, ctx: &Path, extra: &[&str]) -> Built {
    let mut args = vec!["build", "--runtime", rt];
    args.extend_from_slice(extra);
    let ctx_s = ctx.display().to_string();
    args.push(&ctx_s);
    let o = bi(root, &args);
    Built {
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        ok: o.status.success(),
    }
}

fn built(root: &Path, rt: &str, ctx: &Path, extra: &[&str]) -> Built {
    let b = build(root, rt, ctx, extra);
    assert!(b.ok, "build failed: {}", b.stderr);
    b
}

/// (hits, misses) from the summary line.
fn counts(b: &Built) -> (usize, usize) {
    let l = b
        .stderr
        .lines()
        .find(|l| l.starts_with("cache: "))
        .expect("cache line");
    let n: Vec<usize> = l
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    (n[0], n[1])
}

/// `berth-image run --rm`, returning (exit code, stdout).
/// `berth-image run --rm` without a network: these tests check Dockerfile semantics, and
/// the default bridge is shared by every test running in parallel.
fn run(root: &Path, rt: &str, image: &str, cmd: &[&str]) -> (i32, String) {
    let mut args = vec!["run", "--rm", "--network", "none", "--runtime", rt, image];
    args.extend_from_slice(cmd);
    let o = bi(root, &args);
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

fn write(p: &Path, s: &str) {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(p, s).unwrap();
}

fn setup(name: &str) -> (Tmp, Tmp) {
    let root = Tmp::new(&format!("build-root-{name}"));
    let ctx = Tmp::new(&format!("build-ctx-{name}"));
    ok(root.path(), &["busybox", "busybox:latest"]);
    (root, ctx)
}

#[test]
fn every_instruction_and_docker_rules() {
    let rt = need_runtime!();
    let (root, ctx) = setup("all");
    let c = ctx.path();
    write(&c.join("a.txt"), "hello\n");
    std::fs::set_permissions(c.join("a.txt"), std::fs::Permissions::from_mode(0o751)).unwrap();
    assert!(Command::new("touch")
        .args(["-d", "2020-01-02 03:04:05"])
        .arg(c.join("a.txt"))
        .status()
        .unwrap()
        .success());
    write(&c.join("dir/sub/f"), "in dir\n");
    write(&c.join("ignored.log"), "secret\n");
    write(&c.join("keep.log"), "kept\n");
    write(&c.join(".dockerignore"), "*.log\n!keep.log\n");
    write(&c.join("g1.cfg"), "1\n");
    write(&c.join("g2.cfg"), "2\n");
    // A gzip tar for ADD.
    let tgz = c.join("arch.tar.gz");
    {
        let f = std::fs::File::create(&tgz).unwrap();
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
        let mut t = tar::Builder::new(gz);
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o640);
        h.set_size(4);
        h.set_mtime(1_000_000_000);
        h.set_cksum();
        t.append_data(&mut h, "x/in-tar", &b"tar\n"[..]).unwrap();
        t.into_inner().unwrap().finish().unwrap();
    }
    write(
        &c.join("Dockerfile"),
        r#"# syntax=docker/dockerfile:1
# escape=\
ARG TAG=latest
FROM busybox:${TAG} AS base
MAINTAINER someone@example.com
ARG BUILD_ONLY=secret-arg
ENV APP=/app \
    GREETING="hello world"
LABEL org.example.name="demo" version=1
WORKDIR $APP
WORKDIR sub
RUN echo "$BUILD_ONLY ${GREETING:+set} ${MISSING:-dflt}" > /app/arg.txt \
 && rm -f /bin/vi
COPY a.txt ./
COPY dir /app/dir
COPY *.cfg keep.log /app/cfg/
COPY --chown=user:extra --chmod=600 a.txt /app/owned
ADD arch.tar.gz /app/tar/
COPY <<EOF /app/heredoc.txt
made from $APP
EOF
RUN <<EOF
echo script > /app/script.txt
EOF
EXPOSE 8080 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --retries=2 CMD true
SHELL ["/bin/sh", "-e", "-c"]
RUN echo "shell $0" > /app/shell.txt
ONBUILD RUN echo child > /tmp/onbuild.txt
USER user
ENTRYPOINT ["/bin/echo", "ep"]
CMD ["default", "cmd"]
"#,
    );
    let b = built(root.path(), &rt, c, &["-t", "demo:1", "-t", "demo:2"]);
    assert!(b.stderr.contains("Step 1/"), "{}", b.stderr);
    // A step that made a layer says its size and rate; the build, what it made in all.
    assert!(
        b.stderr.contains(" ---> done ") && b.stderr.contains(", layer "),
        "{}",
        b.stderr
    );
    assert!(b.stderr.contains(" new layers, "), "{}", b.stderr);
    let id = b.stdout.trim().to_string();
    assert!(id.starts_with("sha256:"));

    // ENTRYPOINT + CMD; a run-time command replaces CMD.
    assert_eq!(run(root.path(), &rt, "demo:1", &[]).1, "ep default cmd\n");
    assert_eq!(run(root.path(), &rt, "demo:2", &["x"]).1, "ep x\n");
    let sh = |cmd: &str| -> String {
        let o = bi(
            root.path(),
            &[
                "run",
                "--rm",
                "--network",
                "none",
                "--runtime",
                &rt,
                "--entrypoint",
                "/bin/sh",
                "-u",
                "0",
                "demo:1",
                "-c",
                cmd,
            ],
        );
        assert!(
            o.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    // ARG visible to RUN, not at run time; ENV visible at both.
    assert_eq!(sh("cat /app/arg.txt"), "secret-arg set dflt\n");
    assert_eq!(
        sh("echo \"[$BUILD_ONLY] $GREETING $APP\""),
        "[] hello world /app\n"
    );
    assert_eq!(sh("pwd"), "/app/sub\n");
    assert_eq!(
        sh("ls /bin/vi 2>&1 || echo gone"),
        "ls: /bin/vi: No such file or directory\ngone\n"
    );
    // COPY keeps modes and times; owners 0 unless --chown; .dockerignore with exceptions.
    assert_eq!(
        sh("stat -c '%a %u:%g %Y' /app/sub/a.txt"),
        "751 0:0 1577934245\n"
    );
    assert_eq!(sh("stat -c '%a %u:%g' /app/owned"), "600 1000:2000\n");
    assert_eq!(sh("cat /app/dir/sub/f"), "in dir\n");
    assert_eq!(sh("ls /app/cfg"), "g1.cfg\ng2.cfg\nkeep.log\n");
    // ADD extracted the tar, keeping its modes and times.
    assert_eq!(
        sh("cat /app/tar/x/in-tar; stat -c '%a %Y' /app/tar/x/in-tar"),
        "tar\n640 1000000000\n"
    );
    assert_eq!(
        sh("cat /app/heredoc.txt /app/script.txt"),
        "made from /app\nscript\n"
    );
    assert_eq!(sh("cat /app/shell.txt"), "shell /bin/sh\n");
    assert_eq!(sh("id -u"), "0\n");
    assert_eq!(
        run(root.path(), &rt, "demo:1", &[]).0,
        0,
        "USER user must run"
    );

    // The config: every instruction recorded.
    let cfg: serde_json::Value =
        serde_json::from_str(&ok(root.path(), &["inspect", "demo:1"])).unwrap();
    let c = &cfg["Config"];
    assert_eq!(c["User"], "user");
    assert_eq!(c["WorkingDir"], "/app/sub");
    assert_eq!(c["StopSignal"], "SIGUSR1");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object());
    assert!(c["ExposedPorts"]["53/udp"].is_object());
    assert!(c["Volumes"]["/data"].is_object());
    assert_eq!(c["Labels"]["org.example.name"], "demo");
    assert_eq!(
        c["Healthcheck"]["Test"],
        serde_json::json!(["CMD-SHELL", "true"])
    );
    assert_eq!(c["Shell"], serde_json::json!(["/bin/sh", "-e", "-c"]));
    assert_eq!(
        c["OnBuild"],
        serde_json::json!(["RUN echo child > /tmp/onbuild.txt"])
    );
    let env = c["Env"].to_string();
    assert!(
        env.contains("GREETING=hello world") && !env.contains("BUILD_ONLY"),
        "{env}"
    );

    // ONBUILD fires in a child image; shell-form CMD is wrapped in the SHELL.
    let child = Tmp::new("build-ctx-child");
    write(
        &child.path().join("Dockerfile"),
        "FROM demo:1\nENTRYPOINT []\nCMD cat /tmp/onbuild.txt\n",
    );
    built(root.path(), &rt, child.path(), &["-t", "child"]);
    let cfg: serde_json::Value =
        serde_json::from_str(&ok(root.path(), &["inspect", "child"])).unwrap();
    assert_eq!(
        cfg["Config"]["Cmd"],
        serde_json::json!(["/bin/sh", "-e", "-c", "cat /tmp/onbuild.txt"])
    );
    assert!(cfg["Config"].get("OnBuild").is_none());
    assert_eq!(run(root.path(), &rt, "child", &[]).1, "child\n");
}

#[test]
fn cache_hits_and_invalidation() {
    let rt = need_runtime!();
    let (root, ctx) = setup("cache");
    let c = ctx.path();
    write(&c.join("one"), "1\n");
    write(&c.join("two"), "2\n");
    write(
        &c.join("Dockerfile"),
        "FROM busybox\nRUN echo a > /a\nCOPY one /one\nRUN cat /one > /copy1\nCOPY two /two\nRUN cat /two > /copy2\nCMD [\"cat\", \"/copy1\", \"/copy2\"]\n",
    );
    let b1 = built(root.path(), &rt, c, &["-t", "c:1"]);
    assert_eq!(counts(&b1), (0, 6));
    // Nothing changed: every step cached, no rootfs unpacked, the same image.
    let t = std::time::Instant::now();
    let b2 = built(root.path(), &rt, c, &["-t", "c:1"]);
    assert_eq!(counts(&b2), (6, 0));
    assert_eq!(b1.stdout, b2.stdout);
    assert_eq!(b2.stderr.matches("CACHED").count(), 6);
    eprintln!("cached rebuild took {:?}", t.elapsed());
    // A changed file invalidates its COPY and what follows, not what precedes.
    write(&c.join("two"), "22\n");
    let b3 = built(root.path(), &rt, c, &["-t", "c:2"]);
    assert_eq!(counts(&b3), (3, 3));
    assert_eq!(run(root.path(), &rt, "c:2", &[]).1, "1\n22\n");
    // Only the mtime changed: still cached (content is the key, as in Docker).
    assert!(Command::new("touch")
        .arg(c.join("one"))
        .status()
        .unwrap()
        .success());
    assert_eq!(counts(&built(root.path(), &rt, c, &[])), (6, 0));
    // A build-arg used by a RUN changes its key.
    write(
        &c.join("Dockerfile"),
        "FROM busybox\nARG V=1\nRUN echo $V > /v\n",
    );
    assert_eq!(counts(&built(root.path(), &rt, c, &[])), (0, 2));
    assert_eq!(counts(&built(root.path(), &rt, c, &[])), (2, 0));
    assert_eq!(
        counts(&built(root.path(), &rt, c, &["--build-arg", "V=2"])),
        (0, 2)
    );
    // --no-cache runs everything again.
    assert_eq!(counts(&built(root.path(), &rt, c, &["--no-cache"])), (0, 2));
}

#[test]
fn multi_stage_target_and_copy_from() {
    let rt = need_runtime!();
    let (root, ctx) = setup("multi");
    let c = ctx.path();
    write(
        &c.join("Dockerfile"),
        "FROM busybox AS builder\nRUN mkdir /out && echo built > /out/artifact && chmod 700 /out/artifact\n\
         FROM busybox AS unused\nRUN exit 1\n\
         FROM scratch AS final\nCOPY --from=builder /out/artifact /artifact\nCOPY --from=busybox:latest /bin/busybox /bin/busybox\nCOPY --from=0 /bin/busybox /bin/cat\nENTRYPOINT [\"/bin/cat\", \"/artifact\"]\n\
         FROM builder AS dev\nRUN echo dev > /dev.txt\n",
    );
    // The default target is the last stage; "unused" is never built.
    let b = built(root.path(), &rt, c, &["-t", "dev"]);
    assert!(!b.stderr.contains("exit 1"), "{}", b.stderr);
    assert_eq!(
        run(
            root.path(),
            &rt,
            "dev",
            &["cat", "/out/artifact", "/dev.txt"]
        )
        .1,
        "built\ndev\n"
    );
    let b = built(root.path(), &rt, c, &["--target", "final", "-t", "final"]);
    assert!(
        b.stderr.contains("CACHED"),
        "builder stage reused: {}",
        b.stderr
    );
    assert_eq!(run(root.path(), &rt, "final", &[]).1, "built\n");
    let cfg: serde_json::Value =
        serde_json::from_str(&ok(root.path(), &["inspect", "final"])).unwrap();
    assert_eq!(cfg["RootFS"]["diff_ids"].as_array().unwrap().len(), 3);
    let e = build(root.path(), &rt, c, &["--target", "nope"]);
    assert!(!e.ok && e.stderr.contains("nope"));
}

#[test]
fn add_archives_bzip2_xz_and_urls() {
    let rt = need_runtime!();
    let (root, ctx) = setup("add");
    let c = ctx.path();
    let mut plain = Vec::new();
    {
        let mut t = tar::Builder::new(&mut plain);
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o755);
        h.set_size(3);
        h.set_mtime(1_234_567_890);
        h.set_cksum();
        t.append_data(&mut h, "bin-x", &b"ok\n"[..]).unwrap();
        t.finish().unwrap();
    }
    std::fs::write(c.join("p.tar"), &plain).unwrap();
    let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
    bz.write_all(&plain).unwrap();
    std::fs::write(c.join("b.tar.bz2"), bz.finish().unwrap()).unwrap();
    let mut xz = Vec::new();
    lzma_rs::xz_compress(&mut &plain[..], &mut xz).unwrap();
    std::fs::write(c.join("x.tar.xz"), xz).unwrap();
    write(&c.join("notar.gz"), "not an archive\n");
    write(
        &c.join("Dockerfile"),
        "FROM busybox\nADD p.tar /p/\nADD b.tar.bz2 /b\nADD x.tar.xz /x/\nADD notar.gz /n/\n",
    );
    built(root.path(), &rt, c, &["-t", "add"]);
    let o = run(
        root.path(),
        &rt,
        "add",
        &[
            "sh",
            "-c",
            "cat /p/bin-x /b/bin-x /x/bin-x /n/notar.gz; stat -c '%a %Y' /x/bin-x",
        ],
    );
    assert_eq!(o.1, "ok\nok\nok\nnot an archive\n755 1234567890\n");
    write(
        &c.join("Dockerfile"),
        "FROM busybox\nADD https://example.com/x /x\n",
    );
    let e = build(root.path(), &rt, c, &[]);
    assert!(!e.ok);
    assert!(
        e.stderr
            .contains("Dockerfile:2: ADD https://example.com/x: remote sources are not supported"),
        "{}",
        e.stderr
    );
}

#[test]
fn errors_name_the_line() {
    let rt = need_runtime!();
    let (root, ctx) = setup("errors");
    let c = ctx.path();
    let cases: &[(&str, &str)] = &[
        (
            "FROM busybox\nRUNN x\n",
            "Dockerfile:2: unknown instruction \"RUNN\"",
        ),
        (
            "FROM nosuchimage\n",
            "Dockerfile:1: base image \"nosuchimage\"",
        ),
        ("FROM busybox\n\nRUN exit 3\n", "Dockerfile:3: "),
        (
            "FROM busybox\nCOPY missing /x\n",
            "Dockerfile:2: missing: not found",
        ),
        ("FROM busybox\nEXPOSE abc\n", "Dockerfile:2: invalid port"),
        (
            "FROM busybox\nSTOPSIGNAL SIGNOPE\n",
            "Dockerfile:2: invalid signal",
        ),
        (
            "FROM busybox\nENV ${X:?needs X}=1\n",
            "Dockerfile:2: X: needs X",
        ),
        ("RUN true\n", "Dockerfile:1: RUN before the first FROM"),
        (
            "FROM busybox\nRUN --network=host true\n",
            "Dockerfile:2: RUN --network=host",
        ),
        (
            "FROM busybox\nRUN <<EOF\ntrue\n",
            "Dockerfile:2: heredoc <<EOF is not terminated",
        ),
    ];
    for (df, want) in cases {
        write(&c.join("Dockerfile"), df);
        let e = build(root.path(), &rt, c, &[]);
        assert!(!e.ok, "{df:?} should fail");
        let last = e.stderr.lines().last().unwrap_or("");
        assert!(
            last.starts_with(&format!("berth-image: {want}")),
            "{df:?}: got {last:?}"
        );
    }
    let code = e_code(root.path(), &rt, c);
    assert!(code.contains("exit code 3"), "{code}");
    // -f with another name, and a context elsewhere.
    write(
        &c.join("other.Dockerfile"),
        "FROM busybox\nCMD [\"echo\", \"from -f\"]\n",
    );
    let f = c.join("other.Dockerfile").display().to_string();
    built(root.path(), &rt, c, &["-f", &f, "-t", "viaf"]);
    assert_eq!(run(root.path(), &rt, "viaf", &[]).1, "from -f\n");
    // Nothing left behind: no mounts, no temp dirs, no runtime state.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(&root.path().display().to_string()));
    assert_eq!(
        std::fs::read_dir(root.path().join("tmp")).unwrap().count(),
        0
    );
}

fn e_code(root: &Path, rt: &str, c: &Path) -> String {
    write(&c.join("Dockerfile"), "FROM busybox\nRUN exit 3\n");
    build(root, rt, c, &[]).stderr
}

#[test]
fn outputs_oci_and_docker() {
    let rt = need_runtime!();
    let (root, ctx) = setup("out");
    let c = ctx.path();
    write(
        &c.join("Dockerfile"),
        "FROM busybox\nRUN echo out > /out\nCMD [\"cat\", \"/out\"]\n",
    );
    let oci = c.join("img.oci.tar").display().to_string();
    let dock = c.join("img.docker.tar").display().to_string();
    built(
        root.path(),
        &rt,
        c,
        &[
            "-t",
            "outimg:1",
            "--output",
            &format!("type=oci,dest={oci}"),
            "--output",
            &format!("type=docker,dest={dock}"),
        ],
    );
    // Both load back into a fresh store and run.
    let other = Tmp::new("build-out-load");
    ok(other.path(), &["load", "-i", &dock]);
    assert_eq!(run(other.path(), &rt, "outimg:1", &[]).1, "out\n");
    let other2 = Tmp::new("build-out-import");
    ok(other2.path(), &["import", &oci]);
    assert_eq!(run(other2.path(), &rt, "outimg:1", &[]).1, "out\n");
    // podman, when installed, loads the docker-archive and runs it: in a store of its
    // own, with our runtime under a private root (the host's store, /run/runc and
    // /run/libpod stay as they were).
    if common::have("podman") {
        // A short path: podman refuses a runroot longer than 50 characters.
        let store = std::path::PathBuf::from(format!("/tmp/bpm{}", std::process::id()));
        let at = |d: &str| store.join(d).display().to_string();
        let podman = |args: &[&str]| {
            Command::new("podman")
                .args([
                    "--root",
                    &at("root"),
                    "--runroot",
                    &at("run"),
                    "--tmpdir",
                    &at("tmp"),
                ])
                .args([
                    "--runtime",
                    &rt,
                    "--runtime-flag",
                    &format!("root={}", at("rt")),
                ])
                .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
                // vfs: no overlay mounts left behind in the host's mount table.
                .args(["--storage-driver", "vfs"])
                .args(args)
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        let o = podman(&["load", "-i", &dock]);
        eprintln!(
            "podman load: {} {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        if o.status.success() {
            // podman's default ulimits exceed this machine's hard limits.
            let r = podman(&[
                "run",
                "--rm",
                "--network=none",
                "--ulimit",
                "nofile=1024:4096",
                "--ulimit",
                "nproc=4096:4096",
                "localhost/outimg:1",
            ]);
            eprintln!(
                "podman run: {:?} {} {}",
                r.status.code(),
                String::from_utf8_lossy(&r.stdout),
                String::from_utf8_lossy(&r.stderr)
            );
            podman(&["rmi", "-f", "localhost/outimg:1"]);
            assert_eq!(String::from_utf8_lossy(&r.stdout), "out\n", "podman run");
        }
        let _ = std::fs::remove_dir_all(&store);
    }
}
