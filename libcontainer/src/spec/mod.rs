//! Loading a bundle: `config.json` is read and checked once, here; everything after reads
//! the checked [`ContainerConfig`], never raw JSON.

mod validate;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Process, Spec};

use crate::namespaces::NamespacePlan;

#[cfg(feature = "fuzzing")]
pub(crate) use validate::validate as validate_spec_only;
pub(crate) use validate::validate_process;
pub(crate) use validate::{Finding, Findings};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    #[error("chdir {}: {cause}", path.display())]
    Bundle {
        path: PathBuf,
        cause: crate::error::SysError,
    },
    #[error("JSON specification file config.json not found")]
    ConfigMissing { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    /// `field` is the JSON path of the offending value, e.g. `process.args`.
    #[error("{}: {field}: {message}", path.display())]
    Parse {
        path: PathBuf,
        field: String,
        message: String,
    },
    /// `message` names the field (runc's wording where runc has one).
    #[error("{message}")]
    Invalid { field: String, message: String },
    #[error("invalid rootfs: stat {}: {source}", path.display())]
    RootfsMissing {
        path: PathBuf,
        source: crate::error::SysError,
    },
    #[error("invalid rootfs: not an absolute path, or a symlink")]
    RootfsSymlink { path: PathBuf },
    #[error("invalid rootfs: {} is not a directory", path.display())]
    RootfsNotDir { path: PathBuf },
}

impl SpecError {
    /// "<field>: <message>".
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("{field}: {}", message.into());
        SpecError::Invalid { field, message }
    }

    /// The JSON path the error is about (`config.json` for the file as a whole).
    pub(crate) fn field(&self) -> String {
        match self {
            SpecError::Bundle { .. } => "bundle".into(),
            SpecError::ConfigMissing { .. } | SpecError::Read { .. } => "config.json".into(),
            SpecError::Parse { field, .. } if field.is_empty() || field == "." || field == "?" => {
                "config.json".into()
            }
            SpecError::Parse { field, .. } | SpecError::Invalid { field, .. } => field.clone(),
            SpecError::RootfsMissing { .. }
            | SpecError::RootfsSymlink { .. }
            | SpecError::RootfsNotDir { .. } => "root.path".into(),
        }
    }

    /// What is wrong, without the field the text may start with.
    pub(crate) fn problem(&self) -> String {
        match self {
            SpecError::Parse { message, .. } => message.clone(),
            SpecError::Invalid { field, message } => message
                .strip_prefix(field.as_str())
                .and_then(|m| m.strip_prefix(": "))
                .unwrap_or(message)
                .to_string(),
            other => other.to_string(),
        }
    }

    /// runc's exact text for `field`, where clients or users know it.
    pub(crate) fn runc(field: &str, message: &str) -> Self {
        SpecError::Invalid {
            field: field.to_string(),
            message: message.to_string(),
        }
    }
}

/// A bundle's configuration, checked and with paths resolved.
#[derive(Debug, Clone)]
pub(crate) struct ContainerConfig {
    pub spec: Spec,
    /// Absolute path of the bundle directory.
    pub bundle: PathBuf,
    /// Absolute, canonical path of the root filesystem.
    pub rootfs: PathBuf,
    pub namespaces: NamespacePlan,
    /// The config.json text `spec` was parsed from, while `spec` is unchanged: the state
    /// directory's snapshot is this text rather than a re-encoding (which costs as much
    /// as the parse for large configs).
    pub text: Option<Vec<u8>>,
}

impl ContainerConfig {
    /// The container's process; a config without one (the spec lets `create` take it,
    /// `start` then fails) reads as oci-spec's default process, which never runs.
    pub(crate) fn process(&self) -> &Process {
        static NONE: std::sync::OnceLock<Process> = std::sync::OnceLock::new();
        self.spec
            .process()
            .as_ref()
            .unwrap_or_else(|| NONE.get_or_init(Process::default))
    }

    pub(crate) fn has_process(&self) -> bool {
        self.spec.process().is_some()
    }
}

/// Parses JSON text as a `T`, naming the JSON path of the first bad value.
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    path: &Path,
    data: &[u8],
) -> Result<T, SpecError> {
    let mut de = serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let message = e.into_inner().to_string();
        SpecError::Parse {
            path: path.to_path_buf(),
            field,
            message,
        }
    })
}

/// Reads `<bundle>/config.json` as a spec, without further checks (for `berth spec`-like
/// callers and tests).
pub fn load_bundle_config(bundle: &Path) -> Result<Spec, SpecError> {
    read_bundle_config(bundle).map(|(spec, _)| spec)
}

/// The spec and the text it was parsed from.
fn read_bundle_config(bundle: &Path) -> Result<(Spec, Vec<u8>), SpecError> {
    let bundle_abs = absolute(bundle)?;
    let meta = fs::metadata(&bundle_abs).map_err(|e| SpecError::Bundle {
        path: bundle_abs.clone(),
        cause: e.into(),
    })?;
    if !meta.is_dir() {
        return Err(SpecError::Bundle {
            path: bundle_abs,
            cause: crate::error::SysError(nix::errno::Errno::ENOTDIR),
        });
    }
    let path = bundle_abs.join("config.json");
    let data = match fs::read(&path) {
        Ok(data) => data,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(SpecError::ConfigMissing { path })
        }
        Err(source) => return Err(SpecError::Read { path, source }),
    };
    let spec = parse_json(&path, &data)?;
    Ok((spec, data))
}

/// Parses and checks a process.json (`berth exec --process`).
pub fn parse_process(path: &Path, data: &[u8]) -> Result<Process, SpecError> {
    // runc reads a process without `user` as uid 0, gid 0 (Go's zero value); oci-spec
    // requires the field, so it is filled in before the checked parse.
    let mut value: serde_json::Value = parse_json(path, data)?;
    if let Some(obj) = value.as_object_mut() {
        obj.entry("user")
            .or_insert_with(|| serde_json::json!({"uid": 0, "gid": 0}));
    }
    let text = serde_json::to_vec(&value).map_err(|e| SpecError::Parse {
        path: path.to_path_buf(),
        field: ".".into(),
        message: e.to_string(),
    })?;
    let process: Process = parse_json(path, &text)?;
    validate_process(&process)?;
    Ok(process)
}

/// Loads and checks a bundle for `create`/`run`.
pub(crate) fn load(bundle: &Path) -> Result<ContainerConfig, SpecError> {
    let (spec, text) = read_bundle_config(bundle)?;
    let bundle = absolute(bundle)?;
    validate::validate(&spec)?;
    let rootfs = rootfs_path(&spec, &bundle)
        .ok_or_else(|| SpecError::invalid("root", "root must be set"))?;
    check_rootfs(&rootfs)?;
    let namespaces = NamespacePlan::from_spec(&spec)?;
    Ok(ContainerConfig {
        spec,
        bundle,
        rootfs,
        namespaces,
        text: Some(text),
    })
}

/// What `berth check` learns from the bundle alone: every problem `load` would stop at
/// the first of, and as much of the bundle as could be read.
#[derive(Debug, Default)]
pub(crate) struct Linted {
    pub spec: Option<Spec>,
    /// The absolute bundle path, once known.
    pub bundle: Option<PathBuf>,
    /// The rootfs, when root.path names a usable directory.
    pub rootfs: Option<PathBuf>,
    pub findings: Vec<Finding>,
}

/// The same steps as [`load`], collecting every problem instead of stopping.
pub(crate) fn lint(bundle: &Path) -> Linted {
    let mut out = Linted::default();
    let mut findings = Findings::default();
    let spec = match read_bundle_config(bundle) {
        Ok((spec, _)) => spec,
        Err(e) => {
            let hint = match &e {
                SpecError::Bundle { .. } => "pass the bundle directory with --bundle",
                SpecError::ConfigMissing { .. } => "write one with `berth spec`",
                SpecError::Parse { .. } => "fix the value at this path (see the runtime spec)",
                _ => "make config.json readable",
            };
            findings.push(e, hint);
            out.findings = findings.into_vec();
            return out;
        }
    };
    let bundle = absolute(bundle).unwrap_or_else(|_| bundle.to_path_buf());
    validate::collect(&spec, &mut findings);
    if let Some(rootfs) = rootfs_path(&spec, &bundle) {
        if !spec
            .root()
            .as_ref()
            .is_some_and(|r| r.path().as_os_str().is_empty())
        {
            match check_rootfs(&rootfs) {
                Ok(()) => out.rootfs = Some(rootfs),
                Err(e) => findings.push(
                    e,
                    "a directory (no symlinks on the way) holding the container's files",
                ),
            }
        }
    }
    out.findings = findings.into_vec();
    out.spec = Some(spec);
    out.bundle = Some(bundle);
    out
}

/// The rootfs `root.path` names. A relative root is resolved from the bundle's real path,
/// as runc does after its chdir into the bundle: a bundle reached through a symlink is
/// fine.
fn rootfs_path(spec: &Spec, bundle: &Path) -> Option<PathBuf> {
    let root = spec.root().as_ref()?;
    Some(clean(&if root.path().is_absolute() {
        root.path().clone()
    } else {
        fs::canonicalize(bundle)
            .unwrap_or_else(|_| bundle.to_path_buf())
            .join(root.path())
    }))
}

/// runc's rule: the rootfs must exist and its path must contain no symlink, so that what
/// the runtime checks is what the container gets.
fn check_rootfs(rootfs: &Path) -> Result<(), SpecError> {
    let meta = fs::metadata(rootfs).map_err(|e| SpecError::RootfsMissing {
        path: rootfs.to_path_buf(),
        source: e.into(),
    })?;
    let resolved = fs::canonicalize(rootfs).map_err(|e| SpecError::RootfsMissing {
        path: rootfs.to_path_buf(),
        source: e.into(),
    })?;
    if resolved != rootfs {
        return Err(SpecError::RootfsSymlink {
            path: rootfs.to_path_buf(),
        });
    }
    if !meta.is_dir() {
        return Err(SpecError::RootfsNotDir {
            path: rootfs.to_path_buf(),
        });
    }
    Ok(())
}

fn absolute(path: &Path) -> Result<PathBuf, SpecError> {
    if path.is_absolute() {
        return Ok(clean(path));
    }
    let cwd = std::env::current_dir().map_err(|e| SpecError::Bundle {
        path: path.to_path_buf(),
        cause: e.into(),
    })?;
    Ok(clean(&cwd.join(path)))
}

/// Lexically normalises an absolute path (`.` dropped, `..` pops), like Go's
/// `filepath.Clean`, which is how runc records the bundle path.
pub(crate) fn clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod process_file_tests {
    use super::*;

    #[test]
    fn a_process_file_without_user_is_accepted() {
        let p = parse_process(Path::new("p.json"), br#"{"args":["sh"],"cwd":"/"}"#);
        assert!(p.is_ok(), "{p:?}");
    }
}
