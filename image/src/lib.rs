//! berth-image: OCI images, Dockerfile builds and container networks (not implemented yet).
