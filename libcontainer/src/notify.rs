//! sd_notify passthrough, as runc does it: the container gets `NOTIFY_SOCKET` pointing at a
//! socket in a directory of its state dir, bind-mounted read-only at `/run/notify`; `start`
//! (or `run`) binds that socket, waits for the container's `READY=…`, and forwards it with
//! `MAINPID=<init pid>` to the socket the runtime itself was given.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_spec::runtime::{MountBuilder, Spec};

use crate::error::{Error, Result};

const DIR: &str = "notify";
const SOCKET: &str = "notify.sock";
const IN_CONTAINER: &str = "/run/notify";

/// The socket path in the container's state directory.
pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join(DIR).join(SOCKET)
}

/// Makes `<state>/notify` and adds its mount and the `NOTIFY_SOCKET` variable to the spec.
pub(crate) fn prepare(spec: &mut Spec, state_dir: &Path) -> Result<()> {
    let dir = state_dir.join(DIR);
    std::fs::create_dir(&dir).map_err(|e| Error::path(&dir, e))?;
    let mount = MountBuilder::default()
        .destination(IN_CONTAINER)
        .source(&dir)
        .typ("bind")
        .options(
            ["bind", "nosuid", "noexec", "nodev", "ro"]
                .map(String::from)
                .to_vec(),
        )
        .build()
        .map_err(|e| Error::Config(format!("notify socket mount: {e}")))?;
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.push(mount);
    spec.set_mounts(Some(mounts));
    if let Some(process) = spec.process_mut() {
        let mut env = process.env().clone().unwrap_or_default();
        env.push(format!("NOTIFY_SOCKET={IN_CONTAINER}/{SOCKET}"));
        process.set_env(Some(env));
    }
    Ok(())
}

/// Binds the container-side socket; call before the container's program starts.
pub fn bind(state_dir: &Path) -> Result<UnixDatagram> {
    let path = socket_path(state_dir);
    let _ = std::fs::remove_file(&path);
    UnixDatagram::bind(&path).map_err(|e| Error::path(&path, e))
}

/// Waits for a `READY=` datagram while `pid` lives, then forwards it to `host` with
/// `MAINPID`. Returns when forwarded or when the process is gone.
pub fn forward_ready(socket: &UnixDatagram, host: &Path, pid: i32) -> Result<()> {
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(|e| Error::sys("notify socket timeout", e))?;
    let mut buf = [0u8; 4096];
    loop {
        match socket.recv(&mut buf) {
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                if let Some(line) = text.lines().find(|l| l.starts_with("READY=")) {
                    let client = UnixDatagram::unbound()
                        .map_err(|e| Error::sys("notify client socket", e))?;
                    let message = format!("{line}\nMAINPID={pid}\n");
                    client
                        .send_to(message.as_bytes(), host)
                        .map_err(|e| Error::sys(format!("notify {}", host.display()), e))?;
                    return Ok(());
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    return Ok(());
                }
            }
            Err(e) => return Err(Error::sys("read notify socket", e)),
        }
    }
}
