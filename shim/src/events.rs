//! Events to containerd, one at a time and in order (TaskExit before TaskDelete).
//!
//! As runc's v2 shim: a ttrpc `containerd.services.events.ttrpc.v1.Events/Forward` call
//! on containerd's ttrpc socket (`TTRPC_ADDRESS`, set by containerd for its shims), the
//! request written at once and the answer read by the poll loop, so the loop never
//! blocks on containerd. Without `TTRPC_ADDRESS`: the `-publish-binary`
//! (`containerd --address A publish --topic T --namespace N`, the `Any` on stdin), one
//! process per event (a Go binary's start, ~10 ms of cpu each), the next started when
//! the reaper reports the previous one's exit.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use containerd_shim_protos::shim::event::Envelope;
use containerd_shim_protos::shim::events::ForwardRequest;
use protobuf::well_known_types::any::Any;
use protobuf::well_known_types::timestamp::Timestamp;
use protobuf::{Message, MessageField};

use crate::wire;

const FORWARD_SERVICE: &str = "containerd.services.events.ttrpc.v1.Events";
/// How long containerd may take to answer one Forward before the event is given up.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries per event when the connection to containerd breaks (containerd restarting).
const FORWARD_TRIES: u8 = 3;

/// containerd's typeurl registry knows its events by their full proto name. Built from
/// the package and the message's own name rather than its descriptor: asking for a
/// descriptor parses and keeps the whole generated file's reflection data (heap the idle
/// shim would carry for good).
fn type_url<M: Message>() -> String {
    format!("containerd.events.{}", M::NAME)
}

struct Event {
    topic: &'static str,
    any: Any,
    at: Timestamp,
    tries: u8,
}

enum Sink {
    Ttrpc {
        path: PathBuf,
        conn: Option<UnixStream>,
        /// Stream id and deadline of the Forward waiting for its answer.
        waiting: Option<(u32, Instant, Event)>,
        next_stream: u32,
        buf: Vec<u8>,
    },
    Binary {
        binary: PathBuf,
        address: String,
        running: Option<i32>,
    },
}

pub struct Publisher {
    namespace: String,
    sink: Sink,
    queue: VecDeque<Event>,
}

impl Publisher {
    /// Forwards over ttrpc to `ttrpc_address` when given, else runs `binary`.
    pub fn new(
        ttrpc_address: Option<String>,
        binary: PathBuf,
        address: String,
        namespace: String,
    ) -> Publisher {
        let sink = match ttrpc_address.filter(|a| !a.is_empty()) {
            Some(a) => Sink::Ttrpc {
                path: PathBuf::from(a.trim_start_matches("unix://")),
                conn: None,
                waiting: None,
                next_stream: 1,
                buf: Vec::new(),
            },
            None => Sink::Binary {
                binary,
                address,
                running: None,
            },
        };
        Publisher {
            namespace,
            sink,
            queue: VecDeque::new(),
        }
    }

    /// The containerd namespace the shim serves.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn publish<M: Message>(&mut self, topic: &'static str, event: &M) {
        let mut any = Any::new();
        any.type_url = type_url::<M>();
        any.value = match event.write_to_bytes() {
            Ok(v) => v,
            Err(e) => {
                log::warn!("encode {topic} event: {e}");
                return;
            }
        };
        self.queue.push_back(Event {
            topic,
            any,
            at: Timestamp::now(),
            tries: 0,
        });
        self.kick();
    }

    /// The reaper saw `pid` exit; returns whether it was our publisher.
    pub fn reaped(&mut self, pid: i32, status: i32) -> bool {
        let Sink::Binary { running, .. } = &mut self.sink else {
            return false;
        };
        if *running != Some(pid) {
            return false;
        }
        if status != 0 {
            log::warn!("publish binary exited with status {status}");
        }
        *running = None;
        self.kick();
        true
    }

    pub fn idle(&self) -> bool {
        self.queue.is_empty() && !self.busy()
    }

    /// An event is on its way (a Forward awaiting its answer, a publish process running).
    fn busy(&self) -> bool {
        match &self.sink {
            Sink::Ttrpc { waiting, .. } => waiting.is_some(),
            Sink::Binary { running, .. } => running.is_some(),
        }
    }

    /// The connection to poll for containerd's answer, while one is awaited.
    pub fn poll_fd(&self) -> Option<BorrowedFd<'_>> {
        match &self.sink {
            Sink::Ttrpc {
                conn: Some(c),
                waiting: Some(_),
                ..
            } => Some(c.as_fd()),
            _ => None,
        }
    }

    /// How long the poll loop may sleep before `expire` must run.
    pub fn timeout(&self) -> Option<Duration> {
        match &self.sink {
            Sink::Ttrpc {
                waiting: Some((_, deadline, _)),
                ..
            } => Some(deadline.saturating_duration_since(Instant::now())),
            _ => None,
        }
    }

    /// Gives up on a Forward containerd did not answer in time.
    pub fn expire(&mut self) {
        if let Sink::Ttrpc {
            conn, waiting, buf, ..
        } = &mut self.sink
        {
            if waiting
                .as_ref()
                .is_some_and(|(_, deadline, _)| Instant::now() >= *deadline)
            {
                if let Some((_, _, ev)) = waiting.take() {
                    log::warn!("publish {}: containerd did not answer", ev.topic);
                }
                *conn = None;
                buf.clear();
                self.kick();
            }
        }
    }

    /// The connection is readable: take containerd's answer, send the next event.
    pub fn readable(&mut self) {
        let Sink::Ttrpc {
            conn, waiting, buf, ..
        } = &mut self.sink
        else {
            return;
        };
        let Some(stream) = conn.as_mut() else {
            return;
        };
        let mut chunk = [0u8; 1024];
        let broken = match stream.read(&mut chunk) {
            Ok(0) => true,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                false
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => false,
            Err(_) => true,
        };
        if broken {
            *conn = None;
            buf.clear();
            if let Some((_, _, ev)) = waiting.take() {
                self.queue.push_front(ev);
            }
            self.kick();
            return;
        }
        while let Ok(Some((stream_id, kind, payload))) = wire::split_frame(buf) {
            let Some((want, _, ev)) = waiting.as_ref() else {
                break;
            };
            if kind != wire::TYPE_RESPONSE || stream_id != *want {
                continue;
            }
            if let Ok(resp) = ttrpc::Response::parse_from_bytes(&payload) {
                if let Some(status) = resp.status.as_ref().filter(|s| s.code.value() != 0) {
                    log::warn!("publish {}: {}", ev.topic, status.message);
                }
            }
            *waiting = None;
        }
        self.kick();
    }

    fn kick(&mut self) {
        while !self.busy() {
            let Some(mut ev) = self.queue.pop_front() else {
                return;
            };
            ev.tries += 1;
            match &mut self.sink {
                Sink::Ttrpc {
                    path,
                    conn,
                    waiting,
                    next_stream,
                    buf,
                } => {
                    let stream_id = *next_stream;
                    // Client streams are odd.
                    *next_stream = next_stream.wrapping_add(2);
                    match send_forward(path, conn, &self.namespace, &ev, stream_id) {
                        Ok(()) => {
                            *waiting = Some((stream_id, Instant::now() + FORWARD_TIMEOUT, ev))
                        }
                        Err(e) => {
                            *conn = None;
                            buf.clear();
                            if ev.tries < FORWARD_TRIES {
                                self.queue.push_front(ev);
                            } else {
                                log::warn!("publish {} to {}: {e}", ev.topic, path.display());
                            }
                        }
                    }
                }
                Sink::Binary {
                    binary,
                    address,
                    running,
                } => {
                    *running = spawn_publisher(binary, address, &self.namespace, &ev);
                }
            }
        }
    }
}

/// Writes one Forward request, connecting first when needed. The frame is far smaller
/// than the socket buffer: the write does not block.
fn send_forward(
    path: &std::path::Path,
    conn: &mut Option<UnixStream>,
    namespace: &str,
    ev: &Event,
    stream_id: u32,
) -> std::io::Result<()> {
    let mut envelope = Envelope::new();
    envelope.timestamp = MessageField::some(ev.at.clone());
    envelope.namespace = namespace.to_string();
    envelope.topic = ev.topic.to_string();
    envelope.event = MessageField::some(ev.any.clone());
    let mut forward = ForwardRequest::new();
    forward.envelope = MessageField::some(envelope);
    let mut req = ttrpc::Request::new();
    req.service = FORWARD_SERVICE.into();
    req.method = "Forward".into();
    req.payload = forward.write_to_bytes().map_err(std::io::Error::other)?;
    let mut ns = ttrpc::proto::KeyValue::new();
    ns.key = "containerd-namespace-ttrpc".into();
    ns.value = namespace.to_string();
    req.metadata.push(ns);
    let payload = req.write_to_bytes().map_err(std::io::Error::other)?;
    if conn.is_none() {
        let stream = UnixStream::connect(path)?;
        *conn = Some(stream);
    }
    match conn {
        Some(stream) => stream.write_all(&wire::frame(stream_id, wire::TYPE_REQUEST, &payload)),
        None => Ok(()),
    }
}

/// Starts the publish binary for one event; its pid, collected later by the reaper.
fn spawn_publisher(
    binary: &std::path::Path,
    address: &str,
    namespace: &str,
    ev: &Event,
) -> Option<i32> {
    let data = match ev.any.write_to_bytes() {
        Ok(d) => d,
        Err(e) => {
            log::warn!("encode {} event: {e}", ev.topic);
            return None;
        }
    };
    let child = Command::new(binary)
        .args(["--address", address, "publish", "--topic", ev.topic])
        .args(["--namespace", namespace])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn();
    match child {
        Ok(mut child) => {
            if let Some(mut stdin) = child.stdin.take() {
                // An event is far smaller than a pipe buffer: this never blocks.
                if let Err(e) = stdin.write_all(&data) {
                    log::warn!("publish {}: {e}", ev.topic);
                }
            }
            // Not waited for here: the reaper collects it and calls `reaped`.
            Some(child.id() as i32)
        }
        Err(e) => {
            log::warn!("publish {}: {}: {e}", ev.topic, binary.display());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use containerd_shim_protos::events::task::{TaskExit, TaskOOM};
    use protobuf::MessageFull;

    /// Reads one ttrpc frame off a blocking stream: (stream id, type, payload).
    fn read_frame(s: &mut std::os::unix::net::UnixStream) -> (u32, u8, Vec<u8>) {
        use std::io::Read;
        let mut header = [0u8; 10];
        s.read_exact(&mut header).unwrap();
        let len = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize;
        let mut payload = vec![0; len];
        s.read_exact(&mut payload).unwrap();
        let id = u32::from_be_bytes(header[4..8].try_into().unwrap());
        (id, header[8], payload)
    }

    #[test]
    fn events_are_forwarded_one_at_a_time_in_order() {
        use containerd_shim_protos::shim::events::ForwardRequest;
        use protobuf::Message;
        use std::io::Write;

        let dir = std::env::temp_dir().join(format!("berth-shim-fwd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ttrpc.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut p = super::Publisher::new(
            Some(format!("unix://{}", path.display())),
            "/nonexistent/containerd".into(),
            String::new(),
            "k8s.io".into(),
        );
        let mut exit = TaskExit::new();
        exit.container_id = "c1".into();
        p.publish("/tasks/exit", &exit);
        p.publish("/tasks/oom", &TaskOOM::new());
        let (mut server, _) = listener.accept().unwrap();

        let (id, kind, payload) = read_frame(&mut server);
        assert_eq!((id % 2, kind), (1, crate::wire::TYPE_REQUEST));
        let req = ttrpc::Request::parse_from_bytes(&payload).unwrap();
        assert_eq!(req.service, "containerd.services.events.ttrpc.v1.Events");
        assert_eq!(req.method, "Forward");
        let fwd = ForwardRequest::parse_from_bytes(&req.payload).unwrap();
        assert_eq!(fwd.envelope.topic, "/tasks/exit");
        assert_eq!(fwd.envelope.namespace, "k8s.io");
        assert_eq!(fwd.envelope.event.type_url, "containerd.events.TaskExit");
        let sent = TaskExit::parse_from_bytes(&fwd.envelope.event.value).unwrap();
        assert_eq!(sent.container_id, "c1");
        // The second event waits for the first one's answer.
        assert!(!p.idle());
        assert!(p.poll_fd().is_some());

        let answer = crate::wire::ok_response(Vec::new())
            .write_to_bytes()
            .unwrap();
        server
            .write_all(&crate::wire::frame(id, crate::wire::TYPE_RESPONSE, &answer))
            .unwrap();
        p.readable();
        let (id2, _, payload) = read_frame(&mut server);
        assert_ne!(id2, id);
        let req = ttrpc::Request::parse_from_bytes(&payload).unwrap();
        let fwd = ForwardRequest::parse_from_bytes(&req.payload).unwrap();
        assert_eq!(fwd.envelope.topic, "/tasks/oom");

        // containerd goes away with the answer outstanding: the event is sent again on
        // a new connection.
        drop(server);
        p.readable();
        let (mut server, _) = listener.accept().unwrap();
        let (id3, _, payload) = read_frame(&mut server);
        let req = ttrpc::Request::parse_from_bytes(&payload).unwrap();
        let fwd = ForwardRequest::parse_from_bytes(&req.payload).unwrap();
        assert_eq!(fwd.envelope.topic, "/tasks/oom");
        server
            .write_all(&crate::wire::frame(
                id3,
                crate::wire::TYPE_RESPONSE,
                &answer,
            ))
            .unwrap();
        p.readable();
        assert!(p.idle());
        assert!(p.poll_fd().is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn type_urls_are_the_full_proto_names() {
        assert_eq!(
            super::type_url::<TaskExit>(),
            TaskExit::descriptor().full_name()
        );
        assert_eq!(
            super::type_url::<TaskOOM>(),
            TaskOOM::descriptor().full_name()
        );
    }
}
