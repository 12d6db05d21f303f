//! `linux.sysctl`: written to /proc/sys inside the container's namespaces.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::error::{Error, Result};

pub(crate) fn apply(sysctl: &HashMap<String, String>) -> Result<()> {
    for (key, value) in sysctl {
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        std::fs::write(&path, value)
            .map_err(|e| Error::sys(format!("write sysctl {key}={value}"), e))?;
    }
    Ok(())
}
