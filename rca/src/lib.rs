//! rca (being built).
