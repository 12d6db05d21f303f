//! The Task service: decodes each ttrpc request into its generated protobuf type, runs
//! the method (in `task`), and encodes the answer. Wait is answered later, when the
//! process exits, so the single-threaded loop never blocks on it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use containerd_shim_protos::api::{WaitRequest, WaitResponse};
use protobuf::Message;
use ttrpc::{Code, Response};

use crate::events::Publisher;
use crate::process::{Process, Waiter};
use crate::wire::{error_response, ok_response};

/// One-line errors for the client, each with the status code containerd maps to its
/// own error kinds (not found, already exists, failed precondition...).
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Internal(String),
}

impl RpcError {
    fn code(&self) -> Code {
        match self {
            RpcError::NotFound(_) => Code::NOT_FOUND,
            RpcError::AlreadyExists(_) => Code::ALREADY_EXISTS,
            RpcError::FailedPrecondition(_) => Code::FAILED_PRECONDITION,
            RpcError::InvalidArgument(_) => Code::INVALID_ARGUMENT,
            RpcError::Internal(_) => Code::INTERNAL,
        }
    }
}

impl From<libcontainer::Error> for RpcError {
    fn from(e: libcontainer::Error) -> Self {
        match e {
            libcontainer::Error::NotExist { .. } => RpcError::NotFound(e.to_string()),
            libcontainer::Error::Exists { .. } => RpcError::AlreadyExists(e.to_string()),
            e if e.is_wrong_state() => RpcError::FailedPrecondition(e.to_string()),
            other => RpcError::Internal(other.to_string()),
        }
    }
}

impl From<crate::metrics::MetricsError> for RpcError {
    fn from(e: crate::metrics::MetricsError) -> Self {
        match e {
            crate::metrics::MetricsError::Resources(_) => RpcError::InvalidArgument(e.to_string()),
            other => RpcError::Internal(other.to_string()),
        }
    }
}

/// A container served by this shim.
pub struct Task {
    pub bundle: PathBuf,
    pub rootfs_mounted: bool,
    pub init: Process,
    pub execs: BTreeMap<String, Process>,
    /// Readable when the kernel OOM-killed something in the container's cgroup.
    pub oom: Option<libcontainer::OomWatcher>,
    /// Created from a checkpoint (CreateTaskRequest.checkpoint): the images, and the
    /// runtime options to restore with at Start.
    pub restore_from: Option<(PathBuf, Option<containerd_shim_protos::shim::oci::Options>)>,
}

pub enum Reply {
    Now(Response),
    /// Registered as a waiter; answered through `Service::answers`.
    Later,
}

pub struct Service {
    /// libcontainer's state root for this namespace.
    pub root: PathBuf,
    pub tasks: BTreeMap<String, Task>,
    pub publisher: Publisher,
    /// Whether the host is pure cgroup v2 (Stats answers in the v2 metrics type).
    pub unified: bool,
    /// Answers ready for waiting clients: (connection, stream, response).
    pub answers: Vec<(u64, u32, Response)>,
    pub shutdown: bool,
}

fn call<Q: Message, R: Message>(
    payload: &[u8],
    f: impl FnOnce(Q) -> Result<R, RpcError>,
) -> Response {
    let req = match Q::parse_from_bytes(payload) {
        Ok(req) => req,
        Err(e) => return error_response(Code::INVALID_ARGUMENT, &e.to_string()),
    };
    match f(req).and_then(|r| {
        r.write_to_bytes()
            .map_err(|e| RpcError::Internal(e.to_string()))
    }) {
        Ok(bytes) => ok_response(bytes),
        Err(e) => {
            log::debug!("request failed: {e}");
            error_response(e.code(), &e.to_string())
        }
    }
}

impl Service {
    pub fn handle(&mut self, conn: u64, stream: u32, req: &ttrpc::Request) -> Reply {
        if !matches!(
            req.service.as_str(),
            "containerd.task.v2.Task" | "containerd.task.v3.Task"
        ) {
            return Reply::Now(error_response(
                Code::UNIMPLEMENTED,
                &format!("/{}/{} is not served", req.service, req.method),
            ));
        }
        let p = &req.payload;
        log::debug!("{} request", req.method);
        Reply::Now(match req.method.as_str() {
            "State" => call(p, |r| self.state(r)),
            "Create" => call(p, |r| self.create(r)),
            "Start" => call(p, |r| self.start(r)),
            "Delete" => call(p, |r| self.delete(r)),
            "Pids" => call(p, |r| self.pids(r)),
            "Pause" => call(p, |r| self.pause(r)),
            "Resume" => call(p, |r| self.resume(r)),
            "Kill" => call(p, |r| self.kill(r)),
            "Exec" => call(p, |r| self.exec(r)),
            "ResizePty" => call(p, |r| self.resize_pty(r)),
            "CloseIO" => call(p, |r| self.close_io(r)),
            "Update" => call(p, |r| self.update(r)),
            "Stats" => call(p, |r| self.stats(r)),
            "Connect" => call(p, |r| self.connect(r)),
            "Shutdown" => call(p, |r| self.shutdown(r)),
            "Checkpoint" => call(p, |r| self.checkpoint(r)),
            "Wait" => match WaitRequest::parse_from_bytes(p) {
                Err(e) => error_response(Code::INVALID_ARGUMENT, &e.to_string()),
                Ok(r) => match self.process_mut(&r.id, &r.exec_id) {
                    Err(e) => error_response(e.code(), &e.to_string()),
                    Ok(proc_) if proc_.exit.is_some() => wait_response(proc_),
                    Ok(proc_) => {
                        proc_.waiters.push((conn, stream));
                        return Reply::Later;
                    }
                },
            },
            other => error_response(Code::UNIMPLEMENTED, &format!("method {other} not served")),
        })
    }

    /// A connection closed: its waiters need no answer.
    pub fn forget_connection(&mut self, conn: u64) {
        for task in self.tasks.values_mut() {
            for p in std::iter::once(&mut task.init).chain(task.execs.values_mut()) {
                p.waiters.retain(|(c, _)| *c != conn);
            }
        }
    }

    pub fn process_mut(&mut self, id: &str, exec_id: &str) -> Result<&mut Process, RpcError> {
        let task = self
            .tasks
            .get_mut(id)
            .ok_or_else(|| RpcError::NotFound(format!("container {id} not found")))?;
        if exec_id.is_empty() {
            return Ok(&mut task.init);
        }
        task.execs
            .get_mut(exec_id)
            .ok_or_else(|| RpcError::NotFound(format!("exec {exec_id} of {id} not found")))
    }

    pub fn answer_waiters(&mut self, waiters: Vec<Waiter>, response: &Response) {
        for (conn, stream) in waiters {
            self.answers.push((conn, stream, response.clone()));
        }
    }
}

pub fn wait_response(p: &Process) -> Response {
    let (status, at) = p.exit_status();
    let mut r = WaitResponse::new();
    r.exit_status = status;
    r.exited_at = protobuf::MessageField::some(at);
    match r.write_to_bytes() {
        Ok(bytes) => ok_response(bytes),
        Err(e) => error_response(Code::INTERNAL, &e.to_string()),
    }
}
