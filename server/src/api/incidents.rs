//! Incidents and their inputs over HTTP: the ledger's incidents, findings and timelines, the
//! Alertmanager webhook, rule reloads, and the pipeline's progress in event time.

use super::{param, success};
use crate::app::AppState;
use crate::error::ApiError;
use app::Caller;
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use bytes::Bytes;
use incident::IncidentFilter;
use model::ErrorClass;
use std::sync::Arc;

/// Largest number of rows a list answers with.
const MAX_LIMIT: u32 = 10_000;

pub(crate) fn limit(encoded: &str, default: u32) -> Result<u32, ApiError> {
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

/// `GET /api/v1/incidents[?status=&severity=&domain=&source=&limit=]`, newest first.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let encoded = query.as_deref().unwrap_or("");
    let filter = IncidentFilter::parse(
        param(encoded, "status").as_deref(),
        param(encoded, "severity").as_deref(),
        param(encoded, "domain").as_deref(),
    )
    .and_then(|f| f.with_source(param(encoded, "source").as_deref()))
    .map_err(|e| ApiError::from_error(&e))?;
    let limit = limit(encoded, 500)?;
    Ok(success(state.app.incidents(&caller, &filter, limit).await?))
}

/// `GET /api/v1/incidents/{id}`: the summary with findings, evidence and timeline.
pub async fn detail(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(success(state.app.incident(&caller, &id).await?))
}

/// `GET /api/v1/candidates[?limit=]`: findings (deduplicated candidates), latest first.
pub async fn candidates(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let limit = limit(query.as_deref().unwrap_or(""), 500)?;
    Ok(success(state.app.candidates(&caller, limit).await?))
}

/// `POST /api/v1/alerts/alertmanager`: Alertmanager's webhook JSON (version 4). Firing alerts
/// join the correlation as candidates, resolved ones as healthy signals; 200 once committed.
/// The alerts belong to the tenant's source (`X-Scope-OrgID`, `default` without it).
pub async fn alertmanager(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let max = state.app.config.ingest.max_body_bytes;
    if body.len() > max {
        return Err(ApiError::new(
            ErrorClass::TooLarge,
            format!(
                "webhook body of {} bytes is over the {max}-byte limit",
                body.len()
            ),
        ));
    }
    let tenant = super::tenant(&headers)?;
    Ok(success(
        state.app.submit_alerts(&caller, &tenant, &body).await?,
    ))
}

/// `POST /api/v1/findings`: findings of a team's own watchers (contract version 1), joining
/// the correlation like alerts; 200 once committed, 400 naming the first bad finding.
pub async fn findings(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tenant = super::tenant(&headers)?;
    let submitted = state.app.submit_findings(&caller, &tenant, &body).await?;
    Ok(success(serde_json::json!({
        "findings": submitted.alerts,
        "changes": submitted.changes,
    })))
}

/// `POST /api/v1/rules/reload`: re-reads the rules file; on an error the old rules stay.
pub async fn reload_rules(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let count = state.app.reload_rules(&caller)?;
    Ok(success(serde_json::json!({ "rules": count })))
}

/// `GET /api/v1/status`: how far ingest and detection have come in event time.
pub async fn status(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    Ok(success(state.app.status(&caller)?))
}
