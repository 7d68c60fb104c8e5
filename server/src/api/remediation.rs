//! Actions, approvals, the pause switch, policy reload and the audit log over HTTP. Who may
//! call what is decided before a handler runs (`app::authorize`); handlers get the caller.
//!
//! Refusals answer 4xx with `refusal.code`, the deciding `clause` and the `reason`, and
//! `Retry-After` when a cooldown or rate limit says when a retry could pass.

use super::success;
use crate::app::AppState;
use crate::error::ApiError;
use app::remediation::{AnswerError, ReloadError};
use app::{AppError, Caller};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::{Action, ErrorClass};
use policy::{ApprovalError, ApprovalStatus};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Largest JSON body an approval answer may have.
const MAX_BODY: usize = 64 * 1024;

fn refusal(status: StatusCode, code: &str, message: String, extra: serde_json::Value) -> Response {
    let mut detail = json!({"code": code, "reason": message});
    if let (Some(d), Some(e)) = (detail.as_object_mut(), extra.as_object()) {
        d.extend(e.clone());
    }
    let body = json!({
        "status": "error",
        "errorType": "refused",
        "error": message,
        "refusal": detail,
    });
    (status, axum::Json(body)).into_response()
}

/// An application error as HTTP: refusals of an approval answer or a policy reload carry
/// `refusal.code` and the deciding clause; the rest map by class.
fn app_error(error: AppError) -> Response {
    let error = match error {
        AppError::Answer(answer) => answer,
        AppError::Reload(reload) => return reload_error(reload),
        other => return ApiError::from_app(&other).into_response(),
    };
    let (source, retry_after_ms) = match error {
        AnswerError::Refused {
            source,
            retry_after_ms,
        } => (source, retry_after_ms),
        AnswerError::Storage { source } => {
            return ApiError::from_error(&source).into_response();
        }
    };
    let message = source.to_string();
    let (status, code, extra) = match &source {
        ApprovalError::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found", json!({})),
        ApprovalError::Expired { expired_at_ms, .. } => (
            StatusCode::GONE,
            "expired",
            json!({"expired_at_ms": expired_at_ms}),
        ),
        ApprovalError::Reused { .. } => (StatusCode::CONFLICT, "reused", json!({})),
        ApprovalError::Tampered { detail, .. } => (
            StatusCode::BAD_REQUEST,
            "tampered",
            json!({"detail": detail}),
        ),
        ApprovalError::WrongPermission { role, risk } => (
            StatusCode::FORBIDDEN,
            "permission",
            json!({"role": role, "risk": risk}),
        ),
        ApprovalError::AlreadyDecided { status, .. } => (
            StatusCode::CONFLICT,
            "already_decided",
            json!({"approval_status": status}),
        ),
        ApprovalError::NotApprovable { .. } => (StatusCode::CONFLICT, "not_approvable", json!({})),
        ApprovalError::Refused { clause, reason } => {
            let status = if retry_after_ms.is_some() {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::CONFLICT
            };
            let secs = retry_after_ms.map(|ms| (ms.max(0) as u64).div_ceil(1000).max(1));
            let mut response = refusal(
                status,
                "policy",
                reason.clone(),
                json!({"clause": clause, "retry_after_secs": secs}),
            );
            if let Some(secs) = secs {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return response;
        }
        ApprovalError::InvalidModification { .. } => {
            (StatusCode::BAD_REQUEST, "invalid_modification", json!({}))
        }
        ApprovalError::NoApprover { .. } => (StatusCode::FORBIDDEN, "no_approver", json!({})),
        ApprovalError::Key { .. } => {
            return ApiError::new(ErrorClass::Internal, message).into_response();
        }
    };
    refusal(status, code, message, extra)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    token: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    action: Option<Action>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.len() > MAX_BODY {
        return Err(ApiError::new(
            ErrorClass::TooLarge,
            format!("body over {MAX_BODY} bytes"),
        ));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("body: {e}")))
}

fn reload_error(error: ReloadError) -> Response {
    match error {
        ReloadError::Invalid { errors, new_sha256 } => refusal(
            StatusCode::BAD_REQUEST,
            "invalid_policy",
            errors.to_string(),
            json!({"issues": errors.issues, "sha256": new_sha256}),
        ),
        error @ ReloadError::ApproverRole { .. } => refusal(
            StatusCode::BAD_REQUEST,
            "approver_role",
            error.to_string(),
            json!({}),
        ),
        error => ApiError::from_error(&error).into_response(),
    }
}

/// `GET /api/v1/actions[?incident=ID]`: every proposed action with its decision and fate.
pub async fn actions(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let incident = super::param(query.as_deref().unwrap_or(""), "incident");
    Ok(success(
        state.app.actions(&caller, incident.as_deref()).await?,
    ))
}

/// `GET /api/v1/ladders[?incident=ID]`: each incident's climb up its ladder.
pub async fn ladders(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let incident = super::param(query.as_deref().unwrap_or(""), "incident");
    Ok(success(
        state.app.ladders(&caller, incident.as_deref()).await?,
    ))
}

/// `GET /api/v1/playbooks`: the ladders in force.
pub async fn playbooks(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    Ok(success(state.app.playbooks(&caller)?))
}

/// `GET /api/v1/approvals[?status=pending]`.
pub async fn approvals(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let status = super::status_param(
        query.as_deref(),
        ApprovalStatus::parse,
        "pending, approved, rejected, expired, withdrawn",
    )?;
    Ok(success(state.app.approvals(&caller, status).await?))
}

/// `POST /api/v1/approvals/{id}/token`: a fresh single-use token for the caller's role.
pub async fn issue_token(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    match state.app.issue_token(&caller, &id).await {
        Ok(token) => success(token),
        Err(error) => app_error(error),
    }
}

/// `POST /api/v1/approvals/{id}/approve` with `{"token": "..."}`.
pub async fn approve(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let answer: Answer = parse(&body)?;
    Ok(
        match state.app.approve(&caller, &id, &answer.token, None).await {
            Ok(entry) => success(entry),
            Err(error) => app_error(error),
        },
    )
}

/// `POST /api/v1/approvals/{id}/reject` with `{"token": "...", "reason": "..."}`.
pub async fn reject(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let answer: Answer = parse(&body)?;
    let reason = answer.reason.as_deref().unwrap_or("rejected by approver");
    Ok(
        match state.app.reject(&caller, &id, &answer.token, reason).await {
            Ok(entry) => success(entry),
            Err(error) => app_error(error),
        },
    )
}

/// `POST /api/v1/approvals/{id}/modify` with `{"token": "...", "action": {...}}`.
pub async fn modify(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let answer: Answer = parse(&body)?;
    let Some(action) = answer.action else {
        return Err(ApiError::bad_request(
            "modify needs \"action\": the action with its new parameters",
        ));
    };
    Ok(
        match state
            .app
            .approve(&caller, &id, &answer.token, Some(action))
            .await
        {
            Ok(entry) => success(entry),
            Err(error) => app_error(error),
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    #[serde(default)]
    reason: Option<String>,
}

fn pause_body(body: &Bytes) -> Result<PauseBody, ApiError> {
    if body.is_empty() {
        Ok(PauseBody::default())
    } else {
        parse(body)
    }
}

/// `GET /api/v1/robot`: the pause switch and what each action achieved so far.
pub async fn robot(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    Ok(success(state.app.robot(&caller).await?))
}

/// `POST /api/v1/robot/pause`: an operator may stop the robot.
pub async fn pause(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let reason = pause_body(&body)?.reason;
    Ok(success(state.app.set_paused(&caller, true, reason).await?))
}

/// `POST /api/v1/robot/resume`: needs the approve role.
pub async fn resume(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let reason = pause_body(&body)?.reason;
    Ok(success(state.app.set_paused(&caller, false, reason).await?))
}

/// `POST /api/v1/policy/reload`: an admin has `policy.file` read again. A bad file answers
/// 400 with every problem as `FILE:LINE: reason` (also in `refusal.issues`) and the running
/// policy stays; either way the attempt is audited with the old and new file hashes.
pub async fn reload_policy(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Response {
    match state.app.reload_policy(&caller).await {
        Ok(done) => success(done),
        Err(error) => app_error(error),
    }
}

/// `GET /api/v1/audit[?incident=ID][&limit=N]`: the newest entries and whether the chain holds.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let limit = match super::param(&query, "limit") {
        None => 500,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("limit {text:?} is not a number")))?,
    };
    let incident = super::param(&query, "incident");
    Ok(success(
        state.app.audit(&caller, incident.as_deref(), limit).await?,
    ))
}
