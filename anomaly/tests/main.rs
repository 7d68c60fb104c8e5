//! Integration tests of the anomaly crate: detectors on synthetic series with known anomalies,
//! and the live path through a real window store.

#![allow(clippy::unwrap_used)]

mod live;
mod multi;
mod support;
mod synthetic;
