//! Test helper: sends one Task `Update` to a shim, as containerd does for
//! `UpdateTask` (ctr 1.6 has no `task update`). Usage:
//! `berth-shim-update unix:///run/containerd/s/berth-… CONTAINER_ID '{"memory":{"limit":N}}'`

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;

use anyhow::{bail, Context};
use containerd_shim_protos::api::UpdateTaskRequest;
use protobuf::well_known_types::any::Any;
use protobuf::{Message, MessageField};

const RESOURCES_TYPE: &str = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";

fn main() {
    if let Err(e) = run() {
        eprintln!("berth-shim-update: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [address, id, json] = args.as_slice() else {
        bail!("usage: berth-shim-update ADDRESS CONTAINER_ID RESOURCES_JSON");
    };
    let mut any = Any::new();
    any.type_url = RESOURCES_TYPE.into();
    any.value = json.as_bytes().to_vec();
    let mut req = UpdateTaskRequest::new();
    req.id = id.clone();
    req.resources = MessageField::some(any);
    let mut call = ttrpc::Request::new();
    call.service = "containerd.task.v2.Task".into();
    call.method = "Update".into();
    call.payload = req.write_to_bytes()?;
    let payload = call.write_to_bytes()?;

    let path = address.trim_start_matches("unix://");
    let mut sock = UnixStream::connect(path).with_context(|| format!("connect {path}"))?;
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&1u32.to_be_bytes());
    frame.extend_from_slice(&[1, 0]);
    frame.extend_from_slice(&payload);
    sock.write_all(&frame).context("send")?;

    let mut header = [0u8; 10];
    sock.read_exact(&mut header).context("read answer")?;
    let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if len > 4 << 20 {
        bail!("answer of {len} bytes is too long");
    }
    let mut body = vec![0u8; len];
    sock.read_exact(&mut body).context("read answer")?;
    let resp = ttrpc::Response::parse_from_bytes(&body)?;
    if let Some(status) = resp.status.as_ref() {
        if status.code.value() != 0 {
            bail!("{}", status.message);
        }
    }
    Ok(())
}
