//! datasets (being built).
pub mod loghub;
pub mod replay;
pub mod scenarios;
pub mod sockshop;
