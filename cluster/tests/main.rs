#![allow(clippy::unwrap_used)]
//! Integration tests of the cluster crate: the executor against a loopback fake API server.

mod executor;
mod fake_k8s;
