//! Event-time rolling windows over compressed per-series storage: the store every sample
//! lands in, Prometheus selectors, aggregates over trailing 1m/5m/15m (or any) windows,
//! group-by views, Arrow export and DataFusion SQL.
//!
//! Why it is built this way: detectors need the same windows whether data arrives live or is
//! replayed from a recording, so windows are defined by sample timestamps only, never the
//! wall clock; and a platform sends millions of series, so a series costs a few hundred bytes
//! (interned labels, delta-of-delta timestamps, XOR floats) and a known series is found with
//! one hash of its label bytes and no allocation.
//!
//! Invariants:
//! - the watermark is the newest timestamp seen minus the allowed lateness; a sample older than
//!   it, or than the retention, or at a timestamp its series already holds, is dropped and
//!   counted by reason, so the stored data, and every window over it, is the same for any
//!   arrival order within the lateness;
//! - a window `(at − span, at]` is left-open, like Prometheus range selectors;
//! - no query holds a lock while it aggregates, and no lock is taken on a symbol table while a
//!   shard lock is wanted (shard, then symbols: one order everywhere).

mod aggregate;
mod chunk;
mod export;
mod selector;
mod sources;
pub mod sql;
mod store;
mod symbols;

pub use aggregate::{Aggregates, WindowResult, WindowRow, WindowSpan, aggregate};
pub use selector::{MatchOp, Matcher, Selector};
pub use sources::{SourceRefused, Sources, SourcesAppender};
pub use store::{
    AppendOutcome, Appender, DropReason, SeriesBudget, SeriesInfo, Store, StoreConfig, StoreStats,
    WindowQuery,
};

use model::{Classify, ErrorClass};

/// What is wrong with a selector's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorProblem {
    #[error("{name:?} is not a metric name")]
    MetricName { name: String },
    #[error("unbalanced braces")]
    Braces,
    #[error("expected a label name at {at:?}")]
    LabelName { at: String },
    #[error("label {label}: unknown operator {operator:?} (use =, !=, =~, !~)")]
    Operator { label: String, operator: String },
    #[error("label {label}: value must be quoted")]
    Unquoted { label: String },
    #[error("label {label}: unterminated value")]
    Unterminated { label: String },
    #[error("needs a metric name or at least one matcher")]
    Empty,
}

/// Why a query or a selector was refused.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error("selector {selector:?}: {problem}")]
    Selector {
        selector: String,
        problem: SelectorProblem,
    },
    #[error("selector {selector:?}: bad regex {pattern:?}")]
    Regex {
        selector: String,
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error("window {text:?}: {reason}")]
    Span { text: String, reason: &'static str },
    #[error("building the Arrow {table} batch")]
    Arrow {
        table: &'static str,
        #[source]
        source: datafusion::arrow::error::ArrowError,
    },
}

impl Classify for WindowError {
    fn class(&self) -> ErrorClass {
        match self {
            WindowError::Arrow { .. } => ErrorClass::Internal,
            WindowError::Selector { .. } | WindowError::Regex { .. } | WindowError::Span { .. } => {
                ErrorClass::InvalidInput
            }
        }
    }
}
