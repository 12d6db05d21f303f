//! SCMP_ACT_NOTIFY: the container process sends its listener to the runtime over the
//! channel; the runtime connects to `listenerPath` and passes it on with the container's
//! process state, as runc does (OCI `ContainerProcessState`, fd name "seccompFd").

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::socket::{
    connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr,
};

use super::SeccompError;

/// What the agent learns about the container besides the descriptor.
pub(crate) struct ProcessState<'a> {
    pub pid: i32,
    pub id: &'a str,
    pub status: &'a str,
    pub bundle: &'a Path,
    pub annotations: serde_json::Value,
    pub metadata: Option<&'a str>,
}

fn notify_err(context: &str) -> impl FnOnce(nix::errno::Errno) -> SeccompError + '_ {
    move |e| SeccompError::Notify {
        context: context.to_string(),
        source: e.into(),
    }
}

/// Sends `listener` to the agent listening at `path`.
pub(crate) fn forward(
    path: &Path,
    listener: &OwnedFd,
    state: &ProcessState,
) -> Result<(), SeccompError> {
    let mut body = serde_json::json!({
        "ociVersion": crate::state::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": state.pid,
        "metadata": state.metadata.unwrap_or(""),
        "state": {
            "ociVersion": crate::state::OCI_VERSION,
            "id": state.id,
            "status": state.status,
            "pid": state.pid,
            "bundle": state.bundle,
            "annotations": state.annotations,
        }
    });
    // runc leaves empty annotations out.
    if state.annotations.as_object().is_some_and(|a| a.is_empty()) {
        if let Some(s) = body["state"].as_object_mut() {
            s.remove("annotations");
        }
    }
    let data = serde_json::to_vec(&body).unwrap_or_default();
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(notify_err("socket"))?;
    let addr = UnixAddr::new(path).map_err(notify_err("listenerPath"))?;
    connect(sock.as_raw_fd(), &addr).map_err(|e| SeccompError::Notify {
        // runc's words, which clients and runc's tests match.
        context: format!(
            "failed to connect with seccomp agent specified in the seccomp profile: dial unix {}: connect",
            path.display()
        ),
        source: e.into(),
    })?;
    let fds = [listener.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(&data)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .map_err(notify_err("send the listener"))?;
    Ok(())
}

/// Parent side of `Message::SeccompListener`: forwards the descriptor that came with it and
/// lets the child go on.
pub(crate) fn relay(
    ch: &crate::process::channel::Channel,
    fds: &[OwnedFd],
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    state: ProcessState,
) -> crate::error::Result<()> {
    let invalid = |what: &str| SeccompError::Invalid(what.to_string());
    let listener = fds
        .first()
        .ok_or_else(|| invalid("listener descriptor missing"))?;
    let seccomp = seccomp.ok_or_else(|| invalid("listener sent without a filter"))?;
    let path = seccomp
        .listener_path()
        .as_deref()
        .ok_or_else(|| invalid("SCMP_ACT_NOTIFY requires a listenerPath"))?;
    let state = ProcessState {
        metadata: seccomp.listener_metadata().as_deref(),
        ..state
    };
    forward(path, listener, &state)?;
    ch.send(&crate::process::channel::Message::SeccompListenerDone)
}
