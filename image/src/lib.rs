//! berth-image: OCI images for Berth. A content-addressed store (`store`), import and
//! export of OCI layouts (`layout`) and docker-archives (`archive`), layer unpacking with
//! whiteouts (`unpack`), image config to runtime bundle (`bundle`), a registry v2 client
//! (`registry`), and the bookkeeping behind `berth-image run/ps/rm/commit` (`containers`,
//! `volumes`), and container networks (`network`).

pub mod archive;
pub mod build;
pub mod bundle;
pub mod busybox;
pub mod compose;
pub mod compress;
pub mod containers;
pub mod digest;
pub mod error;
pub mod layer;
pub mod layout;
pub mod network;
pub mod oci;
pub mod reference;
pub mod registry;
pub mod scoped;
pub mod sink;
pub mod snapshot;
pub mod store;
pub mod unpack;
pub mod volumes;

mod lock;
mod util;

#[cfg(test)]
mod testutil;

pub use digest::Digest;
pub use error::{Error, Result};
pub use reference::Reference;
pub use store::{Image, Store};
