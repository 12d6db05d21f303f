//! NOTIFY_SOCKET passthrough: the container's `READY=1` reaches the socket the runtime was
//! given, with the container's MAINPID.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use berth_tests::*;

runtime_test!(notify_socket_forwards_ready, |rt| {
    let host = TempDir::new("notify");
    let host_socket = host.path().join("host.sock");
    let listener = UnixDatagram::bind(&host_socket).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();

    let mut b = Bundle::new();
    // The helper is a dynamically linked host binary: give it the host's libraries.
    b.bind(
        Path::new(env!("CARGO_BIN_EXE_notify-ready")),
        "/notify-ready",
        &["ro"],
    );
    for lib in ["/lib", "/lib64", "/usr/lib"] {
        if Path::new(lib).is_dir() {
            b.bind(Path::new(lib), lib, &["ro"]);
        }
    }
    b.args(&["/notify-ready"]);
    rt.env("NOTIFY_SOCKET", host_socket.to_str().unwrap());
    let out = rt.run_bundle(&b);
    assert_eq!(out.code, Some(0), "{out:?}");

    // Everything forwarded, in however many datagrams the runtime used.
    let mut got = String::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = listener.recv(&mut buf) {
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
        listener
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
    }
    let lines: Vec<&str> = got.lines().collect();
    assert_eq!(lines.len(), 2, "{got:?}");
    assert_eq!(lines[0], "READY=1");
    let pid = lines[1].strip_prefix("MAINPID=").expect("MAINPID line");
    assert!(pid.parse::<u32>().is_ok_and(|p| p > 1), "{got:?}");
});
