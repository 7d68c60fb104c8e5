//! What every workspace page shares: the header (who is signed in, the CSRF token, the
//! pending approvals count), notices, rendering, refusals, sign-in and sign-out.

use super::session::{FormBody, Signed, cookie, safe_next};
use crate::app::AppState;
use askama::Template;
use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::sync::Arc;

/// The header and notices of a page.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub who: String,
    pub role: String,
    pub csrf: String,
    pub nav: &'static str,
    pub pending: usize,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl Chrome {
    /// The chrome of a page for the signed-in caller; `query` may carry a notice code.
    pub async fn of(
        state: &AppState,
        signed: &Signed,
        nav: &'static str,
        query: Option<&str>,
    ) -> Self {
        let caller = &signed.session.caller;
        let pending = state
            .app
            .approvals(caller, Some(policy::ApprovalStatus::Pending))
            .await
            .map(|a| a.len())
            .unwrap_or(0);
        let role = match &caller.policy_role {
            Some(p) => format!("{} · {p}", caller.role),
            None => caller.role.to_string(),
        };
        Self {
            who: caller.name.clone(),
            role,
            csrf: signed.session.csrf.clone(),
            nav,
            pending,
            notice: query
                .and_then(|q| crate::api::param(q, "ok"))
                .and_then(|code| notice(&code)),
            error: None,
        }
    }
}

/// The fixed sentences a redirect may ask a page to show (never text from the URL).
fn notice(code: &str) -> Option<String> {
    Some(
        match code {
            "ack" => "Acknowledged.",
            "assigned" => "Assigned.",
            "commented" => "Comment added.",
            "resolved" => "Resolved by hand.",
            "merged" => "Merged.",
            "feedback" => "Feedback recorded.",
            "silenced" => "Similar incidents are suppressed for the time you chose.",
            "approved" => "Approved; the action ran under policy.",
            "rejected" => "Rejected.",
            "modified" => "Modified; policy decided again and the action ran.",
            "paused" => "The robot is paused: no automatic action runs.",
            "resumed" => "The robot runs automatic actions again.",
            "rules" => "Rules saved and reloaded.",
            "allowlist" => "Allowlist saved and the policy reloaded.",
            "accepted" => "Suggestion accepted: the rule runs now.",
            "dismissed" => "Suggestion rejected.",
            "removed" => "Suppression window removed.",
            "demo" => "Demo started: the incident opens as its data arrives.",
            _ => return None,
        }
        .to_owned(),
    )
}

/// Renders a template, or says what failed.
pub fn html<T: Template>(template: &T) -> Response {
    html_status(StatusCode::OK, template)
}

pub fn html_status<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(error) => {
            tracing::error!(%error, "workspace page did not render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered",
            )
                .into_response()
        }
    }
}

#[derive(Debug, Template)]
#[template(path = "refusal.html")]
struct Refusal<'a> {
    status: String,
    message: &'a str,
}

/// A small page saying why a request was refused.
pub fn refusal_page(status: StatusCode, message: &str) -> Html<String> {
    let page = Refusal {
        status: status.to_string(),
        message,
    };
    Html(page.render().unwrap_or_else(|_| message.to_owned()))
}

/// A page answering an application error: its status and its message.
pub fn app_error(error: &app::AppError) -> Response {
    let api = crate::error::ApiError::from_app(error);
    let status = api.status();
    (status, refusal_page(status, &api.message)).into_response()
}

/// The element id an evidence id's chart or row carries.
pub fn evidence_anchor(id: &str) -> String {
    let cleaned: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("ev-{cleaned}")
}

/// `303 See Other` to `path` with a notice code.
pub fn done(path: &str, code: &str) -> Response {
    let join = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{join}ok={code}")).into_response()
}

/// `GET /`: the workspace.
pub async fn root() -> Response {
    Redirect::to("/ui/incidents").into_response()
}

#[derive(Debug, Template)]
#[template(path = "login.html")]
struct Login {
    next: String,
    error: Option<String>,
    ttl: String,
}

fn ttl_words(state: &AppState) -> String {
    app::views::span_words(i64::try_from(state.ui.sessions.ttl().as_millis()).unwrap_or(i64::MAX))
}

/// `GET /ui/login`.
pub async fn login_form(
    State(state): State<Arc<AppState>>,
    signed: Option<Extension<Signed>>,
    RawQuery(query): RawQuery,
) -> Response {
    let next = safe_next(
        query
            .as_deref()
            .and_then(|q| crate::api::param(q, "next"))
            .as_deref(),
    );
    if signed.is_some() {
        return Redirect::to(&next).into_response();
    }
    html(&Login {
        next,
        error: None,
        ttl: ttl_words(&state),
    })
}

/// `POST /ui/login`: a token of the roles scheme becomes a session.
pub async fn login(
    State(state): State<Arc<AppState>>,
    Extension(form): Extension<FormBody>,
) -> Response {
    let next = safe_next(form.get("next"));
    let refuse = |status: StatusCode, error: &str| {
        html_status(
            status,
            &Login {
                next: next.clone(),
                error: Some(error.to_owned()),
                ttl: ttl_words(&state),
            },
        )
    };
    if state.ui.sessions.throttled() {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed sign-ins in the last minute; wait a little",
        );
    }
    let token = form.get("token").unwrap_or_default().trim();
    if token.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "give your token");
    }
    let caller = match state.app.authenticate(Some(token)) {
        Ok(caller) => caller,
        Err(_) => {
            state.ui.sessions.failed_sign_in();
            tracing::warn!("workspace sign-in refused: unknown token");
            return refuse(StatusCode::UNAUTHORIZED, "that token is not known here");
        }
    };
    tracing::info!(caller = %caller.name, role = %caller.role, "workspace sign-in");
    let session = state.ui.sessions.create(caller);
    let mut response = Redirect::to(&next).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(Some(&session), state.ui.sessions.ttl(), state.ui.tls),
    );
    response
}

/// `POST /ui/logout`: the session ends here and in the browser.
pub async fn logout(
    State(state): State<Arc<AppState>>,
    signed: Option<Extension<Signed>>,
    Extension(form): Extension<FormBody>,
) -> Response {
    if let Some(Extension(signed)) = signed {
        // A stale or forged sign-out form does not end someone's session.
        let presented = form.get("csrf").unwrap_or_default();
        if app::auth::same_secret(presented.as_bytes(), signed.session.csrf.as_bytes()) {
            state.ui.sessions.remove(&signed.session.id);
        } else {
            return (
                StatusCode::FORBIDDEN,
                refusal_page(
                    StatusCode::FORBIDDEN,
                    "sign-out without the page's CSRF token",
                ),
            )
                .into_response();
        }
    }
    let mut response = Redirect::to("/ui/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie(None, state.ui.sessions.ttl(), state.ui.tls),
    );
    response
}

/// Headers every workspace answer carries: nothing loads from elsewhere, nothing frames it.
pub async fn security_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
             object-src 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
