//! Named and anonymous volumes under `ROOT/volumes/NAME/_data`, and `-v` specs.

use std::fs;
use std::path::{Path, PathBuf};

use crate::bundle::BindMount;
use crate::error::{Error, IoContext, Result};
use crate::store::Store;

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        && !name.starts_with(['.', '-']);
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "invalid volume name {name:?}: want [A-Za-z0-9][A-Za-z0-9_.-]*"
        )))
    }
}

pub fn data_dir(store: &Store, name: &str) -> PathBuf {
    store.root().join("volumes").join(name).join("_data")
}

/// Create (or reuse) a named volume; returns its data directory.
pub fn create(store: &Store, name: &str) -> Result<PathBuf> {
    check_name(name)?;
    let d = data_dir(store, name);
    fs::create_dir_all(&d).at(&d)?;
    Ok(d)
}

/// A new anonymous volume (a random 64-hex name, as Docker's).
pub fn create_anonymous(store: &Store) -> Result<(String, PathBuf)> {
    let name = crate::util::random_hex(32);
    let d = create(store, &name)?;
    Ok((name, d))
}

pub fn list(store: &Store) -> Result<Vec<String>> {
    let dir = store.root().join("volumes");
    let mut v: Vec<String> = fs::read_dir(&dir)
        .at(&dir)?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    Ok(v)
}

pub fn remove(store: &Store, name: &str) -> Result<()> {
    check_name(name)?;
    let d = store.root().join("volumes").join(name);
    if !d.exists() {
        return Err(Error::invalid(format!("volume {name}"), "no such volume"));
    }
    fs::remove_dir_all(&d).at(&d)
}

/// `-v SRC:DST[:ro|:rw]`: SRC absolute is a host path, otherwise a named volume (created
/// when missing). Returns the bind and, for a named volume, its name.
pub fn parse_spec(store: &Store, spec: &str) -> Result<(BindMount, Option<String>)> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, "rw"),
        [s, d, m] => (*s, *d, *m),
        _ => {
            return Err(Error::Usage(format!(
                "invalid volume spec {spec:?}: want SRC:DST[:ro|rw]"
            )))
        }
    };
    if !dst.starts_with('/') {
        return Err(Error::Usage(format!(
            "invalid volume spec {spec:?}: destination must be absolute"
        )));
    }
    let readonly = match mode {
        "ro" => true,
        "rw" => false,
        m => {
            return Err(Error::Usage(format!(
                "invalid volume spec {spec:?}: unknown mode {m:?}"
            )))
        }
    };
    let (source, name) = if src.starts_with('/') {
        let p = Path::new(src);
        if !p.exists() {
            return Err(Error::invalid(src, "bind source does not exist"));
        }
        (p.to_path_buf(), None)
    } else {
        (create(store, src)?, Some(src.to_string()))
    };
    Ok((
        BindMount {
            source: source.display().to_string(),
            destination: dst.to_string(),
            readonly,
        },
        name,
    ))
}
