//! The shared state of a running server and the router built from it, so tests drive the very
//! same router in-process (`tower::ServiceExt::oneshot`) or over a real socket.

use crate::api;
use crate::auth::{self, Tokens};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::{Pipeline, load_rules};
use crate::remediation::Remediation;
use anyhow::Context;
use axum::Router;
use axum::routing::{get, post};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::Semaphore;
use windows::Store;

/// Everything a request handler may touch.
#[derive(Debug)]
pub struct AppState {
    pub config: Config,
    pub store: Arc<Store>,
    pub metrics: Metrics,
    pub tokens: Tokens,
    /// Every identity that may call, with its role: `--token-file` (admin) and
    /// `[auth] tokens_file`; approvers of `policy.approvers_file` are resolved beside them.
    pub identities: app::Identities,
    /// Permits for write requests being decoded; none left means 503.
    pub ingest_slots: Semaphore,
    /// Bytes the windows held at the last refresh (kept cheap to read on the write path).
    pub bytes_held: AtomicU64,
    pub ready: AtomicBool,
    /// Rules and incidents, advanced in event time by the detection loop.
    pub pipeline: Pipeline,
    /// Log templates and per-template line counts of pushed logs.
    pub logs: parking_lot::Mutex<rca::logstore::LogStore>,
    /// Actions under policy, approvals and the audit log; `None` without `policy.file`.
    pub remediation: Option<Arc<Remediation>>,
    /// Loki client for incidents' log context, from `[rca.loki]`.
    pub loki: Option<rca::loki::LokiClient>,
}

impl AppState {
    /// Opens the ledger (SQLite in the data dir, or `incidents.ledger_url`), loads the rules and
    /// builds the state.
    pub async fn open(config: Config, tokens: Tokens) -> anyhow::Result<Arc<Self>> {
        let ledger = match &config.incidents.ledger_url {
            Some(url) => incident::Ledger::connect(url)
                .await
                .context("connecting to the incident ledger")?,
            None => incident::Ledger::open_dir(&config.server.data_dir)
                .await
                .with_context(|| {
                    format!(
                        "opening the incident ledger in {}",
                        config.server.data_dir.display()
                    )
                })?,
        };
        let engine = incident::IncidentEngine::open(ledger, config.incidents.correlation.clone())
            .await
            .context("restoring open incidents from the ledger")?;
        let rules = load_rules(config.detect.rules_file.as_deref()).context("loading rules")?;
        let off = anomaly::AnomalyConfig {
            enabled: false,
            ..anomaly::AnomalyConfig::default()
        };
        let anomaly = anomaly::LiveAnomaly::new(config.anomaly.as_ref().unwrap_or(&off))
            .context("building the anomaly detectors from [anomaly]")?;
        let pipeline = Pipeline::new(rules, &config.detect, anomaly, engine);
        let store = Arc::new(Store::new(config.windows.clone()));
        let metrics = Metrics::new(Arc::clone(&store));
        let ingest_slots = Semaphore::new(config.ingest.max_inflight);
        let loki = match &config.rca.loki {
            Some(section) => Some(loki_client(section)?),
            None => None,
        };
        let mut identities = app::Identities::default();
        if let Some(token) = &tokens.read_write {
            identities.add(
                app::Caller {
                    name: "token-file".to_owned(),
                    role: app::Role::Admin,
                    policy_role: None,
                },
                token,
            );
        }
        if let Some(path) = &config.auth.tokens_file {
            identities
                .load_file(path)
                .context("loading [auth] tokens_file")?;
        }
        let remediation = Remediation::open(&config.policy, &config.server.data_dir)
            .context("starting remediation under policy")?
            .map(Arc::new);
        let state = Arc::new(Self {
            config,
            store,
            metrics,
            tokens,
            identities,
            ingest_slots,
            bytes_held: AtomicU64::new(0),
            ready: AtomicBool::new(true),
            pipeline,
            logs: parking_lot::Mutex::new(rca::logstore::LogStore::default()),
            remediation,
            loki,
        });
        if let Some(remediation) = &state.remediation {
            remediation.spawn(&state);
        }
        Ok(state)
    }

    /// Re-reads the bytes the windows hold (called by a background tick and after writes).
    pub fn refresh_bytes_held(&self) {
        self.bytes_held
            .store(self.store.stats().bytes as u64, Ordering::Relaxed);
    }
}

/// The Loki query client of `[rca.loki]`.
fn loki_client(section: &crate::config::LokiSection) -> anyhow::Result<rca::loki::LokiClient> {
    let bearer_token = match &section.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading rca.loki.token_file {}", path.display()))?
                .trim()
                .to_owned(),
        ),
        None => None,
    };
    rca::loki::LokiClient::new(rca::loki::LokiConfig {
        base_url: section.url.clone(),
        tenant: section.tenant.clone(),
        bearer_token,
        tls: section.tls_config.clone(),
        ..rca::loki::LokiConfig::default()
    })
    .context("building the Loki client of [rca.loki]")
}

/// The whole HTTP API.
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
        .route("/api/v1/rules/reload", post(api::incidents::reload_rules))
        .route("/api/v1/actions", get(api::remediation::actions))
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
        .route("/loki/api/v1/push", post(api::logs::push))
        .route("/metrics", get(api::ops::metrics))
        .route("/healthz", get(api::ops::healthz))
        .route("/readyz", get(api::ops::readyz))
        // A route layer, so the middleware sees the matched route and knows its operation.
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            auth::require_token,
        ))
        // Bodies are read with our own limit so oversize answers carry our message.
        .layer(axum::extract::DefaultBodyLimit::disable());
    api.with_state(state)
}
