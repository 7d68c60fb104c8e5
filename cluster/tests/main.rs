#![allow(clippy::unwrap_used)]
//! Integration tests of the cluster crate against a loopback fake API server: the executor's
//! writes, the watches and the signals they raise, drift, and dependency probes against real
//! servers.

mod deps;
mod drift;
mod executor;
// Shared with the server's tests, which use parts these do not.
#[allow(dead_code)]
mod fake_k8s;
mod signals;
mod support;
mod watch;
