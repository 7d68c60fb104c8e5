//! The `srebot` server: composition only. It wires the data flow's crates (ingest → windows →
//! detectors → ...) into an HTTP API, background loops and commands, and holds no analytics;
//! who may call what is the application layer's (`app`) decision, asked once per request.
//!
//! Invariants: a 2xx to a writer means its samples are in the windows; every error reaches the
//! caller through [`error::ApiError`], mapped once from [`model::ErrorClass`].

pub mod api;
pub mod app;
pub mod audit_export;
pub mod auth;
pub mod bodies;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod metrics;
pub mod policy_cmd;
pub mod replay;
pub mod scrape;
pub mod serve;
pub mod sql_client;
pub mod tls;
pub mod ui;
