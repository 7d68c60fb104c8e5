//! Integration tests of the remote_write decoders, in one binary.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

mod common;
mod fixtures;
mod histograms;
mod loki_push;
mod loki_support;
mod refusals;
mod roundtrip;
mod v2;
