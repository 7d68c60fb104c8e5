//! The HTTP edge of authorization: reads the bearer token, asks the application layer who the
//! caller is and whether the route's operation is allowed, and hands the caller to handlers.
//! A server on a non-loopback address refuses to start without a token unless `--insecure`.

use crate::app::AppState;
use crate::error::ApiError;
use app::{Caller, Operation};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::path::Path;
use std::sync::Arc;

/// The `--token-file` token (one admin token), also what srebot's own clients send.
#[derive(Debug, Default, Clone)]
pub struct Tokens {
    /// `None`: no token needed (loopback or `--insecure`).
    pub read_write: Option<String>,
}

impl Tokens {
    /// Reads the first non-empty line of a token file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        use anyhow::Context;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading token file {}", path.display()))?;
        let token = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .with_context(|| format!("token file {} is empty", path.display()))?;
        Ok(Self {
            read_write: Some(token.to_owned()),
        })
    }
}

/// The operation a route runs; `None` for a route this table does not know (a bug: the
/// router test checks every route is here).
pub fn operation_of(method: &Method, route: &str) -> Option<Operation> {
    let get = method == Method::GET || method == Method::HEAD;
    Some(match (route, get) {
        ("/healthz" | "/readyz", _) => Operation::Health,
        ("/api/v1/write", false) => Operation::RemoteWrite,
        ("/loki/api/v1/push", false) => Operation::LokiPush,
        ("/api/v1/alerts/alertmanager", false) => Operation::AlertmanagerWebhook,
        ("/api/v1/findings", false) => Operation::SubmitFindings,
        ("/v1/metrics", false) => Operation::OtlpMetrics,
        ("/api/v1/doctor", false) => Operation::Doctor,
        ("/api/v1/series", _) => Operation::Series,
        ("/api/v1/windows", true) => Operation::Windows,
        ("/api/v1/sql", false) => Operation::Sql,
        ("/api/v1/status", true) => Operation::Status,
        ("/metrics", true) => Operation::Metrics,
        ("/api/v1/incidents", true) => Operation::ListIncidents,
        ("/api/v1/incidents/{id}", true) => Operation::GetIncident,
        ("/api/v1/incidents/{id}/rca", true) => Operation::GetDraft,
        ("/api/v1/incidents/{id}/rca", false) => Operation::RegenerateDraft,
        ("/api/v1/incidents/{id}/logs", true) => Operation::IncidentLogs,
        ("/api/v1/candidates", true) => Operation::ListCandidates,
        ("/api/v1/rules/reload", false) => Operation::ReloadRules,
        ("/api/v1/actions" | "/api/v1/ladders", true) => Operation::ListActions,
        ("/api/v1/playbooks", true) => Operation::ViewPolicy,
        ("/api/v1/approvals", true) => Operation::ListApprovals,
        ("/api/v1/approvals/{id}/token", false) => Operation::IssueApprovalToken,
        ("/api/v1/approvals/{id}/approve", false) => Operation::Approve,
        ("/api/v1/approvals/{id}/reject", false) => Operation::Reject,
        ("/api/v1/approvals/{id}/modify", false) => Operation::Modify,
        ("/api/v1/robot", true) => Operation::RobotStatus,
        ("/api/v1/robot/pause", false) => Operation::Pause,
        ("/api/v1/robot/resume", false) => Operation::Resume,
        ("/api/v1/audit", true) => Operation::Audit,
        ("/api/v1/policy/reload", false) => Operation::ReloadPolicy,
        ("/api/v1/channels", true) => Operation::ListChannels,
        ("/api/v1/channels/{id}/test", false) => Operation::TestChannel,
        ("/api/v1/chat", false) => Operation::Chat,
        ("/api/v1/summary/email", false) => Operation::SummaryEmail,
        ("/api/v1/tools", true) => Operation::ListTools,
        ("/api/v1/tools/{name}", false) => Operation::RunTool,
        // MCP's streamable HTTP: every method of the one endpoint runs read-only tools.
        ("/mcp", _) => Operation::RunTool,
        // Authenticated by the provider's own secret or signature in the handler.
        ("/api/v1/channels/{id}/telegram", false)
        | ("/api/v1/channels/{id}/slack/interactions", false)
        | ("/api/v1/channels/{id}/slack/commands", false) => Operation::ChatInbound,
        ("/api/v1/incidents/{id}/ack", false) => Operation::Acknowledge,
        ("/api/v1/incidents/{id}/assign", false) => Operation::Assign,
        ("/api/v1/incidents/{id}/comment", false) => Operation::Comment,
        ("/api/v1/incidents/{id}/resolve", false) => Operation::ResolveIncident,
        ("/api/v1/incidents/{id}/merge", false) => Operation::MergeIncidents,
        ("/api/v1/rules/suggestions", true) => Operation::ListSuggestions,
        ("/api/v1/suppressions", true) => Operation::ListSuppressions,
        ("/api/v1/policy", true) => Operation::ViewPolicy,
        ("/api/v1/rules/suggestions/{id}/accept", false) => Operation::AcceptSuggestion,
        ("/api/v1/rules/suggestions/{id}/reject", false) => Operation::RejectSuggestion,
        // The workspace: its pages and forms run the same operations.
        ("/" | "/ui" | "/ui/" | "/ui/login", _) | ("/ui/logout", false) => Operation::SignIn,
        ("/ui/assets/{*path}", true) => Operation::WorkspaceAssets,
        ("/ui/events" | "/ui/incidents" | "/ui/incidents/rows", true) => Operation::ListIncidents,
        ("/ui/incidents/{id}", true) => Operation::GetIncident,
        ("/ui/incidents/{id}/ack", false) => Operation::Acknowledge,
        ("/ui/incidents/{id}/assign", false) => Operation::Assign,
        ("/ui/incidents/{id}/comment", false) => Operation::Comment,
        ("/ui/incidents/{id}/resolve", false) => Operation::ResolveIncident,
        ("/ui/incidents/{id}/merge", false) => Operation::MergeIncidents,
        ("/ui/incidents/{id}/feedback", false) => Operation::Feedback,
        ("/ui/incidents/{id}/silence", false) => Operation::Silence,
        ("/ui/incidents/{id}/interpret", false) => Operation::RegenerateDraft,
        ("/ui/incidents/{id}/tools/{tool}", true) => Operation::RunTool,
        ("/ui/approvals", true) => Operation::ListApprovals,
        ("/ui/approvals/{id}/approve", false) => Operation::Approve,
        ("/ui/approvals/{id}/reject", false) => Operation::Reject,
        ("/ui/approvals/{id}/modify", false) => Operation::Modify,
        ("/ui/audit", true) => Operation::Audit,
        ("/ui/rules", true) => Operation::ListRules,
        ("/ui/rules/edit/{name}" | "/ui/rules/file", false) => Operation::EditRules,
        ("/ui/rules/allowlist", false) => Operation::EditAllowlist,
        ("/ui/rules/suggestions/{id}/accept", false) => Operation::AcceptSuggestion,
        ("/ui/rules/suggestions/{id}/reject", false) => Operation::RejectSuggestion,
        ("/ui/settings", true) => Operation::Status,
        ("/ui/settings/pause", false) => Operation::Pause,
        ("/ui/settings/resume", false) => Operation::Resume,
        ("/ui/settings/simulate", false) => Operation::SimulatePolicy,
        ("/ui/settings/probe", false) => Operation::ProbeModel,
        ("/ui/settings/suppressions/{id}/remove", false) => Operation::RemoveSuppression,
        ("/ui/demo", true) => Operation::Status,
        ("/ui/demo", false) => Operation::StartDemo,
        _ => return None,
    })
}

/// Authenticates and authorizes every request, then hands the [`Caller`] to the handler as a
/// request extension.
pub async fn require_token(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let Some(operation) = operation_of(request.method(), &route) else {
        return ApiError::new(
            model::ErrorClass::NotFound,
            format!("no operation for {} {route}", request.method()),
        )
        .into_response();
    };
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let caller = match state.app.authenticate(bearer) {
        Ok(caller) => caller,
        // Health probes stay open so orchestrators can check liveness without the secret.
        Err(_) if operation.is_public() => Caller::anonymous(),
        Err(error) => return ApiError::from_auth(&error).into_response(),
    };
    if let Err(error) = app::authorize(&caller, operation) {
        let mut refused = ApiError::from_auth(&error);
        if operation.needs_policy_role() {
            refused.refusal_code = Some("approver_required");
            // Without any credential the answer is "authenticate", not "you may not".
            if bearer.is_none() && matches!(error, app::AuthError::NoPolicyRole { .. }) {
                refused = ApiError {
                    refusal_code: Some("approver_required"),
                    ..ApiError::from_auth(&app::AuthError::Missing)
                };
            }
        }
        return refused.into_response();
    }
    if operation.is_mutating() {
        tracing::info!(caller = %caller.name, role = %caller.role, operation = operation.name(), "authorized");
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}
