//! The application layer of SRE Smart Bot: who may do what, and the operations every operator
//! surface (HTTP API, workspace, chat channels, MCP) calls instead of re-implementing them.
//!
//! Invariants: roles are checked here and nowhere else ([`authorize`] against the
//! [`Operation`] table); the live path builds its inputs with product code only (no
//! evaluation crate); the demo scenarios `serve --demo` plays are generated here, and the
//! evaluation crate uses them from here.

pub mod auth;
pub mod changes;
pub mod demo;
pub mod live_rca;
pub mod ops;
pub mod rca_input;

pub use auth::{AuthError, Caller, Identities, Role, authorize};
pub use ops::Operation;
pub use rca_input::draft_input;
