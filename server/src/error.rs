//! One mapping from error classes to HTTP answers: status, Prometheus-style JSON body, and
//! `Retry-After` where the caller should come back.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::{Classify, ErrorClass};
use std::fmt::Display;

/// An error answered to an HTTP caller.
#[derive(Debug)]
pub struct ApiError {
    pub class: ErrorClass,
    pub message: String,
    /// For a 403: the least role the operation needs (`required_role` in the body).
    pub required_role: Option<app::Role>,
    /// `refusal.code` in the body, where callers tell refusals apart by it.
    pub refusal_code: Option<&'static str>,
}

impl ApiError {
    pub fn new(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            message: message.into(),
            required_role: None,
            refusal_code: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorClass::InvalidInput, message)
    }

    /// Any classified error, with its whole `source()` chain in the message.
    pub fn from_error<E: Classify + std::error::Error>(error: &E) -> Self {
        Self::new(error.class(), chain(error))
    }

    /// A refusal by [`app::authorize`] or an unknown token: 401 or 403 with the role needed.
    pub fn from_auth(error: &app::AuthError) -> Self {
        Self {
            required_role: error.required_role(),
            ..Self::from_error(error)
        }
    }

    /// An application-layer error: 401/403 with the role needed for refusals by role, else
    /// its class.
    pub fn from_app(error: &app::AppError) -> Self {
        match error {
            app::AppError::Auth(auth) => Self::from_auth(auth),
            other => Self::from_error(other),
        }
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.class)
    }
}

/// The HTTP status for an error class.
pub fn status_of(class: ErrorClass) -> StatusCode {
    match class {
        ErrorClass::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorClass::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorClass::TimedOut => StatusCode::REQUEST_TIMEOUT,
        ErrorClass::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorClass::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        ErrorClass::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorClass::Forbidden => StatusCode::FORBIDDEN,
        ErrorClass::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

pub use model::error::chain;

fn error_type(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::InvalidInput
        | ErrorClass::TooLarge
        | ErrorClass::TimedOut
        | ErrorClass::UnsupportedMediaType => "bad_data",
        ErrorClass::RateLimited { .. } | ErrorClass::Unavailable { .. } => "unavailable",
        ErrorClass::NotFound => "not_found",
        ErrorClass::Unauthenticated => "unauthorized",
        ErrorClass::Forbidden => "forbidden",
        ErrorClass::Internal => "internal",
    }
}

impl Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "status": "error",
            "errorType": error_type(self.class),
            "error": self.message,
        });
        if let Some(role) = self.required_role {
            body["required_role"] = role.as_str().into();
        }
        if let Some(code) = self.refusal_code {
            body["refusal"] = serde_json::json!({ "code": code });
        }
        let mut response = (self.status(), axum::Json(body)).into_response();
        if let ErrorClass::RateLimited { retry_after_secs }
        | ErrorClass::Unavailable { retry_after_secs } = self.class
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if self.class == ErrorClass::Unauthenticated {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<app::AppError> for ApiError {
    fn from(error: app::AppError) -> Self {
        Self::from_app(&error)
    }
}
