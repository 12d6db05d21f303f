//! Events to containerd through the `-publish-binary` (`containerd --address A publish
//! --topic T --namespace N`, the event as a protobuf `Any` on stdin). One publisher runs
//! at a time so containerd sees events in order (TaskExit before TaskDelete); the next
//! starts when the reaper reports the previous one's exit.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use protobuf::well_known_types::any::Any;
use protobuf::Message;

/// containerd's typeurl registry knows its events by their full proto name. Built from
/// the package and the message's own name rather than its descriptor: asking for a
/// descriptor parses and keeps the whole generated file's reflection data (heap the idle
/// shim would carry for good).
fn type_url<M: Message>() -> String {
    format!("containerd.events.{}", M::NAME)
}

pub struct Publisher {
    binary: PathBuf,
    address: String,
    namespace: String,
    queue: VecDeque<(&'static str, Vec<u8>)>,
    running: Option<i32>,
}

impl Publisher {
    pub fn new(binary: PathBuf, address: String, namespace: String) -> Publisher {
        Publisher {
            binary,
            address,
            namespace,
            queue: VecDeque::new(),
            running: None,
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
        match any.write_to_bytes() {
            Ok(bytes) => self.queue.push_back((topic, bytes)),
            Err(e) => log::warn!("encode {topic} event: {e}"),
        }
        self.kick();
    }

    /// The reaper saw `pid` exit; returns whether it was our publisher.
    pub fn reaped(&mut self, pid: i32, status: i32) -> bool {
        if self.running != Some(pid) {
            return false;
        }
        if status != 0 {
            log::warn!("publish binary exited with status {status}");
        }
        self.running = None;
        self.kick();
        true
    }

    pub fn idle(&self) -> bool {
        self.running.is_none() && self.queue.is_empty()
    }

    fn kick(&mut self) {
        while self.running.is_none() {
            let Some((topic, data)) = self.queue.pop_front() else {
                return;
            };
            let child = Command::new(&self.binary)
                .args(["--address", &self.address, "publish", "--topic", topic])
                .args(["--namespace", &self.namespace])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn();
            match child {
                Ok(mut child) => {
                    if let Some(mut stdin) = child.stdin.take() {
                        // An event is far smaller than a pipe buffer: this never blocks.
                        if let Err(e) = stdin.write_all(&data) {
                            log::warn!("publish {topic}: {e}");
                        }
                    }
                    // Not waited for here: the reaper collects it and calls `reaped`.
                    self.running = Some(child.id() as i32);
                }
                Err(e) => log::warn!("publish {topic}: {}: {e}", self.binary.display()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use containerd_shim_protos::events::task::{TaskExit, TaskOOM};
    use protobuf::MessageFull;

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
