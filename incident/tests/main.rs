//! Integration tests of the incident crate: one binary, one module per concern.

#![allow(clippy::unwrap_used)]

mod alertmanager;
mod common;
mod crash;
mod ledger;
mod postgres;
mod properties;
mod workspace;
