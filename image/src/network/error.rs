//! Network errors: one line each, naming the operation and the cause.

use std::io;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    #[error("netlink {op}: {source}")]
    Netlink {
        op: String,
        #[source]
        source: io::Error,
    },
    #[error("netns {op}: {source}")]
    Netns {
        op: String,
        #[source]
        source: io::Error,
    },
    #[error("nft: {0}")]
    Nft(String),
    #[error("network {0:?} not found")]
    NotFound(String),
    #[error("network {0:?} already exists")]
    Exists(String),
    #[error("network {name:?}: no free address left in {subnet}")]
    Exhausted { name: String, subnet: String },
    #[error("network {name:?} has containers attached: {containers}")]
    InUse { name: String, containers: String },
    #[error("{0}")]
    Invalid(String),
}

impl From<berth_netlink::NetError> for NetError {
    fn from(e: berth_netlink::NetError) -> Self {
        NetError::Netlink {
            op: e.op().to_string(),
            source: e.into_source(),
        }
    }
}

impl NetError {
    pub(crate) fn netns(op: impl Into<String>, source: impl Into<io::Error>) -> Self {
        NetError::Netns {
            op: op.into(),
            source: source.into(),
        }
    }
}
