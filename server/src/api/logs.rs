//! `POST /loki/api/v1/push`: Loki's push protocol (JSON or protobuf + snappy). Every line is
//! mined into a template by the log store (`rca::logstore`), and per stream and template a
//! `srebot_log_lines_total` counter is appended to the windows at the lines' event time.
//! Pushes pass the same admission as remote_write (in-flight slots, memory budget: 503 with
//! `Retry-After`), and mining runs on the blocking pool, never on the async workers.
//! `POST /v1/metrics` (OTLP/HTTP) is here too: pushed telemetry under the same admission.

use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use std::sync::Arc;

/// Admission of a push, as remote_write's: the tenant it names, an in-flight slot (503 with
/// `Retry-After` when none is free) and the memory budget.
fn admit<'a>(
    state: &'a AppState,
    headers: &HeaderMap,
) -> Result<(String, tokio::sync::SemaphorePermit<'a>), ApiError> {
    let ingest = &state.app.config.ingest;
    let retry_after_secs = ingest.retry_after_secs;
    let tenant = super::tenant(headers)?;
    let permit = state.ingest_slots.try_acquire().map_err(|_| {
        ApiError::new(
            model::ErrorClass::Unavailable { retry_after_secs },
            format!(
                "ingest saturated: {} pushes already being decoded; retry after {retry_after_secs}s",
                ingest.max_inflight
            ),
        )
    })?;
    state.over_memory_budget(&tenant)?;
    Ok((tenant, permit))
}

/// `POST /loki/api/v1/push`: 204 once every line is counted in the windows.
pub async fn push(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (tenant, _permit) = admit(&state, &headers)?;
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let batch = ingest::loki::decode_push(
        text(header::CONTENT_TYPE),
        text(header::CONTENT_ENCODING),
        &body,
        state.app.config.ingest.max_decoded_bytes,
    )
    .map_err(|e| ApiError::from_error(&e))?;

    // Mining and counting, then the counts go to the windows at the lines' event time.
    let outcome = state
        .app
        .ingest_logs(&tenant, batch)
        .await
        .map_err(|e| ApiError::from_app(&e))?;
    // The lines themselves are in the log store now; counts the windows could not hold (too
    // old for them, say) are counted by reason in `srebot_samples_dropped_total`, so the push
    // is not refused for them and a retry would only count the lines twice.
    if let Some(refusal) = outcome.refusal() {
        return Err(ApiError::bad_request(refusal));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /v1/metrics`: OTLP/HTTP metrics (protobuf or JSON, gzip allowed) into the tenant's
/// source, named as Prometheus names them. 200 with `ExportMetricsServiceResponse` (its
/// `partial_success` counting the points that cannot be kept, and why); 400 naming what is
/// wrong with a body; 503 with `Retry-After` when ingest is saturated.
pub async fn otlp_metrics(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (tenant, _permit) = admit(&state, &headers)?;
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let (format, batch) = ingest::otlp::decode(
        text(header::CONTENT_TYPE),
        text(header::CONTENT_ENCODING),
        &body,
        state.app.config.ingest.max_decoded_bytes,
    )
    .map_err(|e| ApiError::from_error(&e))?;
    let outcome = state.app.ingest_otlp(&tenant, &batch);
    if let Some(refusal) = outcome.refusal() {
        return Err(ApiError::bad_request(refusal));
    }
    let content_type = match format {
        ingest::otlp::OtlpFormat::Protobuf => "application/x-protobuf",
        ingest::otlp::OtlpFormat::Json => "application/json",
    };
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, content_type)],
        ingest::otlp::response(format, &batch),
    )
        .into_response())
}
