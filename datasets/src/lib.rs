//! datasets (being built).
pub mod scenarios;
