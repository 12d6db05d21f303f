//! The few calls the driver makes to systemd's manager object, over a synchronous,
//! thread-free D-Bus connection (rustbus): containers are cloned from the calling
//! process, which must not have other threads then.
//!
//! The connection goes to the system bus (the user's bus for a user manager); systemd's
//! private socket is the fallback where no bus daemon runs. The private socket saved two
//! round trips, but on systemd 262 a StopUnit sent over it after the scope's last process
//! had exited went unanswered for 25 s, where the same call over the bus daemon (what
//! runc uses) returns at once.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::{Duration, Instant};

use nix_rustbus::sys::socket::UnixAddr;
use rustbus::connection::Timeout;
use rustbus::message_builder::MarshalledMessage;
use rustbus::wire::ObjectPath;
use rustbus::{DuplexConn, MessageBuilder, MessageType};

const DEST: &str = "org.freedesktop.systemd1";
const OBJECT: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PRIVATE_SOCKET: &str = "/run/systemd/private";
const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";
/// runc waits as long for a job.
const JOB_TIMEOUT: Duration = Duration::from_secs(30);
const CALL_TIMEOUT: Duration = Duration::from_secs(25);

rustbus::dbus_variant_sig!(Value,
    Str => String;
    Bool => bool;
    U64 => u64;
    U32 => u32;
    I64 => i64;
    I32 => i32;
    U32s => Vec<u32>;
    Bytes => Vec<u8>;
    Strs => Vec<String>;
    Pairs => Vec<(String, String)>
);

/// One unit property: `("MemoryMax", Value::U64(..))`.
pub(crate) type Property = (String, Value);

/// A failed call, as `org.freedesktop.systemd1.NoSuchUnit: Unit x.scope not loaded.`
#[derive(Debug)]
pub(crate) struct BusError {
    pub name: Option<String>,
    pub text: String,
}

impl std::fmt::Display for BusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{name}: {}", self.text),
            None => f.write_str(&self.text),
        }
    }
}

impl BusError {
    fn other(text: impl std::fmt::Display) -> Self {
        BusError {
            name: None,
            text: text.to_string(),
        }
    }

    pub fn is(&self, name: &str) -> bool {
        self.name.as_deref() == Some(name)
    }
}

pub(crate) struct Bus {
    conn: DuplexConn,
    /// JobRemoved signals read while waiting for a reply.
    signals: VecDeque<MarshalledMessage>,
    /// Over the bus daemon, job signals (broadcasts) reach us only once we add a match;
    /// done before the first call that makes a job.
    needs_match: bool,
}

impl Bus {
    /// Connects to the system manager (or the calling user's, `user`): over the bus
    /// daemon as runc does, else (a host without dbus-daemon, as root) systemd's private
    /// socket.
    pub fn connect(user: bool) -> Result<Bus, BusError> {
        let path = if user {
            user_bus_path()?
        } else {
            SYSTEM_BUS.to_string()
        };
        match Bus::open(&path, true) {
            Err(_) if !user && !Path::new(SYSTEM_BUS).exists() => Bus::open(PRIVATE_SOCKET, false),
            result => result,
        }
    }

    fn open(path: &str, via_daemon: bool) -> Result<Bus, BusError> {
        let fail = |e: &dyn std::fmt::Display| BusError::other(format!("connect to {path}: {e}"));
        let addr = UnixAddr::new(path).map_err(|e| fail(&e))?;
        let conn = DuplexConn::connect_to_bus(addr, false).map_err(|e| fail(&e))?;
        // rustbus opens the socket without O_CLOEXEC; the containers we clone must not
        // inherit it.
        for fd in [conn.send.as_raw_fd(), conn.recv.as_raw_fd()] {
            let flags = nix::fcntl::FdFlag::FD_CLOEXEC;
            // SAFETY: fd belongs to `conn`, alive for this call.
            let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
            nix::fcntl::fcntl(borrowed, nix::fcntl::FcntlArg::F_SETFD(flags))
                .map_err(|e| fail(&e))?;
        }
        let mut bus = Bus {
            conn,
            signals: VecDeque::new(),
            needs_match: false,
        };
        if via_daemon {
            // Sent without waiting, as the daemon handles a connection's messages in
            // order; a refusal shows as a closed connection or an error on the next call.
            bus.send(&mut rustbus::standard_messages::hello())?;
            bus.needs_match = true;
        }
        Ok(bus)
    }

    /// StartTransientUnit(name, "replace", properties, []) and waits for its job;
    /// returns the job's result (`done` when the unit runs).
    pub fn start_transient_unit(
        &mut self,
        name: &str,
        properties: &[Property],
    ) -> Result<String, BusError> {
        let mut call = manager_call("StartTransientUnit");
        let aux: &[(String, &[Property])] = &[];
        call.body
            .push_param4(name, "replace", properties, aux)
            .map_err(BusError::other)?;
        let job = self.call_for_job(&mut call)?;
        self.wait_job(&job)
    }

    /// StopUnit(name, "replace") and waits for its job.
    pub fn stop_unit(&mut self, name: &str) -> Result<String, BusError> {
        let mut call = manager_call("StopUnit");
        call.body
            .push_param2(name, "replace")
            .map_err(BusError::other)?;
        let job = self.call_for_job(&mut call)?;
        self.wait_job(&job)
    }

    /// StopUnit(name, "replace") without waiting for its reply or job: for a unit whose
    /// processes are gone, which systemd is about to collect anyway.
    pub fn stop_unit_nowait(&mut self, name: &str) -> Result<(), BusError> {
        let mut call = manager_call("StopUnit");
        call.body
            .push_param2(name, "replace")
            .map_err(BusError::other)?;
        self.send(&mut call).map(drop)
    }

    /// ResetFailedUnit(name) without waiting for the reply.
    pub fn reset_failed_unit_nowait(&mut self, name: &str) -> Result<(), BusError> {
        let mut call = manager_call("ResetFailedUnit");
        call.body.push_param(name).map_err(BusError::other)?;
        self.send(&mut call).map(drop)
    }

    pub fn reset_failed_unit(&mut self, name: &str) -> Result<(), BusError> {
        let mut call = manager_call("ResetFailedUnit");
        call.body.push_param(name).map_err(BusError::other)?;
        self.call(&mut call).map(drop)
    }

    /// SetUnitProperties(name, runtime = true, properties).
    pub fn set_unit_properties(
        &mut self,
        name: &str,
        properties: &[Property],
    ) -> Result<(), BusError> {
        let mut call = manager_call("SetUnitProperties");
        call.body
            .push_param3(name, true, properties)
            .map_err(BusError::other)?;
        self.call(&mut call).map(drop)
    }

    /// A string property of the manager object (`ControlGroup`, `Version`).
    pub fn manager_property(&mut self, name: &str) -> Result<String, BusError> {
        let mut call = MessageBuilder::new()
            .call("Get")
            .with_interface("org.freedesktop.DBus.Properties")
            .on(OBJECT)
            .at(DEST)
            .build();
        call.body
            .push_param2(MANAGER, name)
            .map_err(BusError::other)?;
        let reply = self.call(&mut call)?;
        match reply.body.parser().get::<Value>() {
            Ok(Value::Str(s)) => Ok(s),
            other => Err(BusError::other(format!(
                "manager property {name}: not a string: {other:?}"
            ))),
        }
    }

    fn call_for_job(&mut self, call: &mut MarshalledMessage) -> Result<String, BusError> {
        if std::mem::take(&mut self.needs_match) {
            self.send(&mut rustbus::standard_messages::add_match(
                "type='signal',interface='org.freedesktop.systemd1.Manager',member='JobRemoved'",
            ))?;
        }
        let reply = self.call(call)?;
        let job = reply
            .body
            .parser()
            .get::<ObjectPath<String>>()
            .map_err(|e| BusError::other(format!("reading the job path: {e:?}")))?;
        Ok(job.as_ref().to_string())
    }

    /// Sends `call` and reads until its reply; signals read meanwhile are kept.
    fn call(&mut self, call: &mut MarshalledMessage) -> Result<MarshalledMessage, BusError> {
        let serial = self.send(call)?;
        let deadline = Instant::now() + CALL_TIMEOUT;
        loop {
            let msg = self.next(deadline)?;
            match msg.typ {
                MessageType::Signal => self.signals.push_back(msg),
                MessageType::Reply if msg.dynheader.response_serial == Some(serial) => {
                    return Ok(msg)
                }
                MessageType::Error if msg.dynheader.response_serial == Some(serial) => {
                    let text = msg.body.parser().get::<String>().unwrap_or_default();
                    return Err(BusError {
                        name: msg.dynheader.error_name.clone(),
                        text,
                    });
                }
                _ => {}
            }
        }
    }

    fn send(&mut self, msg: &mut MarshalledMessage) -> Result<u32, BusError> {
        log::debug!(
            "systemd bus: send {}",
            msg.dynheader.member.as_deref().unwrap_or("")
        );
        self.conn
            .send
            .send_message(msg)
            .map_err(BusError::other)?
            .write_all()
            .map_err(|(ctx, e)| {
                ctx.force_finish();
                BusError::other(e)
            })
    }

    /// Waits for the JobRemoved signal of `job`; returns its result.
    fn wait_job(&mut self, job: &str) -> Result<String, BusError> {
        let deadline = Instant::now() + JOB_TIMEOUT;
        loop {
            let msg = match self.signals.pop_front() {
                Some(msg) => msg,
                None => self.next(deadline)?,
            };
            if msg.typ != MessageType::Signal
                || msg.dynheader.member.as_deref() != Some("JobRemoved")
            {
                continue;
            }
            let mut parser = msg.body.parser();
            let Ok((_id, path)) = parser.get2::<u32, ObjectPath<String>>() else {
                continue;
            };
            if path.as_ref() != job {
                continue;
            }
            let (_unit, result) = parser
                .get2::<String, String>()
                .map_err(|e| BusError::other(format!("reading JobRemoved: {e:?}")))?;
            return Ok(result);
        }
    }

    fn next(&mut self, deadline: Instant) -> Result<MarshalledMessage, BusError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(BusError::other("timed out waiting for systemd"));
        }
        let msg = self
            .conn
            .recv
            .get_next_message(Timeout::Duration(left))
            .map_err(|e| match e {
                rustbus::connection::Error::TimedOut => {
                    BusError::other("timed out waiting for systemd")
                }
                e => BusError::other(e),
            })?;
        log::debug!(
            "systemd bus: {:?} {} reply to {:?}",
            msg.typ,
            msg.dynheader.member.as_deref().unwrap_or(""),
            msg.dynheader.response_serial
        );
        Ok(msg)
    }
}

fn manager_call(method: &str) -> MarshalledMessage {
    MessageBuilder::new()
        .call(method)
        .with_interface(MANAGER)
        .on(OBJECT)
        .at(DEST)
        .build()
}

/// The user's bus: `$DBUS_SESSION_BUS_ADDRESS` (`unix:path=...`), else
/// `$XDG_RUNTIME_DIR/bus`.
fn user_bus_path() -> Result<String, BusError> {
    if let Ok(addr) = std::env::var("DBUS_SESSION_BUS_ADDRESS") {
        if let Some(path) = addr
            .split(';')
            .filter_map(|a| a.strip_prefix("unix:"))
            .flat_map(|a| a.split(','))
            .find_map(|kv| kv.strip_prefix("path="))
        {
            return Ok(path.to_string());
        }
    }
    let dir = std::env::var("XDG_RUNTIME_DIR")
        .unwrap_or_else(|_| format!("/run/user/{}", nix::unistd::geteuid()));
    Ok(format!("{dir}/bus"))
}
