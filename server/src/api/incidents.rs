//! Incidents and their inputs: the ledger's incidents, findings and timelines, the
//! Alertmanager webhook, rule reloads, and the pipeline's progress in event time.

use super::{param, success};
use crate::app::AppState;
use crate::error::ApiError;
use crate::pipeline::load_rules;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use incident::IncidentFilter;
use model::ErrorClass;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Largest number of rows a list answers with.
const MAX_LIMIT: u32 = 10_000;

fn limit(encoded: &str, default: u32) -> Result<u32, ApiError> {
    match param(encoded, "limit") {
        None => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "limit {text:?} must be a whole number from 1 to {MAX_LIMIT}"
                ))
            }),
    }
}

/// `GET /api/v1/incidents[?status=&severity=&domain=&limit=]`, newest first.
pub async fn list(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let encoded = query.as_deref().unwrap_or("");
    let filter = IncidentFilter::parse(
        param(encoded, "status").as_deref(),
        param(encoded, "severity").as_deref(),
        param(encoded, "domain").as_deref(),
    )
    .map_err(|e| ApiError::from_error(&e))?;
    let summaries = state
        .pipeline
        .engine
        .ledger()
        .summaries(&filter, limit(encoded, 500)?)
        .await
        .map_err(|e| ApiError::from_error(&e))?;
    Ok(success(summaries))
}

/// `GET /api/v1/incidents/{id}`: the summary with findings, evidence and timeline.
pub async fn detail(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let detail = state
        .pipeline
        .engine
        .ledger()
        .detail(&id)
        .await
        .map_err(|e| ApiError::from_error(&e))?
        .ok_or_else(|| ApiError::new(ErrorClass::NotFound, format!("no incident {id:?}")))?;
    Ok(success(detail))
}

/// `GET /api/v1/candidates[?limit=]`: findings (deduplicated candidates), latest first.
pub async fn candidates(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let encoded = query.as_deref().unwrap_or("");
    let findings = state
        .pipeline
        .engine
        .ledger()
        .candidates(limit(encoded, 500)?)
        .await
        .map_err(|e| ApiError::from_error(&e))?;
    Ok(success(findings))
}

/// `POST /api/v1/alerts/alertmanager`: Alertmanager's webhook JSON (version 4). Firing alerts
/// join the correlation as candidates, resolved ones as healthy signals; 200 once committed.
pub async fn alertmanager(
    State(state): State<Arc<AppState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if body.len() > state.config.ingest.max_body_bytes {
        return Err(ApiError::new(
            ErrorClass::TooLarge,
            format!(
                "webhook body of {} bytes is over the {}-byte limit",
                body.len(),
                state.config.ingest.max_body_bytes
            ),
        ));
    }
    let candidates =
        incident::candidates_from_alertmanager(&body).map_err(|e| ApiError::from_error(&e))?;
    let alerts = candidates.len();
    let changes = state
        .pipeline
        .submit(candidates)
        .await
        .map_err(|e| ApiError::from_error(&e))?;
    Ok(success(serde_json::json!({
        "alerts": alerts,
        "changes": changes.len(),
    })))
}

/// `POST /api/v1/rules/reload`: re-reads the rules file; on an error the old rules stay.
pub async fn reload_rules(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let rules = load_rules(state.config.detect.rules_file.as_deref())
        .map_err(|e| ApiError::bad_request(crate::error::chain(&e)))?;
    let count = state.pipeline.reload(rules);
    tracing::info!(rules = count, "rules reloaded");
    Ok(success(serde_json::json!({ "rules": count })))
}

/// `GET /api/v1/status`: how far ingest and detection have come in event time.
pub async fn status(State(state): State<Arc<AppState>>) -> Response {
    let stats = state.store.stats();
    let pipeline = &state.pipeline;
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "status": "success",
            "data": {
                "watermark": state.store.watermark_ms(),
                "evaluated_through": pipeline.evaluated_through(),
                "caught_up": pipeline.caught_up(&state.store),
                "active_series": stats.active_series,
                "rules": pipeline.rule_count(),
                "ticks": pipeline.ticks_total.load(Ordering::Relaxed),
                "candidates": pipeline.candidates_total.load(Ordering::Relaxed),
                "tls": state.config.server.tls_cert.is_some(),
            }
        })),
    )
        .into_response()
}
