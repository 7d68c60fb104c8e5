//! The operator channels over HTTP: the providers and their health, a test message, the chat
//! command API, the email summary, and the chat providers' own inbound requests (Telegram's
//! webhook, Slack's interactions and slash commands), which authenticate by the provider's
//! secret or signature instead of a bearer token.

use super::success;
use crate::app::AppState;
use crate::error::ApiError;
use app::Caller;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use model::ErrorClass;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// Largest body a chat request may have (Slack's payloads are a few KiB).
const MAX_BODY: usize = 256 * 1024;

async fn read(body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, MAX_BODY).await.map_err(|_| {
        ApiError::new(
            ErrorClass::TooLarge,
            format!("the body is over the {MAX_BODY}-byte limit of chat requests"),
        )
    })
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `GET /api/v1/channels`: every provider with its health (last delivery, last error, queue
/// depth).
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    Ok(success(
        state
            .channels
            .list()
            .await
            .map_err(|e| ApiError::from_error(&e))?,
    ))
}

/// `POST /api/v1/channels/{id}/test`: sends a test message now; 503 with the reason when the
/// provider did not take it.
pub async fn test(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    tracing::info!(caller = %caller.name, provider = %id, "channel test message");
    state
        .channels
        .test(&id)
        .await
        .map_err(|e| ApiError::new(model::Classify::class(&e), model::error::chain(&e)))?;
    Ok(success(json!({"provider": id, "delivered": true})))
}

/// `POST /api/v1/doctor`: every check of what this deployment depends on (see
/// [`app::doctor`]), then a test message to each enabled, deliverable channel provider.
pub async fn doctor(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    tracing::info!(caller = %caller.name, "doctor");
    let mut checks = state.app.doctor(&caller).await?;
    let providers = state
        .channels
        .list()
        .await
        .map_err(|e| ApiError::from_error(&e))?;
    for p in providers.iter().filter(|p| p.enabled && p.kind != "in_app") {
        let name = format!("channel {}", p.id);
        let check = |verdict, detail: String, fix: &str| app::doctor::Check {
            check: name.clone(),
            verdict,
            detail,
            fix: fix.to_owned(),
        };
        checks.push(if !p.deliverable {
            check(app::doctor::Verdict::Warn, p.note.clone(), "")
        } else {
            match state.channels.test(&p.id).await {
                Ok(()) => check(
                    app::doctor::Verdict::Ok,
                    format!("{} took a test message", p.kind),
                    "",
                ),
                Err(e) => check(
                    app::doctor::Verdict::Fail,
                    model::error::chain(&e),
                    "check the provider's config file (endpoint, secret files) and that srebot can reach it",
                ),
            }
        });
    }
    Ok(success(json!({ "checks": checks })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatBody {
    text: String,
}

/// `POST /api/v1/chat` with `{"text": "status"}`: one chat command as the bearer token's
/// identity, answered with `{"command", "ok", "text"}`; the command is authorized as its own
/// operation (a refusal is `ok: false` with the reason).
pub async fn chat(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = read(body).await?;
    let ChatBody { text } = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("body must be {{\"text\": \"...\"}}: {e}")))?;
    Ok(success(state.channels.chat(&caller, &text).await))
}

/// `POST /api/v1/summary/email`: the executive summary to every email provider's admins now.
pub async fn summary_email(
    State(state): State<Arc<AppState>>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    tracing::info!(caller = %caller.name, "summary email asked");
    let sent = state
        .channels
        .digests(true)
        .await
        .map_err(|e| ApiError::new(model::Classify::class(&e), model::error::chain(&e)))?;
    if sent.is_empty() {
        return Err(ApiError::new(
            ErrorClass::NotFound,
            "no enabled email provider: add a [[channels.provider]] of kind email",
        ));
    }
    Ok(success(json!({"sent_to": sent})))
}

fn inbound_error(error: &channels::ChannelError) -> Response {
    ApiError::new(model::Classify::class(error), model::error::chain(error)).into_response()
}

/// `POST /api/v1/channels/{id}/telegram`: Telegram's webhook, checked against the provider's
/// `X-Telegram-Bot-Api-Secret-Token`.
pub async fn telegram_webhook(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let secret = header(&headers, "x-telegram-bot-api-secret-token");
    match state.channels.telegram_webhook(&id, secret, &body).await {
        Ok(()) => success(json!({})),
        Err(e) => inbound_error(&e),
    }
}

/// `POST /api/v1/channels/{id}/slack/interactions`: a Block Kit button press, verified by
/// `X-Slack-Signature`; answered at once (the outcome goes to its `response_url`).
pub async fn slack_interactions(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let result = state
        .channels
        .slack_interaction(
            &id,
            header(&headers, "x-slack-request-timestamp"),
            header(&headers, "x-slack-signature"),
            &body,
        )
        .await;
    match result {
        Ok(()) => axum::http::StatusCode::OK.into_response(),
        Err(e) => inbound_error(&e),
    }
}

/// `POST /api/v1/channels/{id}/slack/commands`: a slash command, verified by
/// `X-Slack-Signature`, answered with Slack's message JSON within 3 s.
pub async fn slack_commands(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match read(body).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let result = state
        .channels
        .slack_command(
            &id,
            header(&headers, "x-slack-request-timestamp"),
            header(&headers, "x-slack-signature"),
            &body,
        )
        .await;
    match result {
        Ok(answer) => axum::Json(answer).into_response(),
        Err(e) => inbound_error(&e),
    }
}
