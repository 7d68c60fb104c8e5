//! The application layer of SRE Smart Bot: who may do what, and the operations every operator
//! surface (HTTP API, workspace, chat channels, MCP) calls instead of re-implementing them.
//!
//! [`App`] owns the running parts (windows, the detection pipeline, the incident ledger, logs,
//! remediation under policy, the clusters' watches and dependency probes) and offers every query and command as a method taking the
//! caller; surfaces authenticate, then call it, and map [`AppError`] to their own answers.
//!
//! Invariants: roles are checked here and nowhere else ([`authorize`] against the
//! [`Operation`] table, called first by every [`App`] method); the live path builds its inputs
//! with product code only (no evaluation crate); the demo scenarios `serve --demo` plays are
//! generated here, and the evaluation crate uses them from here (with the microservice
//! families whose faults travel up a call graph).

pub mod ask;
pub mod audit_key;
pub mod auth;
pub mod changes;
pub mod cluster_signals;
pub mod config;
pub mod demo;
pub mod demo_run;
pub mod detection;
pub mod doctor;
pub mod investigate;
pub mod ladder;
pub mod live_rca;
pub mod loki_pull;
pub mod microservices;
pub mod ops;
pub mod pipeline;
pub mod rca_input;
pub mod remediation;
pub mod rules_edit;
pub mod service;
pub mod simulate;
pub mod stories;
pub mod suggest;
pub mod tools;
pub mod views;
pub mod workspace;

pub use auth::{AuthError, Caller, ChatIdentity, Identities, Role, authorize};
pub use ops::Operation;
pub use rca_input::draft_input;
pub use service::{App, AppError, OpenError};
pub use tools::{Tool, ToolAnswer, ToolSpec};
