//! Errors of the anomaly crate: unknown detectors, bad parameters and bad configuration.
//! Every variant names what was wrong so the caller can fix its config.

use model::{Classify, ErrorClass};

/// What can go wrong when building detectors from names, parameters or configuration.
#[derive(Debug, thiserror::Error)]
pub enum AnomalyError {
    /// No detector is registered under this name.
    #[error("unknown detector `{name}` (known: {known})")]
    UnknownDetector { name: String, known: &'static str },
    /// A parameter the detector does not take.
    #[error("detector `{detector}` has no parameter `{param}`")]
    UnknownParam {
        detector: &'static str,
        param: String,
    },
    /// A parameter outside its allowed range.
    #[error("detector `{detector}` parameter `{param}` = {value} is invalid: {reason}")]
    InvalidParam {
        detector: &'static str,
        param: &'static str,
        value: f64,
        reason: &'static str,
    },
    /// A metric-family pattern in the configuration does not compile.
    #[error("metric family pattern `{pattern}` is invalid")]
    BadPattern {
        pattern: String,
        #[source]
        source: regex::Error,
    },
    /// The multi-metric model was fed a feature vector of the wrong width.
    #[error("multi-metric model expects {expected} features, got {got}")]
    FeatureWidth { expected: usize, got: usize },
}

impl Classify for AnomalyError {
    fn class(&self) -> ErrorClass {
        ErrorClass::InvalidInput
    }
}
