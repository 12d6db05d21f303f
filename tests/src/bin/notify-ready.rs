//! Test helper run inside containers: tells `$NOTIFY_SOCKET` "READY=1", as an sd_notify
//! service would (busybox has no unix-datagram client).

fn main() {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        eprintln!("notify-ready: NOTIFY_SOCKET is not set");
        std::process::exit(2);
    };
    let socket = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    if let Err(e) = socket.send_to(b"READY=1", &path) {
        eprintln!("notify-ready: send to {}: {e}", path.to_string_lossy());
        std::process::exit(1);
    }
}
