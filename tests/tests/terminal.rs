//! `process.terminal` with `--console-socket`, `--preserve-fds` and LISTEN_FDS.

use berth_tests::*;
use std::os::fd::AsRawFd;

/// Creates `b` with a terminal and a console socket, starts it and returns what it wrote
/// to the terminal once it has stopped.
fn on_console(rt: &Runtime, b: &mut Bundle) -> String {
    let console = ConsoleSocket::new(rt.work());
    b.set("process.terminal", json!(true));
    b.write();
    let id = rt.id("tty");
    rt.run(&[
        "create",
        "--console-socket",
        console.path_str(),
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ])
    .ok();
    rt.start(&id).ok();
    let out = console.output();
    rt.wait_status(&id, "stopped");
    out
}

runtime_test!(terminal_console_socket, |rt| {
    let mut b = Bundle::sh("tty; test -t 0 && test -t 1 && echo is-a-tty; echo hello");
    assert_eq!(on_console(rt, &mut b), "/dev/pts/0\nis-a-tty\nhello\n");
});

/// The owner and group of the container's terminal, for a process running as `user`
/// (uid:gid): the owner becomes the user, the group stays devpts' tty (5), as in runc.
fn terminal_owner(rt: &Runtime, user: (u32, u32)) -> String {
    let mut b = Bundle::sh("stat -c '%u %g' $(tty)");
    b.set("process.user.uid", json!(user.0));
    b.set("process.user.gid", json!(user.1));
    on_console(rt, &mut b)
}

compare_test!(terminal_group_is_tty_for_root, |rt| -> String {
    terminal_owner(rt, (0, 0))
});

compare_test!(terminal_group_is_tty_for_a_user, |rt| -> String {
    terminal_owner(rt, (1000, 1000))
});

runtime_test!(terminal_without_console_socket_fails, |rt| {
    let mut b = Bundle::sh("true");
    b.set("process.terminal", json!(true));
    let id = rt.id("notty");
    let out = rt.create(&id, &b).fails();
    assert_eq!(
        normalize_stderr(&out.stderr, rt.name()),
        "<rt> create failed: cannot allocate tty if <rt> will detach without setting console socket"
    );
    assert!(rt.root_entries().is_empty());
});

runtime_test!(console_socket_without_terminal_fails, |rt| {
    let console = ConsoleSocket::new(rt.work());
    let b = Bundle::sh("true");
    b.write();
    let id = rt.id("sockonly");
    let out = rt
        .run(&[
            "create",
            "--console-socket",
            console.path_str(),
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ])
        .fails();
    assert_eq!(
        normalize_stderr(&out.stderr, rt.name()),
        "<rt> create failed: cannot use console socket if <rt> will not detach or allocate tty"
    );
    assert!(rt.root_entries().is_empty());
});

fn fd3_file(rt: &Runtime, content: &str) -> std::fs::File {
    let p = rt.work().join("fd3");
    std::fs::write(&p, content).unwrap();
    std::fs::File::open(&p).unwrap()
}

runtime_test!(preserve_fds, |rt| {
    let f = fd3_file(rt, "through-fd-3");
    let b = Bundle::sh("cat <&3; echo; echo LISTEN_FDS=$LISTEN_FDS");
    b.write();
    let id = rt.id("pfds");
    let mut cmd = rt.command(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        b.path().to_str().unwrap(),
        &id,
    ]);
    cmd.with_fds(vec![(f.as_raw_fd(), 3)]);
    let out = rt.run_cmd(cmd).ok();
    assert_eq!(out.stdout, "through-fd-3\nLISTEN_FDS=\n");
});

runtime_test!(fds_not_preserved_by_default, |rt| {
    let f = fd3_file(rt, "leak");
    let b = Bundle::sh("ls /proc/self/fd | sort -n | tr '\\n' ' '");
    b.write();
    let id = rt.id("nofds");
    let mut cmd = rt.command(&["run", "--bundle", b.path().to_str().unwrap(), &id]);
    cmd.with_fds(vec![(f.as_raw_fd(), 3)]);
    let out = rt.run_cmd(cmd).ok();
    // 0-2 and the fd ls itself opens for /proc/self/fd
    assert_eq!(out.stdout.trim(), "0 1 2 3", "{out:?}");
});

runtime_test!(listen_fds, |rt| {
    let f = fd3_file(rt, "socket-activated");
    let b = Bundle::sh("cat <&3; echo; echo LISTEN_FDS=$LISTEN_FDS LISTEN_PID=$LISTEN_PID");
    b.write();
    let id = rt.id("lfds");
    // systemd's protocol: LISTEN_PID must be the runtime's own pid, so exec it from sh
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", "LISTEN_PID=$$ exec \"$0\" \"$@\""])
        .arg(&rt.bin)
        .args([
            "--root",
            rt.root().to_str().unwrap(),
            "run",
            "--bundle",
            b.path().to_str().unwrap(),
            &id,
        ])
        .stdin(std::process::Stdio::null())
        .env("LISTEN_FDS", "1");
    cmd.with_fds(vec![(f.as_raw_fd(), 3)]);
    let out = rt.run_cmd(cmd).ok();
    // runc passes LISTEN_FDS through and keeps those fds; LISTEN_PID becomes 1
    assert_eq!(out.stdout, "socket-activated\nLISTEN_FDS=1 LISTEN_PID=1\n");
});
