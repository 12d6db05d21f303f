//! Test harness: bundles, runtimes and helpers shared by the integration tests.
