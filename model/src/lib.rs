//! The shared vocabulary of SRE Smart Bot: what a series, a sample, a log line, an incident
//! candidate and its evidence are, and the incident taxonomy.
//!
//! Every other crate speaks these types, so this crate stays small and depends on serde only.
//! Invariants: a [`LabelSet`] is sorted by name with unique names; timestamps are Unix
//! milliseconds (`i64`); a candidate's evidence names the series, window and values it rests on.

pub mod action;
pub mod candidate;
pub mod duration;
pub mod error;
pub mod human;
pub mod incident;
pub mod labels;
pub mod sample;
pub mod source;
pub mod statement;
pub mod target;
pub mod taxonomy;

pub use action::{
    Action, ActionFamily, Confidence, ObjectRef, PodPhase, ProposedAction, RiskClass, TargetKind,
};
pub use candidate::{
    EventEvidence, Evidence, IncidentCandidate, MetricEvidence, Origin, Scope, Signal,
};
pub use error::{Classify, ErrorClass};
pub use incident::IncidentStatus;
pub use labels::{Label, LabelError, LabelSet, METRIC_NAME};
pub use sample::{MetricMetadata, MetricType, Sample, SeriesRef, SeriesVisitor};
pub use source::{
    DEFAULT_SOURCE, REPLAY_SOURCE, SELF_SOURCE, SourceError, check_source, source_name,
};
pub use statement::StatementKind;
pub use target::{
    OwnerIndex, POD_OWNER_METRIC, REPLICASET_OWNER_METRIC, Target, Workload, WorkloadKind,
    workload_of,
};
pub use taxonomy::{Domain, IncidentType, Severity};
