//! `GET|POST /api/v1/incidents/{id}/rca` (the root-cause draft, interpreted by the configured
//! model when there is one) and `GET /api/v1/incidents/{id}/logs` (its log context).

use super::success;
use crate::app::AppState;
use crate::error::ApiError;
use app::Caller;
use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use std::sync::Arc;

/// `GET /api/v1/incidents/{id}/logs`: the incident's compact log context (templates with
/// counts, time spans and novelty per stream, within the token budget).
pub async fn logs(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(success(state.app.incident_logs(&caller, &id).await?))
}

/// `GET /api/v1/incidents/{id}/rca`.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(success(state.app.draft(&caller, &id, false).await?))
}

/// `POST /api/v1/incidents/{id}/rca`: regenerates the draft (and interpretation).
pub async fn regenerate(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(success(state.app.draft(&caller, &id, true).await?))
}
