//! Registry v2 client: pull and push images between a registry and the store.
//! `http` is the transport (`tls` its rustls layer), `auth` answers challenges, `client`
//! speaks the API.

pub mod auth;
pub mod client;
pub mod http;
mod progress;
pub mod tls;

pub use client::{pull, push, Options};
