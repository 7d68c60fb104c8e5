//! Operator commands over HTTP: acknowledge, assign, comment, resolve and merge incidents
//! (`POST /api/v1/incidents/{id}/ack|assign|comment|resolve|merge`, operate role) and rule
//! suggestions (`GET /api/v1/rules/suggestions`, `POST …/{id}/accept|reject`). Adapters only.

use super::success;
use crate::app::AppState;
use crate::error::ApiError;
use app::Caller;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use incident::SuggestionStatus;
use model::ErrorClass;
use serde::Deserialize;
use std::sync::Arc;

/// Largest JSON body of an operator command.
const MAX_BODY: usize = 16 * 1024;

/// A JSON body (or none, where every field is optional).
fn body<T: serde::de::DeserializeOwned + Default>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.len() > MAX_BODY {
        return Err(ApiError::new(
            ErrorClass::TooLarge,
            format!(
                "body of {} bytes is over the {MAX_BODY}-byte limit",
                bytes.len()
            ),
        ));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("body: {e}")))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Assign {
    #[serde(default)]
    assignee: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Comment {
    #[serde(default)]
    text: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Reason {
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Merge {
    /// The incident folded into the one in the path.
    #[serde(default)]
    other: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    #[serde(default)]
    note: Option<String>,
}

/// `POST /api/v1/incidents/{id}/ack`.
pub async fn ack(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(success(state.app.acknowledge(&caller, &id).await?))
}

/// `POST /api/v1/incidents/{id}/assign` with `{"assignee": "bob"}`.
pub async fn assign(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: Assign = body(&bytes)?;
    Ok(success(state.app.assign(&caller, &id, &b.assignee).await?))
}

/// `POST /api/v1/incidents/{id}/comment` with `{"text": "..."}`.
pub async fn comment(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: Comment = body(&bytes)?;
    Ok(success(state.app.comment(&caller, &id, &b.text).await?))
}

/// `POST /api/v1/incidents/{id}/resolve` with an optional `{"reason": "..."}`.
pub async fn resolve(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: Reason = body(&bytes)?;
    Ok(success(state.app.resolve(&caller, &id, &b.reason).await?))
}

/// `POST /api/v1/incidents/{id}/merge` with `{"other": "inc-..."}`: the other incident is
/// folded into this one.
pub async fn merge(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: Merge = body(&bytes)?;
    Ok(success(state.app.merge(&caller, &id, &b.other).await?))
}

/// `GET /api/v1/rules/suggestions[?status=pending|accepted|rejected]`.
pub async fn suggestions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let status = super::status_param(
        query.as_deref(),
        SuggestionStatus::from_name,
        "pending, accepted, rejected",
    )?;
    Ok(success(state.app.rule_suggestions(&caller, status).await?))
}

/// `POST /api/v1/rules/suggestions/{id}/accept`: the rule joins the operator rules file.
pub async fn accept(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(success(state.app.accept_suggestion(&caller, &id).await?))
}

/// `POST /api/v1/rules/suggestions/{id}/reject` with an optional `{"note": "..."}`.
pub async fn reject(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: Note = body(&bytes)?;
    Ok(success(
        state
            .app
            .reject_suggestion(&caller, &id, b.note.as_deref())
            .await?,
    ))
}

/// `GET /api/v1/suppressions[?removed=true]`: the one list of suppression windows.
pub async fn suppressions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let removed =
        super::param(query.as_deref().unwrap_or(""), "removed").as_deref() == Some("true");
    Ok(success(state.app.suppressions(&caller, removed).await?))
}

/// `GET /api/v1/policy`: the running policy (tiers, allowlists, blast radius, cooldowns,
/// rate limits, windows, approvers); `null` without one.
pub async fn policy(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    Ok(success(state.app.policy_view(&caller)?))
}
