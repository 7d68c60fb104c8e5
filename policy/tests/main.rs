#![allow(clippy::unwrap_used)]
//! Integration tests of the policy crate: files, decisions, approvals, audit and simulation.
//! One binary so linking stays cheap.

mod approval;
mod audit;
mod decide;
mod file;
mod simulate;
