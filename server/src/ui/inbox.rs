//! `/ui/approvals`: approval requests waiting, with time to expiry, answered with a reason;
//! `/ui/audit`: the audit chain's state and its entries, by incident and by actor.
//!
//! Approving asks the application for a single-use token for the signed-in approver and
//! answers with it, exactly as the API's two calls do; policy decides again before anything
//! runs.

use super::pages::{Chrome, app_error, done, html, html_status};
use super::session::{FormBody, Signed, may, safe_next};
use crate::app::AppState;
use app::{AppError, Operation};
use askama::Template;
use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use policy::ApprovalStatus;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One approval request as the inbox shows it.
#[derive(Debug, Clone)]
pub struct ApprovalRow {
    pub id: String,
    pub incident_id: String,
    pub incident: String,
    pub action: String,
    pub target: String,
    pub clause: String,
    pub reason: String,
    pub blast: String,
    pub asked: String,
    pub expires: String,
    pub status: String,
    pub answered: String,
    pub note: String,
}

#[derive(Debug, Template)]
#[template(path = "approvals.html")]
pub struct ApprovalsPage {
    pub chrome: Chrome,
    pub pending: Vec<ApprovalRow>,
    pub answered: Vec<ApprovalRow>,
    pub may_answer: bool,
    pub remediation: bool,
}

fn row(r: &policy::ApprovalRequest, now: i64) -> ApprovalRow {
    let left = r.expires_ms - now;
    ApprovalRow {
        id: r.id.clone(),
        incident_id: r.incident.id.clone(),
        incident: format!(
            "{} on {}",
            r.incident.incident_type.as_str().replace('_', " "),
            r.incident.target.clone().unwrap_or_default()
        ),
        action: r.proposed.action.to_string(),
        target: r.proposed.target.path(),
        clause: r.decision.clause.clone(),
        reason: r.decision.reason.clone(),
        blast: r
            .decision
            .blast_radius
            .as_ref()
            .map(|b| {
                format!(
                    "{} pods, {} replicas changed",
                    b.pods_affected, b.replicas_changed
                )
            })
            .unwrap_or_else(|| "not known".to_owned()),
        asked: app::views::clock(r.created_ms, now),
        expires: if left > 0 {
            format!("expires in {}", app::views::span_words(left))
        } else {
            "expired".to_owned()
        },
        status: r.status.to_string(),
        answered: r
            .answered_by
            .as_ref()
            .map(|w| {
                format!(
                    "{} ({}){}",
                    w.name,
                    w.role,
                    r.answered_ms
                        .map(|t| format!(" at {}", app::views::clock(t, now)))
                        .unwrap_or_default()
                )
            })
            .unwrap_or_default(),
        note: r.note.clone().unwrap_or_default(),
    }
}

async fn render(
    state: &AppState,
    signed: &Signed,
    query: Option<&str>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let caller = &signed.session.caller;
    let list = match state.app.approvals(caller, None).await {
        Ok(list) => list,
        Err(e) => return app_error(&e),
    };
    let now = app::remediation::now_ms();
    let mut chrome = Chrome::of(state, signed, "approvals", query).await;
    let status = match error {
        Some((status, message)) => {
            chrome.error = Some(message);
            status
        }
        None => StatusCode::OK,
    };
    let mut pending: Vec<ApprovalRow> = list
        .iter()
        .filter(|r| r.status == ApprovalStatus::Pending)
        .map(|r| row(r, now))
        .collect();
    pending.sort_by(|a, b| a.expires.cmp(&b.expires));
    let mut answered: Vec<&policy::ApprovalRequest> = list
        .iter()
        .filter(|r| r.status != ApprovalStatus::Pending)
        .collect();
    answered.sort_by_key(|r| std::cmp::Reverse(r.answered_ms.unwrap_or(r.created_ms)));
    html_status(
        status,
        &ApprovalsPage {
            chrome,
            pending,
            answered: answered.into_iter().take(50).map(|r| row(r, now)).collect(),
            may_answer: may(caller, Operation::Approve),
            remediation: state.app.remediation.is_some(),
        },
    )
}

/// `GET /ui/approvals`.
pub async fn approvals(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    RawQuery(query): RawQuery,
) -> Response {
    render(&state, &signed, query.as_deref(), None).await
}

/// The action an approver's modify form describes: its type and `param_*` fields.
fn modified_action(form: &FormBody) -> Result<model::Action, AppError> {
    let kind = form.get("action_type").unwrap_or_default();
    let mut object = serde_json::Map::new();
    object.insert(
        "type".to_owned(),
        serde_json::Value::String(kind.to_owned()),
    );
    for (key, value) in &form.0 {
        if let Some(name) = key.strip_prefix("param_") {
            let value = value.trim();
            let json = match value.parse::<u64>() {
                Ok(n) => serde_json::Value::from(n),
                Err(_) => serde_json::Value::String(value.to_owned()),
            };
            object.insert(name.to_owned(), json);
        }
    }
    serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| AppError::Invalid {
        reason: format!("the modified action is not valid: {e}"),
    })
}

async fn answer(
    state: Arc<AppState>,
    signed: Signed,
    id: String,
    form: FormBody,
    verb: &'static str,
) -> Response {
    let caller = &signed.session.caller;
    let back = safe_next(form.get("back"));
    let result: Result<&str, AppError> = async {
        let token = state.app.issue_token(caller, &id).await?;
        match verb {
            "approve" => state
                .app
                .approve(caller, &id, &token.token, None)
                .await
                .map(|_| "approved"),
            "modify" => {
                let action = modified_action(&form)?;
                state
                    .app
                    .approve(caller, &id, &token.token, Some(action))
                    .await
                    .map(|_| "modified")
            }
            _ => {
                let reason = form.get("reason").unwrap_or_default().trim();
                let reason = if reason.is_empty() {
                    "rejected in the workspace"
                } else {
                    reason
                };
                state
                    .app
                    .reject(caller, &id, &token.token, reason)
                    .await
                    .map(|_| "rejected")
            }
        }
    }
    .await;
    match result {
        Ok(code) => done(&back, code),
        Err(AppError::Auth(error)) => app_error(&AppError::Auth(error)),
        Err(error) => {
            let status = crate::error::ApiError::from_app(&error).status();
            render(&state, &signed, None, Some((status, error.to_string()))).await
        }
    }
}

/// `POST /ui/approvals/{id}/approve`.
pub async fn approve(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    Extension(form): Extension<FormBody>,
) -> Response {
    answer(state, signed, id, form, "approve").await
}

/// `POST /ui/approvals/{id}/reject` with a reason.
pub async fn reject(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    Extension(form): Extension<FormBody>,
) -> Response {
    answer(state, signed, id, form, "reject").await
}

/// `POST /ui/approvals/{id}/modify` with the action's new parameters.
pub async fn modify(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    Path(id): Path<String>,
    Extension(form): Extension<FormBody>,
) -> Response {
    answer(state, signed, id, form, "modify").await
}

/// One audit entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub seq: u64,
    pub at: String,
    pub who: String,
    pub kind: String,
    pub incident: String,
    pub action: String,
    pub why: String,
    pub detail: String,
}

#[derive(Debug, Template)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub chrome: Chrome,
    pub chain: String,
    pub chain_ok: bool,
    pub entries: Vec<Entry>,
    pub total: usize,
    pub incident: String,
    pub actor: String,
    pub actors: Vec<(String, usize, String)>,
    pub incidents: Vec<(String, usize, String)>,
    pub off: bool,
}

fn audit_link(incident: &str, actor: &str) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    if !incident.is_empty() {
        s.append_pair("incident", incident);
    }
    if !actor.is_empty() {
        s.append_pair("actor", actor);
    }
    s.finish()
}

/// `GET /ui/audit?incident=&actor=`.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    Extension(signed): Extension<Signed>,
    RawQuery(query): RawQuery,
) -> Response {
    let raw = query.unwrap_or_default();
    let incident = crate::api::param(&raw, "incident").unwrap_or_default();
    let actor = crate::api::param(&raw, "actor").unwrap_or_default();
    let caller = &signed.session.caller;
    let chrome = Chrome::of(&state, &signed, "audit", Some(&raw)).await;
    let view = match state.app.audit(caller, None, usize::MAX).await {
        Ok(view) => view,
        Err(AppError::RemediationOff) => {
            return html(&AuditPage {
                chrome,
                chain: "No audit log runs: remediation is off (set [policy] file).".to_owned(),
                chain_ok: true,
                entries: Vec::new(),
                total: 0,
                incident,
                actor,
                actors: Vec::new(),
                incidents: Vec::new(),
                off: true,
            });
        }
        Err(e) => return app_error(&e),
    };
    let now = app::remediation::now_ms();
    let mut actors: BTreeMap<String, usize> = BTreeMap::new();
    let mut incidents: BTreeMap<String, usize> = BTreeMap::new();
    for e in &view.entries {
        *actors.entry(e.record.who.clone()).or_default() += 1;
        if let Some(id) = &e.record.incident_id {
            *incidents.entry(id.clone()).or_default() += 1;
        }
    }
    let entries: Vec<Entry> = view
        .entries
        .iter()
        .rev()
        .filter(|e| incident.is_empty() || e.record.incident_id.as_deref() == Some(&incident))
        .filter(|e| actor.is_empty() || e.record.who == actor)
        .take(500)
        .map(|e| Entry {
            seq: e.seq,
            at: app::views::clock(e.record.at_ms, now),
            who: e.record.who.clone(),
            kind: serde_json::to_value(e.record.kind)
                .ok()
                .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
                .unwrap_or_default(),
            incident: e.record.incident_id.clone().unwrap_or_default(),
            action: e
                .record
                .action
                .as_ref()
                .map(|a| format!("{} {}", a.action, a.target.path()))
                .unwrap_or_default(),
            why: e.record.why.clone(),
            detail: e.record.detail.clone(),
        })
        .collect();
    let mut top_incidents: Vec<(String, usize)> = incidents.into_iter().collect();
    top_incidents.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    html(&AuditPage {
        chrome,
        chain: if view.chain.ok {
            format!(
                "The chain verifies: {} entries, each bound to the one before it under the audit key.",
                view.chain.entries.unwrap_or(0)
            )
        } else {
            format!(
                "The chain does NOT verify: {}",
                view.chain.error.clone().unwrap_or_default()
            )
        },
        chain_ok: view.chain.ok,
        total: view.total,
        entries,
        actors: actors
            .into_iter()
            .map(|(who, n)| {
                let link = audit_link(&incident, &who);
                (who, n, link)
            })
            .collect(),
        incidents: top_incidents
            .into_iter()
            .take(30)
            .map(|(id, n)| {
                let link = audit_link(&id, &actor);
                (id, n, link)
            })
            .collect(),
        incident,
        actor,
        off: false,
    })
}
