//! datasets (being built).
pub mod loghub;
pub mod scenarios;
pub mod sockshop;
