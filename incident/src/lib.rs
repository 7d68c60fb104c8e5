//! Incident correlation, lifecycle and the durable incident ledger.
//!
//! Detector findings ([`model::IncidentCandidate`]) and Alertmanager alerts come in; a few
//! incidents with evidence and a timeline come out. The [`Correlator`] is pure and works in
//! event time, so replaying recorded candidates gives exactly the incidents live ingest gave;
//! the [`Ledger`] stores what it decides in SQLite (default) or PostgreSQL with one schema;
//! the [`IncidentEngine`] ties them together.
//!
//! Invariants:
//! - two candidates share an incident exactly when a chain of candidates links them, each
//!   link being shared topology (same workload in a namespace, a node problem and anything on
//!   that node, a namespace problem and anything in it) within the correlation window; so
//!   with no tick in between, the order candidates arrive in does not change the incidents;
//! - a finding's signature hashes type, scope, namespace and target only, never free text;
//! - a change is acknowledged only after the ledger committed it (WAL, synchronous=FULL).
//!
//! Depends on `model` only among the project's crates.

pub mod alertmanager;
pub mod config;
pub mod correlator;
pub mod engine;
pub mod error;
pub mod findings;
pub mod ledger;
pub mod operator_ledger;
pub mod record;
pub mod signature;
pub mod snapshot;
pub mod workspace;

pub use alertmanager::{candidates_from_alertmanager, is_healthy_signal};
pub use config::CorrelatorConfig;
pub use correlator::{Change, Correlator};
pub use engine::IncidentEngine;
pub use error::Error;
pub use findings::candidates_from_findings;
pub use ledger::{Backend, Ledger};
pub use model::Target;
pub use record::{
    EvidenceItem, EvidenceRecord, Finding, Incident, IncidentDetail, IncidentFilter,
    IncidentSummary, TimelineEvent, TimelineKind, domain_from_name, rfc3339, severity_from_name,
};
pub use signature::signature;
pub use snapshot::{Snapshot, SnapshotHead};
pub use workspace::{
    Feedback, IncidentPage, IncidentQuery, RuleSuggestion, SuggestionStatus, Suppression,
    SuppressionOrigin, Verdict, WindowTime,
};
