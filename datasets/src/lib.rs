//! datasets (being built).
