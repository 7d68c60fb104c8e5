//! `POST /api/v1/write`: Prometheus remote_write 1.0 and 2.0 into the windows.
//! A 2xx means samples are in the windows (2.0's `-Written` headers say how many); a request of
//! which nothing could be stored answers 400 naming why; saturation 503 + Retry-After
//! (Prometheus retries 5xx always, 429 only when told to), bad input 4xx naming the problem.

use crate::app::AppState;
use crate::error::{ApiError, status_of};
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ingest::{Decoder, Protocol};
use model::ErrorClass;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::Instant;

thread_local! {
    /// One decoder per worker thread, so its buffers are reused request after request.
    static DECODER: RefCell<Decoder> = RefCell::new(Decoder::default());
}

const SAMPLES_WRITTEN: HeaderName =
    HeaderName::from_static("x-prometheus-remote-write-samples-written");
const HISTOGRAMS_WRITTEN: HeaderName =
    HeaderName::from_static("x-prometheus-remote-write-histograms-written");
const EXEMPLARS_WRITTEN: HeaderName =
    HeaderName::from_static("x-prometheus-remote-write-exemplars-written");

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Why a write was refused, for `srebot_write_requests_rejected_total{reason}`.
fn reason_of(class: ErrorClass) -> &'static str {
    match class {
        ErrorClass::InvalidInput => "bad_request",
        ErrorClass::TooLarge => "too_large",
        ErrorClass::TimedOut => "timed_out",
        ErrorClass::UnsupportedMediaType => "unsupported_media_type",
        ErrorClass::RateLimited { .. } | ErrorClass::Unavailable { .. } => "overloaded",
        ErrorClass::Unauthenticated | ErrorClass::Forbidden => "unauthorized",
        ErrorClass::NotFound | ErrorClass::Internal => "internal",
    }
}

pub async fn remote_write(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    match write(&state, &headers, body).await {
        Ok(response) => {
            state
                .metrics
                .ingest_latency
                .observe(started.elapsed().as_secs_f64());
            response
        }
        Err(error) => {
            state.metrics.reject(reason_of(error.class));
            if status_of(error.class).is_server_error() {
                tracing::warn!(error = %error.message, "remote_write refused");
            } else {
                tracing::debug!(error = %error.message, "remote_write refused");
            }
            error.into_response()
        }
    }
}

async fn write(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let ingest = &state.app.config.ingest;
    let protocol = ingest::negotiate(
        header_str(headers, "content-type"),
        header_str(headers, "content-encoding"),
        header_str(headers, "x-prometheus-remote-write-version"),
    )
    .map_err(|e| ApiError::from_error(&e))?;
    let retry_after_secs = ingest.retry_after_secs;

    // Admission before reading the body, so saturation never buffers unbounded bodies.
    let _permit = state.ingest_slots.try_acquire().map_err(|_| {
        ApiError::new(
            ErrorClass::Unavailable { retry_after_secs },
            format!(
                "ingest saturated: {} write requests already being decoded; retry after {retry_after_secs}s",
                ingest.max_inflight
            ),
        )
    })?;
    state.over_memory_budget(&super::tenant(headers)?)?;
    state.metrics.queue_depth.inc();
    let result = decode_into_windows(state, protocol, headers, body).await;
    state.metrics.queue_depth.dec();
    result
}

async fn decode_into_windows(
    state: &AppState,
    protocol: Protocol,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = crate::bodies::read_limited(
        body,
        crate::bodies::declared_length(headers),
        state.app.config.ingest.max_body_bytes,
        "ingest.max_body_bytes",
        state.app.config.server.body_timeout,
    )
    .await?;

    let ingest = &state.app.config.ingest;
    let tenant = super::tenant(headers)?;
    let mut appender = state
        .app
        .sources
        .appender(&tenant, ingest.source_label.as_deref());
    let stats = DECODER
        .with(|decoder| {
            decoder
                .borrow_mut()
                .decode(protocol, &body, ingest.max_decoded_bytes, &mut appender)
        })
        .map_err(|e| ApiError::from_error(&e))?;
    let refused_source = appender.refused_source().cloned();
    let (outcome, _reached) = appender.finish();
    if outcome.appended > 0 {
        state.app.pipeline.wake.notify_one();
    }
    let protocol_name = match protocol {
        Protocol::V1 => "v1",
        Protocol::V2 => "v2",
    };
    state
        .metrics
        .received(protocol_name, outcome.appended as u64);
    if let Some(refusal) = outcome.refusal() {
        return Err(ApiError::bad_request(refusal));
    }
    // Nothing stored: 400, as Prometheus's receiver answers out-of-bounds samples, so the
    // sender neither believes them stored nor retries them for ever. Duplicates of samples
    // already held count as stored, so a retried batch still gets 204.
    if let Some(message) = outcome.nothing_stored() {
        return Err(ApiError::bad_request(match refused_source {
            Some(refused) => format!("{message}: {refused}"),
            None => message,
        }));
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if protocol == Protocol::V2 {
        let headers = response.headers_mut();
        headers.insert(SAMPLES_WRITTEN, HeaderValue::from(outcome.stored() as u64));
        headers.insert(
            HISTOGRAMS_WRITTEN,
            HeaderValue::from(stats.histograms as u64),
        );
        headers.insert(EXEMPLARS_WRITTEN, HeaderValue::from(0u64));
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
