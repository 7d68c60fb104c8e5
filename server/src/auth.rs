//! Bearer-token checks: every endpoint needs the token when one is configured; a server on a
//! non-loopback address refuses to start without one unless told `--insecure`. Approver
//! credentials (`policy.approvers_file`) are accepted everywhere and alone may answer approvals.

use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use model::ErrorClass;
use std::path::Path;
use std::sync::Arc;

/// The tokens a server accepts.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    /// `None`: no token needed (loopback or `--insecure`).
    pub read_write: Option<String>,
}

impl Tokens {
    /// Reads the first non-empty line of a token file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading token file {}", path.display()))?;
        let token = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .with_context(|| format!("token file {} is empty", path.display()))?;
        Ok(Self {
            read_write: Some(token.to_owned()),
        })
    }
}

/// Constant-time comparison so a token cannot be guessed byte by byte from timings.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = state.tokens.read_write.as_deref() else {
        return next.run(request).await;
    };
    // Health probes stay open so orchestrators can check liveness without the secret.
    if matches!(request.uri().path(), "/healthz" | "/readyz") {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let approver = |token: &str| {
        state
            .remediation
            .as_ref()
            .is_some_and(|r| r.approver(token).is_some())
    };
    match presented.map(str::trim) {
        Some(token) if same(token.as_bytes(), expected.as_bytes()) || approver(token) => {
            next.run(request).await
        }
        Some(_) => unauthorized("bearer token does not match"),
        None => unauthorized("missing Authorization: Bearer <token> header"),
    }
}

fn unauthorized(message: &str) -> Response {
    let mut response = ApiError::new(ErrorClass::InvalidInput, message).into_response();
    *response.status_mut() = axum::http::StatusCode::UNAUTHORIZED;
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        axum::http::HeaderValue::from_static("Bearer"),
    );
    response
}
