//! The shared state of a running server and the router built from it, so tests drive the very
//! same router in-process (`tower::ServiceExt::oneshot`) or over a real socket.

use crate::api;
use crate::auth::{self, Tokens};
use crate::config::Config;
use crate::metrics::Metrics;
use anyhow::Context;
use app::App;
use axum::Router;
use axum::routing::{get, post};
use channels::Channels;
use channels::service::AppOperator;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::Semaphore;

/// What a request handler may touch: the application, and the HTTP edge's own state.
#[derive(Debug)]
pub struct AppState {
    /// The application layer every handler calls with its caller.
    pub app: Arc<App>,
    pub metrics: Metrics,
    pub tokens: Tokens,
    /// Permits for write requests being decoded; none left means 503.
    pub ingest_slots: Semaphore,
    /// Bytes the windows held at the last refresh (kept cheap to read on the write path).
    pub bytes_held: AtomicU64,
    /// Bytes each source's windows held at the last refresh.
    pub source_bytes: parking_lot::RwLock<std::collections::BTreeMap<String, u64>>,
    pub ready: AtomicBool,
    /// Operator channels (Telegram, Slack, Teams, email, webhooks, the in-app feed).
    pub channels: Channels<AppOperator>,
    /// The workspace's sign-in sessions.
    pub ui: crate::ui::UiState,
}

impl AppState {
    /// Opens the application (ledger, rules, identities, policy) and the HTTP edge's state.
    pub async fn open(config: Config, tokens: Tokens) -> anyhow::Result<Arc<Self>> {
        let app = App::open(config, tokens.read_write.as_deref())
            .await
            .context("opening the application")?;
        let metrics = Metrics::new(Arc::clone(&app));
        let ingest_slots = Semaphore::new(app.config.ingest.max_inflight);
        let ui = crate::ui::UiState::new(&app.config);
        let channels = open_channels(&app).await?;
        Ok(Arc::new(Self {
            channels,
            ui,
            app,
            metrics,
            tokens,
            ingest_slots,
            bytes_held: AtomicU64::new(0),
            source_bytes: parking_lot::RwLock::new(std::collections::BTreeMap::new()),
            ready: AtomicBool::new(true),
        }))
    }

    /// Re-reads the bytes the windows hold, every source's and each one's (called by a
    /// background tick).
    pub fn refresh_bytes_held(&self) {
        let per_source: std::collections::BTreeMap<String, u64> = self
            .app
            .sources
            .list()
            .into_iter()
            .map(|(name, store)| (name, store.stats().bytes as u64))
            .collect();
        self.bytes_held
            .store(per_source.values().sum(), Ordering::Relaxed);
        *self.source_bytes.write() = per_source;
    }

    /// 503 with `Retry-After` when the windows (every source's, or `source`'s own) hold more
    /// than their memory budget, so the sender backs off before anything is decoded.
    pub fn over_memory_budget(&self, source: &str) -> Result<(), crate::error::ApiError> {
        let ingest = &self.app.config.ingest;
        let retry_after_secs = ingest.retry_after_secs;
        let unavailable = |message: String| {
            crate::error::ApiError::new(
                model::ErrorClass::Unavailable { retry_after_secs },
                format!("{message}; retry after {retry_after_secs}s"),
            )
        };
        let held = self.bytes_held.load(Ordering::Relaxed);
        if held > ingest.memory_budget_bytes {
            return Err(unavailable(format!(
                "windows hold {held} bytes, over the memory budget of {} bytes (ingest.memory_budget_bytes)",
                ingest.memory_budget_bytes
            )));
        }
        if let Some(budget) = ingest.source_memory_budget_bytes {
            let held = self.source_bytes.read().get(source).copied().unwrap_or(0);
            if held > budget {
                return Err(unavailable(format!(
                    "source {source:?} holds {held} bytes, over its budget of {budget} bytes (ingest.source_memory_budget_bytes)"
                )));
            }
        }
        Ok(())
    }
}

/// The operator channels of `[channels]`, with `policy.notify_webhook` as one more provider
/// of kind `slack` (one message per event; remediation no longer posts to it itself), started
/// and following the application.
async fn open_channels(app: &Arc<App>) -> anyhow::Result<Channels<AppOperator>> {
    let mut loaded = channels::config::load(&app.config.channels)?;
    if let Some(url) = &app.config.policy.notify_webhook {
        loaded.providers.push(channels::Provider::notify_webhook(
            url,
            &app.config.policy.notify_tls_config,
        )?);
    }
    let channels = Channels::open(
        loaded,
        app.pipeline.engine.ledger(),
        AppOperator::new(Arc::clone(app)),
        channels::service::directory(app),
    )
    .await
    .context("opening the operator channels")?;
    channels.spawn();
    channels::service::follow(&channels, app);
    Ok(channels)
}

/// The whole HTTP API and the operator workspace.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/api/v1/write", post(api::write::remote_write))
        .route(
            "/api/v1/series",
            get(api::query::series).post(api::query::series_form),
        )
        .route("/api/v1/windows", get(api::query::windows))
        .route("/api/v1/sql", post(api::query::sql))
        .route("/api/v1/status", get(api::incidents::status))
        .route("/api/v1/incidents", get(api::incidents::list))
        .route("/api/v1/incidents/{id}", get(api::incidents::detail))
        .route(
            "/api/v1/incidents/{id}/rca",
            get(api::rca::get).post(api::rca::regenerate),
        )
        .route("/api/v1/incidents/{id}/logs", get(api::rca::logs))
        .route("/api/v1/candidates", get(api::incidents::candidates))
        .route(
            "/api/v1/alerts/alertmanager",
            post(api::incidents::alertmanager),
        )
        .route("/api/v1/findings", post(api::incidents::findings))
        .route("/v1/metrics", post(api::logs::otlp_metrics))
        .route("/api/v1/doctor", post(api::channels::doctor))
        .route("/api/v1/rules/reload", post(api::incidents::reload_rules))
        .route("/api/v1/incidents/{id}/ack", post(api::operator::ack))
        .route("/api/v1/incidents/{id}/assign", post(api::operator::assign))
        .route(
            "/api/v1/incidents/{id}/comment",
            post(api::operator::comment),
        )
        .route(
            "/api/v1/incidents/{id}/resolve",
            post(api::operator::resolve),
        )
        .route("/api/v1/incidents/{id}/merge", post(api::operator::merge))
        .route("/api/v1/rules/suggestions", get(api::operator::suggestions))
        .route("/api/v1/suppressions", get(api::operator::suppressions))
        .route("/api/v1/policy", get(api::operator::policy))
        .route(
            "/api/v1/rules/suggestions/{id}/accept",
            post(api::operator::accept),
        )
        .route(
            "/api/v1/rules/suggestions/{id}/reject",
            post(api::operator::reject),
        )
        .route("/api/v1/actions", get(api::remediation::actions))
        .route("/api/v1/ladders", get(api::remediation::ladders))
        .route("/api/v1/playbooks", get(api::remediation::playbooks))
        .route("/api/v1/approvals", get(api::remediation::approvals))
        .route(
            "/api/v1/approvals/{id}/token",
            post(api::remediation::issue_token),
        )
        .route(
            "/api/v1/approvals/{id}/approve",
            post(api::remediation::approve),
        )
        .route(
            "/api/v1/approvals/{id}/reject",
            post(api::remediation::reject),
        )
        .route(
            "/api/v1/approvals/{id}/modify",
            post(api::remediation::modify),
        )
        .route("/api/v1/robot", get(api::remediation::robot))
        .route("/api/v1/robot/pause", post(api::remediation::pause))
        .route("/api/v1/robot/resume", post(api::remediation::resume))
        .route("/api/v1/audit", get(api::remediation::audit))
        .route(
            "/api/v1/policy/reload",
            post(api::remediation::reload_policy),
        )
        .route("/api/v1/channels", get(api::channels::list))
        .route("/api/v1/channels/{id}/test", post(api::channels::test))
        .route(
            "/api/v1/channels/{id}/telegram",
            post(api::channels::telegram_webhook),
        )
        .route(
            "/api/v1/channels/{id}/slack/interactions",
            post(api::channels::slack_interactions),
        )
        .route(
            "/api/v1/channels/{id}/slack/commands",
            post(api::channels::slack_commands),
        )
        .route("/api/v1/chat", post(api::channels::chat))
        .route("/api/v1/summary/email", post(api::channels::summary_email))
        .route("/api/v1/tools", get(api::tools::list))
        .route("/api/v1/tools/{name}", post(api::tools::run))
        // MCP's streamable HTTP: the same read-only tools, as the caller authenticated here.
        .route_service(
            "/mcp",
            mcp::http_service(
                Arc::clone(&state.app),
                // Without tokens, only loopback Host names (against DNS rebinding).
                state.app.authenticate(None).is_ok(),
                state.app.config.server.max_request_bytes,
            ),
        )
        .route("/loki/api/v1/push", post(api::logs::push))
        .route("/metrics", get(api::ops::metrics))
        .route("/healthz", get(api::ops::healthz))
        .route("/readyz", get(api::ops::readyz))
        // Route layers, so the middleware sees the matched route: bodies are read within
        // their route's limit only once the caller is authorized (the outer layer).
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            crate::bodies::bound,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_token,
        ))
        // Bodies are read with our own limit so oversize answers carry our message.
        .layer(axum::extract::DefaultBodyLimit::disable());
    api.merge(crate::ui::router(Arc::clone(&state)))
        .with_state(state)
}
