//! The operator workspace: server-rendered pages (askama templates compiled into the binary)
//! with htmx 2 for progressive enhancement and Server-Sent Events for live updates, every
//! asset embedded. Pages read without JavaScript; nothing loads from elsewhere.
//!
//! One more adapter over `app::App`: each route maps to an `app::Operation` in the one route
//! table (`crate::auth::operation_of`), the session's caller is authorized by `app::authorize`
//! before the handler runs, and handlers only call the application and render.

pub mod admin;
pub mod assets;
pub mod chart;
pub mod drawer;
pub mod events;
pub mod inbox;
pub mod list;
pub mod pages;
pub mod session;

use crate::app::AppState;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;

/// The workspace's own state: sign-in sessions, and whether cookies must be `Secure`.
#[derive(Debug)]
pub struct UiState {
    pub sessions: session::Sessions,
    pub tls: bool,
}

impl UiState {
    pub fn new(config: &app::config::Config) -> Self {
        Self {
            sessions: session::Sessions::new(
                config.workspace.session_ttl,
                config.workspace.max_sessions,
            ),
            tls: config.server.tls_cert.is_some(),
        }
    }
}

/// Every workspace route (and `/`), each behind the session check.
pub fn router(state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(pages::root))
        .route("/ui", get(pages::root))
        .route("/ui/", get(pages::root))
        .route("/ui/login", get(pages::login_form).post(pages::login))
        .route("/ui/logout", post(pages::logout))
        .route("/ui/assets/{*path}", get(assets::asset))
        .route("/ui/events", get(events::stream))
        .route("/ui/incidents", get(list::page))
        .route("/ui/incidents/rows", get(list::rows))
        .route("/ui/incidents/{id}", get(drawer::page))
        .route("/ui/incidents/{id}/ack", post(drawer::ack))
        .route("/ui/incidents/{id}/assign", post(drawer::assign))
        .route("/ui/incidents/{id}/comment", post(drawer::comment))
        .route("/ui/incidents/{id}/resolve", post(drawer::resolve))
        .route("/ui/incidents/{id}/merge", post(drawer::merge))
        .route("/ui/incidents/{id}/feedback", post(drawer::give_feedback))
        .route("/ui/incidents/{id}/silence", post(drawer::silence_similar))
        .route("/ui/incidents/{id}/interpret", post(drawer::interpret))
        .route("/ui/incidents/{id}/tools/{tool}", get(drawer::run_tool))
        .route("/ui/approvals", get(inbox::approvals))
        .route("/ui/approvals/{id}/approve", post(inbox::approve))
        .route("/ui/approvals/{id}/reject", post(inbox::reject))
        .route("/ui/approvals/{id}/modify", post(inbox::modify))
        .route("/ui/audit", get(inbox::audit))
        .route("/ui/rules", get(admin::rules))
        .route("/ui/rules/edit/{name}", post(admin::edit_rule))
        .route("/ui/rules/file", post(admin::save_file))
        .route("/ui/rules/allowlist", post(admin::save_allowlist))
        .route("/ui/rules/suggestions/{id}/accept", post(admin::accept))
        .route("/ui/rules/suggestions/{id}/reject", post(admin::reject))
        .route("/ui/settings", get(admin::settings))
        .route("/ui/settings/pause", post(admin::pause))
        .route("/ui/settings/resume", post(admin::resume))
        .route("/ui/settings/simulate", post(admin::simulate))
        .route("/ui/settings/probe", post(admin::probe))
        .route(
            "/ui/settings/suppressions/{id}/remove",
            post(admin::remove_window),
        )
        .route("/ui/demo", get(admin::demo).post(admin::start_demo))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            session::require_session,
        ))
        .layer(axum::middleware::from_fn(pages::security_headers))
}
