//! datasets (being built).
pub mod loghub;
pub mod nab;
pub mod plot;
pub mod rca_eval;
pub mod replay;
pub mod scenarios;
pub mod sockshop;
