//! `process.execCPUAffinity` (runtime-spec 1.2.1) for processes `exec` starts: the CPUs the
//! new process runs on before it joins the container's cgroup (`initial`) and after
//! (`final`). Not for the init. With neither given, the process's affinity is reset to
//! every CPU once it is in the cgroup, so that it does not inherit a narrower one from
//! whoever started the runtime (runc ≥ 1.3 does the same: since Linux 6.2 joining a
//! cpuset cgroup no longer resets the mask).

use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use oci_spec::runtime::ExecCPUAffinity;

use crate::error::{Error, Result};

#[derive(Debug, Default, Clone)]
pub(crate) struct ExecAffinity {
    initial: Option<CpuSet>,
    last: Option<CpuSet>,
}

/// Parses a CPU list ("0-3,7"); `field` names it in errors.
fn parse_cpu_list(field: &str, text: &str) -> Result<CpuSet> {
    let cpus = crate::id_list::parse(text, CpuSet::count())
        .map_err(|why| Error::Config(format!("{field}: invalid CPU list {text:?}: {why}")))?;
    let mut set = CpuSet::new();
    for cpu in cpus {
        // In range: the list was checked against CpuSet::count().
        let _ = set.set(cpu);
    }
    Ok(set)
}

impl ExecAffinity {
    /// The exec's own `execCPUAffinity` if its process has one, else the container's.
    pub(crate) fn from_spec(spec: Option<&ExecCPUAffinity>) -> Result<ExecAffinity> {
        let Some(a) = spec else {
            return Ok(ExecAffinity::default());
        };
        let list = |field: &str, v: &Option<String>| {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| parse_cpu_list(field, s))
                .transpose()
        };
        Ok(ExecAffinity {
            initial: list("process.execCPUAffinity.initial", a.initial())?,
            last: list("process.execCPUAffinity.final", a.cpu_affinity_final())?,
        })
    }

    /// Runs `spawn` with this thread's affinity set to `initial`, which the new process
    /// inherits; the thread's own affinity is restored afterwards.
    pub(crate) fn spawn_with_initial<T>(&self, spawn: impl FnOnce() -> Result<T>) -> Result<T> {
        let Some(initial) = &self.initial else {
            return spawn();
        };
        let me = Pid::from_raw(0);
        let saved = sched_getaffinity(me).map_err(|e| Error::sys("sched_getaffinity", e))?;
        sched_setaffinity(me, initial)
            .map_err(|e| Error::sys("error setting initial CPU affinity", e))?;
        let result = spawn();
        if let Err(e) = sched_setaffinity(me, &saved) {
            log::warn!("restoring the runtime's CPU affinity: {e}");
        }
        result
    }

    /// In the new process, once it is in the container's cgroup and before it execs:
    /// `final`, or, with no affinity given at all, every CPU (the kernel clamps the mask
    /// to what the cgroup allows). `pid` 0 is the caller.
    pub(crate) fn settle(&self, pid: Pid) -> Result<()> {
        match (&self.initial, &self.last) {
            (_, Some(last)) => sched_setaffinity(pid, last)
                .map_err(|e| Error::sys("error setting final CPU affinity", e)),
            (Some(_), None) => Ok(()),
            (None, None) => {
                let mut all = CpuSet::new();
                for cpu in 0..CpuSet::count() {
                    let _ = all.set(cpu);
                }
                if let Err(e) = sched_setaffinity(pid, &all) {
                    log::warn!("resetting the CPU affinity of pid {pid}: {e}");
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        let s = parse_cpu_list("f", "0-2,5").unwrap();
        let on: Vec<usize> = (0..8).filter(|c| s.is_set(*c).unwrap()).collect();
        assert_eq!(on, [0, 1, 2, 5]);
        assert!(parse_cpu_list("f", "3-1").is_err());
        assert!(parse_cpu_list("f", "a").is_err());
        assert!(parse_cpu_list("f", "99999")
            .unwrap_err()
            .to_string()
            .contains("f: invalid CPU list"));
    }
}
