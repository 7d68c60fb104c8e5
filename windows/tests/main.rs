//! Integration tests of the window store: one binary, one module per concern.

#![allow(clippy::unwrap_used)]

mod support;

mod aggregates;
mod counters;
mod drops;
mod export;
mod replay;
mod selection;
mod size;
mod sql;
