//! Errors of the rca crate: a bad log header format, bad metric input for the ranking, or a
//! failed read of a recorded case. Each reports its class once through `model::Classify`.

use model::{Classify, ErrorClass};

#[derive(Debug, thiserror::Error)]
pub enum RcaError {
    #[error("log format `{format}` does not compile")]
    Format {
        format: String,
        #[source]
        source: regex::Error,
    },
    #[error("log format `{format}` has no <Content> field")]
    FormatWithoutContent { format: String },
    #[error("known-pattern `{name}` does not compile")]
    Pattern {
        name: String,
        #[source]
        source: regex::Error,
    },
    #[error("service `{service}` metric `{metric}` has no samples in the {period} period")]
    EmptySeries {
        service: String,
        metric: String,
        period: &'static str,
    },
}

impl Classify for RcaError {
    fn class(&self) -> ErrorClass {
        match self {
            RcaError::Format { .. }
            | RcaError::FormatWithoutContent { .. }
            | RcaError::Pattern { .. }
            | RcaError::EmptySeries { .. } => ErrorClass::InvalidInput,
        }
    }
}
