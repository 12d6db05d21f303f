//! runtime-spec 1.2's `process.ioPriority` (ioprio_set) and `process.scheduler`
//! (sched_setattr), applied to the container's process before the user switch and the
//! capability drop, as runc 1.2+ does (real-time classes need CAP_SYS_NICE).

use nix::errno::Errno;
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxSchedulerFlag, LinuxSchedulerPolicy, Process, Scheduler,
};

use crate::error::{Error, Result};

const IOPRIO_WHO_PROCESS: libc::c_int = 1;
const IOPRIO_CLASS_SHIFT: u32 = 13;

/// `struct sched_attr`, SCHED_ATTR_SIZE_VER0.
#[repr(C)]
#[derive(Debug, Default, PartialEq, Eq)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

pub(crate) fn apply(process: &Process) -> Result<()> {
    if let Some(io) = process.io_priority() {
        set_io_priority(io)?;
    }
    if let Some(s) = process.scheduler() {
        set_scheduler(s)?;
    }
    Ok(())
}

/// The ioprio value: class in the top bits, the level (0–7, as runc checks) below.
pub(crate) fn ioprio_value(io: &LinuxIOPriority) -> Result<u32> {
    let level = io.priority();
    if !(0..=7).contains(&level) {
        return Err(Error::Config(format!(
            "process.ioPriority.priority: invalid value {level} (want 0 to 7)"
        )));
    }
    let class: u32 = match io.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    Ok((class << IOPRIO_CLASS_SHIFT) | level as u32)
}

fn set_io_priority(io: &LinuxIOPriority) -> Result<()> {
    let value = ioprio_value(io)?;
    // SAFETY: ioprio_set takes three integers; 0 names the calling process.
    let ret = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) };
    if ret < 0 {
        return Err(Error::sys("failed to set io priority", Errno::last()));
    }
    Ok(())
}

fn sched_attr(s: &Scheduler) -> SchedAttr {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => libc::SCHED_OTHER,
        LinuxSchedulerPolicy::SchedFifo => libc::SCHED_FIFO,
        LinuxSchedulerPolicy::SchedRr => libc::SCHED_RR,
        LinuxSchedulerPolicy::SchedBatch => libc::SCHED_BATCH,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => libc::SCHED_IDLE,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    } as u32;
    let flags = s
        .flags()
        .iter()
        .flatten()
        .map(|f| match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        })
        .fold(0u64, |acc, f| acc | f);
    SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0).max(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
    }
}

fn set_scheduler(s: &Scheduler) -> Result<()> {
    let attr = sched_attr(s);
    // SAFETY: `attr` is a live sched_attr whose size field says how much the kernel may
    // read; pid 0 is the calling thread, flags 0.
    let ret = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if ret < 0 {
        return Err(Error::sys("error setting scheduler", Errno::last()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(class: &str, priority: i64) -> LinuxIOPriority {
        serde_json::from_value(serde_json::json!({"class": class, "priority": priority})).unwrap()
    }

    #[test]
    fn io_priority_classes_and_levels() {
        assert_eq!(
            ioprio_value(&io("IOPRIO_CLASS_BE", 3)).unwrap(),
            (2 << 13) | 3
        );
        assert_eq!(ioprio_value(&io("IOPRIO_CLASS_IDLE", 0)).unwrap(), 3 << 13);
        assert!(ioprio_value(&io("IOPRIO_CLASS_RT", 8)).is_err());
    }

    #[test]
    fn scheduler_fields_reach_sched_attr() {
        let s: Scheduler = serde_json::from_value(serde_json::json!({
            "policy": "SCHED_BATCH", "nice": 5, "flags": ["SCHED_RESET_ON_FORK"]
        }))
        .unwrap();
        let a = sched_attr(&s);
        assert_eq!((a.size, a.policy, a.flags, a.nice), (48, 3, 1, 5));
    }
}
