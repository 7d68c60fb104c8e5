//! windows (being built).
