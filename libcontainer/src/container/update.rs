//! `update`: apply new resource limits to a container's cgroup, and record them in the
//! container's config snapshot. Also the create-time application of `linux.resources`.

use oci_spec::runtime::{LinuxCpu, LinuxResources, Spec};

use super::Container;
use crate::cgroups::{devices, Cgroup};
use crate::error::{Error, Result};
use crate::state::{self, Status};
use crate::utils::write_atomic;

fn create_error(e: String) -> Error {
    Error::Start(format!(
        "error during container init: error setting cgroup config for procHooks process: {e}"
    ))
}

/// The device rules a new container gets (runc's defaults, then the spec's); the error
/// reads as runc's.
pub(super) fn device_rules_for_create(spec: &Spec) -> Result<Vec<devices::Rule>> {
    devices::rules_for_create(spec).map_err(create_error)
}

/// Applies the spec's resources and device rules to the cgroup the init just joined.
/// The errors read as runc's.
pub(super) fn apply_at_create(
    cgroup: &Cgroup,
    resources: &LinuxResources,
    rules: &[devices::Rule],
) -> Result<()> {
    // runc writes cpuset.cpus/mems while joining the cgroup, the rest afterwards; the
    // two steps fail with different texts.
    let mut rest = resources.clone();
    let mut cpuset = LinuxResources::default();
    if let Some(cpu) = rest.cpu_mut() {
        let mut only = LinuxCpu::default();
        only.set_cpus(cpu.cpus().clone());
        only.set_mems(cpu.mems().clone());
        cpuset.set_cpu(Some(only));
        cpu.set_cpus(None);
        cpu.set_mems(None);
    }
    cgroup
        .apply(&cpuset, None)
        .map_err(|e| Error::Start(format!("unable to apply cgroup configuration: {e}")))?;
    cgroup
        .apply(&rest, Some(rules))
        .map_err(|e| create_error(e.to_string()))
}

impl Container {
    /// Applies `resources` (fields left out stay as they are; device rules are not
    /// changed) and merges them into the stored config.
    pub fn update(&mut self, resources: &LinuxResources) -> Result<()> {
        let _lock = self.lock()?;
        self.reload()?;
        if self.status() == Status::Stopped {
            return Err(Error::NotRunning {
                id: self.id().into(),
                found: Status::Stopped,
            });
        }
        let cgroup = self.require_cgroup()?;
        cgroup.update(resources)?;
        self.record_resources(resources)
    }

    /// Merges `patch` into `linux.resources` of the config snapshot.
    fn record_resources(&self, patch: &LinuxResources) -> Result<()> {
        let encode = |source| Error::Encode {
            what: "config",
            source,
        };
        let mut spec = serde_json::to_value(self.spec()?).map_err(encode)?;
        let patch = serde_json::to_value(patch).map_err(encode)?;
        if let Some(linux) = spec.get_mut("linux").and_then(|l| l.as_object_mut()) {
            let slot = linux
                .entry("resources")
                .or_insert_with(|| serde_json::json!({}));
            merge(slot, patch);
        }
        let data = serde_json::to_vec(&spec).map_err(encode)?;
        let path = self.dir.join(state::CONFIG_FILE);
        write_atomic(&path, &data).map_err(|e| Error::path(&path, e))
    }
}

/// JSON merge: objects merge key by key, anything else replaces.
fn merge(into: &mut serde_json::Value, patch: serde_json::Value) {
    match (into, patch) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                merge(a.entry(k).or_insert(serde_json::Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use super::merge;
    use serde_json::json;

    #[test]
    fn merge_keeps_unpatched_fields() {
        let mut a = json!({"memory": {"limit": 1, "swap": 2}, "pids": {"limit": 5}});
        merge(&mut a, json!({"memory": {"limit": 3}}));
        assert_eq!(
            a,
            json!({"memory": {"limit": 3, "swap": 2}, "pids": {"limit": 5}})
        );
    }
}
