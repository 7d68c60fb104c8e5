//! Integration tests of the datasets crate.

#![allow(clippy::unwrap_used)]

mod family_eval;
mod judgment;
mod loghub_eval;
mod nab_eval;
mod rca_scenarios;
mod sockshop_eval;
