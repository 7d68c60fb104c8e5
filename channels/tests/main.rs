//! Integration tests of the channels crate.
#![allow(clippy::unwrap_used)]
