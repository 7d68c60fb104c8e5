//! Event-time rolling windows over per-series storage, with Prometheus selectors, aggregates
//! over trailing windows, group-by views, Arrow export and DataFusion SQL.
//!
//! Invariants: windows are defined by sample timestamps, never the wall clock; the watermark
//! is the newest timestamp seen minus the allowed lateness, and samples older than it are
//! dropped and counted by reason, so replaying a recording gives the windows living through it
//! gave.

mod aggregate;
mod selector;
pub mod sql;
mod store;

pub use aggregate::{Aggregates, WindowResult, WindowRow, WindowSpan, aggregate};
pub use selector::{Matcher, MatchOp, Selector};
pub use store::{AppendOutcome, Appender, DropReason, SeriesInfo, Store, StoreConfig, StoreStats, WindowQuery};

use model::{Classify, ErrorClass};

/// Why a query or a selector was refused.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error("selector {selector:?}: {reason}")]
    Selector { selector: String, reason: String },
    #[error("selector {selector:?}: bad regex {pattern:?}")]
    Regex {
        selector: String,
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error("window {text:?}: {reason}")]
    Span { text: String, reason: &'static str },
    #[error("building Arrow batch")]
    Arrow {
        #[source]
        source: datafusion::arrow::error::ArrowError,
    },
}

impl Classify for WindowError {
    fn class(&self) -> ErrorClass {
        match self {
            WindowError::Arrow { .. } => ErrorClass::Internal,
            _ => ErrorClass::InvalidInput,
        }
    }
}
