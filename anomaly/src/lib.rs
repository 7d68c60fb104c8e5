//! anomaly (being built).
