//! Integration tests of the `srebot` server: HTTP API in-process and over sockets, bad input,
//! overload, and end to end with Debian's real Prometheus sending remote_write.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod audit_export;
mod bounds;
mod channels;
mod cli;
mod cluster_signals;
mod common;
mod deploy;
mod event_time;
// The cluster crate's loopback Kubernetes API, shared rather than copied.
#[allow(dead_code)]
#[path = "../../cluster/tests/fake_k8s.rs"]
mod fake_k8s;
mod http_api;
mod incidents_e2e;
mod ladders;
mod logs;
mod otlp;
mod overload;
mod prometheus_e2e;
mod record_loop;
mod remediation;
mod roles;
mod security;
// The cluster crate's test helpers (moving recorded events to the present, ...), shared.
#[allow(dead_code)]
#[path = "../../cluster/tests/support.rs"]
mod support;
mod tls;
mod tools;
mod topology_rca;
mod ui_browser;
mod ui_pages;
