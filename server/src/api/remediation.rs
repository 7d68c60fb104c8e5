//! Actions, approvals, the pause switch, policy reload and the audit log over HTTP. Who may
//! call what is decided before a handler runs (`app::authorize`); handlers get the caller.
//!
//! Refusals answer 4xx with `refusal.code`, the deciding `clause` and the `reason`, and
//! `Retry-After` when a cooldown or rate limit says when a retry could pass.

use super::success;
use crate::app::AppState;
use crate::error::ApiError;
use crate::remediation::{AnswerError, ReloadError, Remediation};
use app::Caller;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::{Action, ErrorClass};
use policy::{ApprovalError, ApprovalStatus, ApproverIdentity};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Largest JSON body an approval answer may have.
const MAX_BODY: usize = 64 * 1024;

fn remediation(state: &AppState) -> Result<&Arc<Remediation>, ApiError> {
    state.remediation.as_ref().ok_or_else(|| {
        ApiError::new(
            ErrorClass::NotFound,
            "remediation is off: set [policy] file in the configuration",
        )
    })
}

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

/// The approver identity of a caller the application layer let answer an approval (it
/// checked the policy role is there).
fn approver(caller: &Caller) -> ApproverIdentity {
    ApproverIdentity {
        name: caller.name.clone(),
        role: caller
            .policy_role
            .clone()
            .unwrap_or_else(|| caller.role.to_string()),
    }
}

/// How the audit log names a caller: `name (policy role or auth role)`.
fn by(caller: &Caller) -> String {
    let who = approver(caller);
    format!("{} ({})", who.name, who.role)
}

fn answer_error(error: AnswerError) -> Response {
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

/// `GET /api/v1/actions[?incident=ID]`: every proposed action with its decision and fate.
pub async fn actions(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let Some(r) = &state.remediation else {
        return Ok(success(json!([])));
    };
    let incident = super::param(query.as_deref().unwrap_or(""), "incident");
    let list: Vec<_> = r
        .actions()
        .await
        .into_iter()
        .filter(|a| incident.as_ref().is_none_or(|i| *i == a.incident_id))
        .collect();
    Ok(success(list))
}

/// `GET /api/v1/approvals[?status=pending]`.
pub async fn approvals(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let status = match super::param(query.as_deref().unwrap_or(""), "status").as_deref() {
        None | Some("") => None,
        Some("pending") => Some(ApprovalStatus::Pending),
        Some("approved") => Some(ApprovalStatus::Approved),
        Some("rejected") => Some(ApprovalStatus::Rejected),
        Some("expired") => Some(ApprovalStatus::Expired),
        Some("withdrawn") => Some(ApprovalStatus::Withdrawn),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "status {other:?} is not one of pending, approved, rejected, expired, withdrawn"
            )));
        }
    };
    let Some(r) = &state.remediation else {
        return Ok(success(json!([])));
    };
    Ok(success(r.approvals(status).await))
}

/// `POST /api/v1/approvals/{id}/token`: a fresh single-use token for the caller's role.
pub async fn issue_token(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = remediation(&state)?;
    let who = approver(&caller);
    Ok(match r.issue_token(&id, &who).await {
        Ok(token) => success(token),
        Err(error) => answer_error(AnswerError::Refused {
            source: error,
            retry_after_ms: None,
        }),
    })
}

async fn answer(
    state: &AppState,
    id: &str,
    caller: &Caller,
    body: &Bytes,
    kind: &str,
) -> Result<Response, ApiError> {
    let r = remediation(state)?;
    let who = approver(caller);
    let answer: Answer = parse(body)?;
    let result = match kind {
        "approve" => r.approve(state, id, &answer.token, &who, None).await,
        "modify" => {
            let Some(action) = answer.action else {
                return Err(ApiError::bad_request(
                    "modify needs \"action\": the action with its new parameters",
                ));
            };
            r.approve(state, id, &answer.token, &who, Some(action))
                .await
        }
        _ => {
            let reason = answer
                .reason
                .unwrap_or_else(|| "rejected by approver".to_owned());
            r.reject(id, &answer.token, &who, &reason).await
        }
    };
    Ok(match result {
        Ok(entry) => success(entry),
        Err(error) => answer_error(error),
    })
}

/// `POST /api/v1/approvals/{id}/approve` with `{"token": "..."}`.
pub async fn approve(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    answer(&state, &id, &caller, &body, "approve").await
}

/// `POST /api/v1/approvals/{id}/reject` with `{"token": "...", "reason": "..."}`.
pub async fn reject(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    answer(&state, &id, &caller, &body, "reject").await
}

/// `POST /api/v1/approvals/{id}/modify` with `{"token": "...", "action": {...}}`.
pub async fn modify(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    answer(&state, &id, &caller, &body, "modify").await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PauseBody {
    #[serde(default)]
    reason: Option<String>,
}

/// `GET /api/v1/robot`: the pause switch and what each action achieved so far.
pub async fn robot(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let r = remediation(&state)?;
    let pause = r.pause_state().await;
    Ok(success(json!({
        "paused": pause.paused,
        "changed_by": pause.changed_by,
        "changed_at_ms": pause.changed_at_ms,
        "reason": pause.reason,
        "outcomes": r.outcomes().await,
    })))
}

/// `POST /api/v1/robot/pause`: an operator may stop the robot.
pub async fn pause(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let r = remediation(&state)?;
    let body: PauseBody = if body.is_empty() {
        PauseBody::default()
    } else {
        parse(&body)?
    };
    let done = r
        .set_paused(true, &by(&caller), body.reason)
        .await
        .map_err(|e| ApiError::from_error(&e))?;
    Ok(success(done))
}

/// `POST /api/v1/robot/resume`: needs the approve role.
pub async fn resume(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let r = remediation(&state)?;
    let body: PauseBody = if body.is_empty() {
        PauseBody::default()
    } else {
        parse(&body)?
    };
    let done = r
        .set_paused(false, &by(&caller), body.reason)
        .await
        .map_err(|e| ApiError::from_error(&e))?;
    Ok(success(done))
}

/// `POST /api/v1/policy/reload`: an admin has `policy.file` read again. A bad file answers
/// 400 with every problem as `FILE:LINE: reason` (also in `refusal.issues`) and the running
/// policy stays; either way the attempt is audited with the old and new file hashes.
pub async fn reload_policy(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let r = remediation(&state)?;
    let me = Arc::clone(r);
    let by = by(&caller);
    let result = tokio::task::spawn_blocking(move || me.reload_policy(&by))
        .await
        .map_err(|e| ApiError::new(ErrorClass::Internal, format!("policy reload: {e}")))?;
    Ok(match result {
        Ok(done) => success(done),
        Err(ReloadError::Invalid { errors, new_sha256 }) => refusal(
            StatusCode::BAD_REQUEST,
            "invalid_policy",
            errors.to_string(),
            json!({"issues": errors.issues, "sha256": new_sha256}),
        ),
        Err(error @ ReloadError::ApproverRole { .. }) => refusal(
            StatusCode::BAD_REQUEST,
            "approver_role",
            error.to_string(),
            json!({}),
        ),
        Err(error) => ApiError::from_error(&error).into_response(),
    })
}

/// `GET /api/v1/audit[?incident=ID][&limit=N]`: the newest entries and whether the chain holds.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let r = remediation(&state)?;
    let query = query.unwrap_or_default();
    let limit = match super::param(&query, "limit") {
        None => 500,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| ApiError::bad_request(format!("limit {text:?} is not a number")))?,
    };
    let incident = super::param(&query, "incident");
    let me = Arc::clone(r);
    let (verified, entries) = tokio::task::spawn_blocking(move || me.audit_snapshot())
        .await
        .map_err(|e| ApiError::new(ErrorClass::Internal, format!("audit read: {e}")))?;
    let mut entries = entries.map_err(|e| ApiError::from_error(&e))?;
    if let Some(id) = &incident {
        entries.retain(|e| e.record.incident_id.as_ref() == Some(id));
    }
    let total = entries.len();
    let entries = entries.split_off(total.saturating_sub(limit));
    let chain = match verified {
        Ok(n) => json!({"ok": true, "entries": n}),
        Err(error) => json!({"ok": false, "error": crate::error::chain(&error)}),
    };
    Ok(success(
        json!({"chain": chain, "total": total, "entries": entries}),
    ))
}
