//! Integration tests of the datasets crate.

mod loghub_eval;
mod sockshop_eval;
