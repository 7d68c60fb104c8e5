//! How an error should be answered: one classification every crate's error type reports, so
//! the server maps errors to HTTP status codes and retry hints in exactly one place.

/// What kind of failure an error is, from the caller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The request or input is wrong; retrying it unchanged will fail again (HTTP 400).
    InvalidInput,
    /// The request body is over a configured limit (HTTP 413).
    TooLarge,
    /// The request body did not arrive within the time allowed (HTTP 408).
    TimedOut,
    /// Content type or encoding not supported (HTTP 415).
    UnsupportedMediaType,
    /// A limit was hit; retry after the given seconds (HTTP 429).
    RateLimited { retry_after_secs: u32 },
    /// Saturated or not ready; retry after the given seconds (HTTP 503).
    Unavailable { retry_after_secs: u32 },
    /// Not found (HTTP 404).
    NotFound,
    /// No credential, or one nobody issued (HTTP 401).
    Unauthenticated,
    /// A known caller whose role is below what the operation needs (HTTP 403).
    Forbidden,
    /// A bug or an environment failure on our side (HTTP 500).
    Internal,
}

impl ErrorClass {
    /// Whether the same request may succeed later.
    pub fn retryable(self) -> bool {
        matches!(
            self,
            ErrorClass::RateLimited { .. } | ErrorClass::Unavailable { .. } | ErrorClass::Internal
        )
    }
}

/// Implemented by every crate's error enum.
pub trait Classify {
    fn class(&self) -> ErrorClass;
}

impl Classify for std::convert::Infallible {
    fn class(&self) -> ErrorClass {
        match *self {}
    }
}

/// `error: cause: cause` from an error and its sources, each cause once.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
