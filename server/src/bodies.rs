//! Bounded request bodies: every route reads at most its limit — `[ingest] max_body_bytes` on
//! the ingest routes, `[server] max_request_bytes` on every other — within `[server] body_timeout`.
//!
//! A declared `Content-Length` over the limit is refused before a byte is read; a body that
//! grows past it is refused as soon as it does (413), a slow one when its time is up (408), so
//! no route ever buffers more than its limit. remote_write streams its body itself, with the
//! same limit and timeout, straight into the decoder.

use crate::app::AppState;
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use model::ErrorClass;
use std::sync::Arc;
use std::time::Duration;

/// Routes whose bodies are pushed telemetry: they keep the `[ingest]` limit.
const INGEST_ROUTES: [&str; 4] = [
    "/loki/api/v1/push",
    "/api/v1/alerts/alertmanager",
    "/api/v1/findings",
    "/v1/metrics",
];

/// The route remote_write arrives on; it reads its own body (see [`read_limited`]).
pub const REMOTE_WRITE: &str = "/api/v1/write";

/// Reads a whole body of at most `limit` bytes within `timeout`: 413 naming `key` past the
/// limit, 408 when it is too slow.
pub async fn read_limited(
    body: Body,
    declared: Option<usize>,
    limit: usize,
    key: &str,
    timeout: Duration,
) -> Result<bytes::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            ErrorClass::TooLarge,
            format!("request body is over the limit of {limit} bytes ({key})"),
        )
    };
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let read = http_body_util::Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, read).await {
        Err(_elapsed) => Err(ApiError::new(
            ErrorClass::TimedOut,
            format!(
                "request body did not arrive within {} ms (server.body_timeout)",
                timeout.as_millis()
            ),
        )),
        Ok(Err(error))
            if error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Ok(Err(error)) => Err(ApiError::bad_request(format!(
            "reading request body: {error}"
        ))),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// The declared `Content-Length` of a request, if any.
pub fn declared_length(headers: &axum::http::HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Reads every body (but remote_write's) within its route's limit and the timeout, then hands
/// the request on with the body in memory.
pub async fn bound(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    if route == REMOTE_WRITE {
        return next.run(request).await;
    }
    let config = &state.app.config;
    let (limit, key) = if INGEST_ROUTES.contains(&route.as_str()) {
        (config.ingest.max_body_bytes, "ingest.max_body_bytes")
    } else {
        (config.server.max_request_bytes, "server.max_request_bytes")
    };
    let declared = declared_length(request.headers());
    let (parts, body) = request.into_parts();
    match read_limited(body, declared, limit, key, config.server.body_timeout).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(error) => error.into_response(),
    }
}
