//! `delete`: containerd runs this when a shim died; it removes what the shim left (the
//! container, its cgroup and state, the rootfs mount) and prints a DeleteResponse.

use std::io::Write;

use anyhow::Context;
use containerd_shim_protos::api::DeleteResponse;
use libcontainer::Container;
use protobuf::Message;

use crate::args::Args;
use crate::serve::state_root;

pub fn run(args: &Args) -> anyhow::Result<()> {
    let bundle = match &args.bundle {
        Some(b) => b.clone(),
        None => std::env::current_dir().context("working directory")?,
    };
    let root = state_root(&args.namespace, &args.address);
    match Container::load(&root, &args.id) {
        Ok(c) => {
            if let Err(e) = c.delete(true) {
                log::warn!("delete {}: {e}", args.id);
            }
        }
        Err(libcontainer::Error::NotExist { .. }) => {}
        // A shim killed while writing state must not leave an undeletable container.
        Err(libcontainer::Error::State(_)) => {
            if let Err(e) = Container::delete_unreadable(&root, &args.id) {
                log::warn!("delete {}: {e}", args.id);
            }
        }
        Err(e) => log::warn!("load {}: {e}", args.id),
    }
    crate::mount::unmount_all(&bundle.join("rootfs"));
    remove_dead_socket(&bundle);
    let mut resp = DeleteResponse::new();
    resp.exit_status = 128 + libc::SIGKILL as u32;
    resp.exited_at =
        protobuf::MessageField::some(protobuf::well_known_types::timestamp::Timestamp::now());
    let bytes = resp.write_to_bytes().context("encode delete response")?;
    std::io::stdout()
        .write_all(&bytes)
        .context("write delete response")
}

/// The dead shim's socket file, unless a shim still answers on it (other containers of
/// the same pod are served there).
fn remove_dead_socket(bundle: &std::path::Path) {
    let Ok(address) = std::fs::read_to_string(bundle.join("address")) else {
        return;
    };
    let path = address.trim().trim_start_matches("unix://");
    if let Err(e) = std::os::unix::net::UnixStream::connect(path) {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            let _ = std::fs::remove_file(path);
        }
    }
}
