//! The one error type of the library: every variant names the path, digest or reference
//! it is about and the cause, on one line.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: invalid JSON: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid digest {0:?}: want sha256:<64 hex digits>")]
    BadDigest(String),
    #[error("digest mismatch for {expected}: content hashes to {actual}")]
    DigestMismatch { expected: String, actual: String },
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    #[error("blob {0} not in the store")]
    BlobMissing(String),
    #[error("image {0:?} not found")]
    ImageNotFound(String),
    #[error("invalid reference {0:?}: {1}")]
    BadReference(String, String),
    #[error("{path}: unsafe layer entry: {reason}")]
    Unsafe { path: String, reason: String },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("registry {url}: {reason}")]
    Registry { url: String, reason: String },
    #[error("container {0:?} not found")]
    ContainerNotFound(String),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Network(#[from] crate::network::error::NetError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<berth_netlink::NetError> for Error {
    fn from(e: berth_netlink::NetError) -> Self {
        Error::Network(e.into())
    }
}

/// Attach a path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}

impl Error {
    pub(crate) fn invalid(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Invalid {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
    pub(crate) fn json(what: impl Into<String>, source: serde_json::Error) -> Self {
        Error::Json {
            what: what.into(),
            source,
        }
    }
}
