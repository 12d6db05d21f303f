//! The systemd cgroup driver. On a systemd host the cgroup tree belongs to systemd: the
//! container's cgroup is a transient unit (a `.scope` holding the init, or a `.slice`)
//! that systemd creates over D-Bus with `Delegate=yes` and the resources as unit
//! properties. Once it exists it is an ordinary cgroup directory: processes, freezing,
//! stats and the files systemd has no property for go through cgroupfs, as with the
//! cgroupfs driver (`super::Cgroup` holds both).
//!
//! Files: `path` (`slice:prefix:name` → unit and directory), `properties` (resources,
//! devices and annotations → unit properties), `bus` (the D-Bus calls).

mod bus;
pub(crate) mod path;
mod properties;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};

use super::devices::Rule;
use super::CgroupError;
use bus::{Bus, Property, Value};

/// Where runc's driver looks to know whether systemd is the init system.
const SYSTEMD_RUNNING: &str = "/run/systemd/system";

/// The container's unit, as stored in its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Unit {
    /// `docker-<id>.scope`.
    pub name: String,
    /// The slice it goes in: `system.slice`.
    pub slice: String,
    /// Managed by the calling user's systemd instead of the system's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub user: bool,
}

/// What the unit is started with besides the init's pid.
pub(crate) struct StartWith<'a> {
    pub resources: &'a LinuxResources,
    pub devices: &'a [Rule],
    pub annotations: &'a HashMap<String, String>,
    /// The unit's cgroup is on cgroup v2 (else the v1 property names).
    pub unified: bool,
    /// The unit's cgroup holds no process now (our init is not in it yet), should a
    /// unit of that name exist already.
    pub leftover_is_empty: bool,
}

pub(crate) fn check_running() -> Result<(), CgroupError> {
    if Path::new(SYSTEMD_RUNNING).is_dir() {
        Ok(())
    } else {
        Err(CgroupError::SystemdNotRunning)
    }
}

/// The cgroup of the calling user's systemd instance (its `ControlGroup`, as runc asks
/// for it): `/user.slice/user-1000.slice/user@1000.service`. Its units live below it.
pub(crate) fn user_manager_cgroup() -> Result<PathBuf, CgroupError> {
    let fail = |e: bus::BusError| CgroupError::Systemd {
        op: "find the cgroup of",
        unit: "the user manager".into(),
        reason: e.to_string(),
    };
    let mut bus = Bus::connect(true).map_err(fail)?;
    bus.manager_property("ControlGroup")
        .map(PathBuf::from)
        .map_err(fail)
}

impl Unit {
    fn error(&self, op: &'static str, reason: impl std::fmt::Display) -> CgroupError {
        CgroupError::Systemd {
            op,
            unit: self.name.clone(),
            reason: reason.to_string(),
        }
    }

    fn connect(&self, op: &'static str) -> Result<Bus, CgroupError> {
        Bus::connect(self.user).map_err(|e| self.error(op, e))
    }

    /// Starts the unit with `pid` in it and waits until systemd has made it. A unit of
    /// that name left failed by an earlier container is reset and tried once more.
    pub fn start(&self, pid: i32, with: &StartWith) -> Result<(), CgroupError> {
        let op = "start";
        let mut props = self.base_properties(pid);
        props.extend(properties::for_devices(with.devices));
        props.extend(
            properties::for_resources(with.resources, with.unified)
                .map_err(|e| self.error(op, e))?,
        );
        props
            .extend(properties::from_annotations(with.annotations).map_err(|e| self.error(op, e))?);
        crate::trace::mark("clone");
        let mut bus = self.connect(op)?;
        crate::trace::mark("systemd connect");
        let mut result = bus.start_transient_unit(&self.name, &props);
        crate::trace::mark("systemd start unit");
        if matches!(&result, Err(e) if e.is("org.freedesktop.systemd1.UnitExists")) {
            // A unit of that name without processes is an earlier container's, failed
            // or still ending (`destroy` does not wait for an empty unit's stop): wait
            // for it to go. One with processes belongs to someone else: fail, as runc.
            if with.leftover_is_empty {
                let _ = bus.stop_unit(&self.name);
            }
            let _ = bus.reset_failed_unit(&self.name);
            result = bus.start_transient_unit(&self.name, &props);
        }
        match result {
            Ok(job) if job == "done" => Ok(()),
            Ok(job) => {
                let _ = bus.reset_failed_unit(&self.name);
                Err(self.error(op, format!("job finished as {job:?}")))
            }
            Err(e) => Err(self.error(op, e)),
        }
    }

    /// Sets the properties for `resources` on the running unit (`update`).
    pub fn set(&self, resources: &LinuxResources, unified: bool) -> Result<(), CgroupError> {
        let op = "set properties of";
        let props = properties::for_resources(resources, unified).map_err(|e| self.error(op, e))?;
        if props.is_empty() {
            return Ok(());
        }
        self.connect(op)?
            .set_unit_properties(&self.name, &props)
            .map_err(|e| self.error(op, e))
    }

    /// Stops the unit and clears a failed state (an OOM kill fails a scope), so that
    /// nothing of it is left in `systemctl list-units --all`. `busy`: processes are left
    /// in its cgroup, for systemd to kill; the stop is then waited for, as runc does.
    /// A unit without processes is ending anyway (systemd collects an empty scope): both
    /// requests are only sent. Waiting for their replies cost ~0.45 s per `delete` under
    /// emulation on systemd 262 (the manager answers after it has processed the empty
    /// cgroup), three times all the rest of a `run`.
    pub fn stop(&self, exists: bool, busy: bool) -> Result<(), CgroupError> {
        let op = "stop";
        let mut bus = self.connect(op)?;
        if !busy {
            if exists {
                bus.stop_unit_nowait(&self.name)
                    .map_err(|e| self.error(op, e))?;
            }
            return bus
                .reset_failed_unit_nowait(&self.name)
                .map_err(|e| self.error(op, e));
        }
        match bus.stop_unit(&self.name) {
            Err(e) if !e.is("org.freedesktop.systemd1.NoSuchUnit") => return Err(self.error(op, e)),
            _ => {}
        }
        let _ = bus.reset_failed_unit(&self.name);
        Ok(())
    }

    fn base_properties(&self, pid: i32) -> Vec<Property> {
        let p = |name: &str, value: Value| (name.to_string(), value);
        let mut props = vec![p(
            "Description",
            Value::Str(format!("libcontainer container {}", self.container_name())),
        )];
        if self.name.ends_with(".slice") {
            props.push(p("Wants", Value::Str(self.slice.clone())));
        } else {
            props.push(p("Slice", Value::Str(self.slice.clone())));
            props.push(p("Delegate", Value::Bool(true)));
        }
        props.push(p("PIDs", Value::U32s(vec![pid as u32])));
        for accounting in [
            "MemoryAccounting",
            "CPUAccounting",
            "IOAccounting",
            "TasksAccounting",
        ] {
            props.push(p(accounting, Value::Bool(true)));
        }
        props.push(p("DefaultDependencies", Value::Bool(false)));
        props
    }

    /// The `name` part of `slice:prefix:name` (runc's Description uses it).
    fn container_name(&self) -> &str {
        let stem = self.name.strip_suffix(".scope").unwrap_or(&self.name);
        stem.split_once('-').map_or(stem, |(_, n)| n)
    }
}
