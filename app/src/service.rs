//! [`App`]: the running application — windows, detection, incidents, drafts, remediation — and
//! every query and command a surface may issue on a caller's behalf, each authorized first.
//!
//! Surfaces (HTTP API, workspace, chat channels, MCP) authenticate their callers, then call
//! these methods; none of them reads the ledger or the remediation book around this layer.

use crate::config::{Config, LokiSection};
use crate::live_rca::{LokiSource, draft_with, find_incident, log_context};
use crate::pipeline::{Pipeline, load_rules};
use crate::remediation::{
    ActionEntry, AnswerError, OutcomeCount, PolicyReload, ReloadError, Remediation,
    RemediationError,
};
use crate::{Caller, Identities, Operation, Role, authorize};
use model::{Action, Classify, ErrorClass, LabelSet};
use policy::{ApprovalRequest, ApprovalStatus, ApproverIdentity, IssuedToken, PauseState};
use rca::RcaReport;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use windows::{Selector, Sources, WindowQuery};

/// Why the application could not start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("connecting to the incident ledger")]
    Ledger {
        #[source]
        source: incident::Error,
    },
    #[error("restoring open incidents from the ledger")]
    Restore {
        #[source]
        source: incident::Error,
    },
    #[error("loading rules")]
    Rules {
        #[source]
        source: detect::RuleError,
    },
    #[error("building the anomaly detectors from [anomaly]")]
    Anomaly {
        #[source]
        source: anomaly::AnomalyError,
    },
    #[error("reading rca.loki.token_file {path}")]
    LokiToken {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("building the Loki client of [rca.loki]")]
    Loki {
        #[source]
        source: rca::loki::QueryError,
    },
    #[error("loading [auth] tokens_file")]
    Tokens {
        #[source]
        source: crate::AuthError,
    },
    #[error("starting remediation under policy")]
    Remediation {
        #[source]
        source: RemediationError,
    },
    #[error("starting the cluster watches and dependency probes")]
    Signals {
        #[source]
        source: crate::cluster_signals::SignalsError,
    },
    #[error("loading the suppression windows")]
    Workspace {
        #[source]
        source: Box<AppError>,
    },
}

/// Why an operation was not done. Surfaces map [`Classify::class`] to their own answers
/// (HTTP statuses, chat refusals, MCP tool errors).
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The caller may not run the operation (or is not known).
    #[error(transparent)]
    Auth(crate::AuthError),
    #[error("no {what} {id:?}")]
    NotFound { what: &'static str, id: String },
    #[error("{reason}")]
    Invalid { reason: String },
    #[error("remediation is off: set [policy] file in the configuration")]
    RemediationOff,
    #[error("the model is busy with {calls} interpretations; retry after {retry_after_secs}s")]
    ModelBusy { calls: usize, retry_after_secs: u32 },
    #[error("reading the incident ledger")]
    Ledger {
        #[source]
        source: incident::Error,
    },
    #[error("{what}")]
    Query {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
        class: ErrorClass,
    },
    /// An approval answer refused (expired, reused, by policy, ...).
    #[error(transparent)]
    Answer(AnswerError),
    /// A policy reload refused; the running policy stays.
    #[error(transparent)]
    Reload(ReloadError),
    #[error("remediation could not keep its records")]
    Remediation {
        #[source]
        source: RemediationError,
    },
    /// A tool argument refused: names the tool and the argument.
    #[error("{tool}: argument `{argument}` {reason}")]
    ToolArgument {
        tool: &'static str,
        argument: String,
        reason: String,
    },
    /// More tool calls than `[tools] calls_per_minute` from one caller.
    #[error("more than {per_minute} tool calls this minute; retry after {retry_after_secs}s")]
    ToolRate {
        per_minute: u32,
        retry_after_secs: u32,
    },
}

impl Classify for AppError {
    fn class(&self) -> ErrorClass {
        match self {
            AppError::Auth(error) => error.class(),
            AppError::NotFound { .. } | AppError::RemediationOff => ErrorClass::NotFound,
            AppError::ModelBusy {
                retry_after_secs, ..
            } => ErrorClass::RateLimited {
                retry_after_secs: *retry_after_secs,
            },
            AppError::Invalid { .. } | AppError::ToolArgument { .. } => ErrorClass::InvalidInput,
            AppError::ToolRate {
                retry_after_secs, ..
            } => ErrorClass::RateLimited {
                retry_after_secs: *retry_after_secs,
            },
            AppError::Ledger { source } => source.class(),
            AppError::Query { class, .. } => *class,
            AppError::Answer(error) => match error {
                AnswerError::Refused { .. } => ErrorClass::InvalidInput,
                AnswerError::Storage { source } => source.class(),
            },
            AppError::Reload(error) => error.class(),
            AppError::Remediation { source } => source.class(),
        }
    }
}

impl From<crate::AuthError> for AppError {
    fn from(error: crate::AuthError) -> Self {
        AppError::Auth(error)
    }
}

fn ledger(source: incident::Error) -> AppError {
    AppError::Ledger { source }
}

/// How far ingest and detection have come in event time: the newest of every source at the
/// top, and each source on its own clock.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The newest watermark of any source.
    pub watermark: Option<i64>,
    /// The furthest event time any source was evaluated to.
    pub evaluated_through: Option<i64>,
    /// Whether every source is evaluated up to its watermark.
    pub caught_up: bool,
    pub active_series: usize,
    pub rules: usize,
    pub ticks: u64,
    pub candidates: u64,
    pub tls: bool,
    pub sources: Vec<SourceStatus>,
    /// Each `[[cluster]]`'s watches, per kind.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub clusters: Vec<crate::cluster_signals::ClusterStatus>,
    /// Each `[[loki.query]]`'s polls: lines or samples taken, cursor, last error.
    pub loki_queries: Vec<crate::loki_pull::QueryStatus>,
    /// Each `[[dependencies]]` entry's last probe.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<cluster::DependencyStatus>,
}

/// One source's clock and what it holds.
#[derive(Debug, Clone, Serialize)]
pub struct SourceStatus {
    pub source: String,
    pub watermark: Option<i64>,
    pub evaluated_through: Option<i64>,
    pub caught_up: bool,
    pub active_series: usize,
    pub samples: usize,
    /// Samples stored since start (the windows forget old ones; this count does not).
    pub stored_total: u64,
    pub bytes: usize,
    /// Samples dropped since start, by reason.
    pub dropped: BTreeMap<String, u64>,
}

/// A series and the source it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct SourcedSeries {
    pub source: String,
    pub labels: LabelSet,
}

/// The robot's pause switch and what each action achieved so far.
#[derive(Debug, Clone, Serialize)]
pub struct RobotView {
    pub paused: bool,
    pub changed_by: Option<String>,
    pub changed_at_ms: Option<i64>,
    pub reason: Option<String>,
    pub outcomes: BTreeMap<String, OutcomeCount>,
}

/// The audit chain's state and its newest entries.
#[derive(Debug, Clone, Serialize)]
pub struct AuditView {
    pub chain: ChainState,
    /// Entries that matched, before the limit.
    pub total: usize,
    pub entries: Vec<policy::AuditEntry>,
}

/// Whether the audit chain verifies, and how many entries it holds.
#[derive(Debug, Clone, Serialize)]
pub struct ChainState {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What an Alertmanager payload became.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AlertsSubmitted {
    pub alerts: usize,
    pub changes: usize,
}

/// The running application: every surface holds one `Arc<App>`.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    /// Every source's windows, each on its own event-time clock.
    pub sources: Arc<Sources>,
    /// Rules and incidents, advanced in event time by the detection loop.
    pub pipeline: Pipeline,
    /// Log templates and per-template line counts of pushed logs.
    pub logs: parking_lot::Mutex<rca::logstore::LogStore>,
    /// Actions under policy, approvals and the audit log; `None` without `policy.file`.
    pub remediation: Option<Arc<Remediation>>,
    /// Loki client for incidents' log context, from `[rca.loki]`.
    pub loki: Option<rca::loki::LokiClient>,
    /// Every identity that may call, with its role: the admin token and `[auth] tokens_file`;
    /// approvers of `policy.approvers_file` are resolved beside them.
    pub identities: Identities,
    /// The model's latest interpretation per incident, with the digest of the draft it read:
    /// served while the draft is unchanged; only a regeneration calls the model.
    interpretations: parking_lot::Mutex<BTreeMap<String, (String, RcaReport)>>,
    /// The last run of each incident's plan (when, what), reused for a minute.
    pub(crate) plan_runs: parking_lot::Mutex<BTreeMap<String, (i64, rca::Investigation)>>,
    /// Model calls at once; a regeneration beyond them answers 429 with `Retry-After`.
    pub(crate) model_calls: tokio::sync::Semaphore,
    /// The clusters' watches and the dependency probes, feeding the pipeline.
    pub signals: crate::cluster_signals::ClusterSignals,
    /// Read-only tool calls per caller this minute.
    pub(crate) tool_rate: crate::tools::RateBook,
    /// Each `[[loki.query]]`'s polls so far.
    pub loki_queries: crate::loki_pull::Statuses,
    /// Set when the pollers should stop (a server shutting down in this process).
    pub pollers_stopped: std::sync::atomic::AtomicBool,
    /// Demo scenarios played into this server, newest first.
    pub demos: parking_lot::Mutex<std::collections::VecDeque<crate::demo_run::DemoRun>>,
}

/// Interpretations kept (one per incident); past it, one is forgotten to make room.
const MAX_INTERPRETATIONS: usize = 1_000;

/// Model calls allowed at once.
pub(crate) const MODEL_CALLS: usize = 2;

/// Seconds a caller is told to wait when every model call is taken.
pub(crate) const MODEL_RETRY_AFTER_SECS: u32 = 5;

/// A stable digest of a draft: an interpretation belongs to exactly the draft it read.
fn draft_digest(draft: &rca::Draft) -> String {
    use sha2::{Digest, Sha256};
    let bytes = serde_json::to_vec(draft).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

impl App {
    /// Opens the ledger (SQLite in the data dir, or `incidents.ledger_url`), loads the rules,
    /// the identities (`admin_token` is one admin identity, as `--token-file` gives) and the
    /// policy, and starts following incidents with remediation. Needs a tokio runtime.
    pub async fn open(config: Config, admin_token: Option<&str>) -> Result<Arc<Self>, OpenError> {
        let ledger = match &config.incidents.ledger_url {
            Some(url) => incident::Ledger::connect(url).await,
            None => incident::Ledger::open_dir(&config.server.data_dir).await,
        }
        .map_err(|source| OpenError::Ledger { source })?;
        let book_ledger = ledger.clone();
        let engine = incident::IncidentEngine::open(ledger, config.incidents.correlation.clone())
            .await
            .map_err(|source| OpenError::Restore { source })?;
        let rules = load_rules(crate::rules_edit::rules_source(&config).as_deref())
            .map_err(|source| OpenError::Rules { source })?;
        // Without an `[anomaly]` section the golden signals are watched.
        let golden = anomaly::AnomalyConfig::golden_signals();
        let pipeline = Pipeline::new(
            rules,
            &config.detect,
            config.anomaly.as_ref().unwrap_or(&golden),
            engine,
        )
        .map_err(|source| OpenError::Anomaly { source })?;
        let sources = Arc::new(Sources::new(config.windows.clone()));
        let loki = config
            .loki_endpoint()
            .as_ref()
            .map(loki_client)
            .transpose()?;
        let mut identities = Identities::default();
        if let Some(token) = admin_token {
            identities.add(
                Caller {
                    name: "token-file".to_owned(),
                    role: Role::Admin,
                    policy_role: None,
                },
                token,
            );
        }
        if let Some(path) = &config.auth.tokens_file {
            identities
                .load_file(path)
                .map_err(|source| OpenError::Tokens { source })?;
        }
        let remediation = Remediation::open(&config.policy, &config.server.data_dir, book_ledger)
            .await
            .map_err(|source| OpenError::Remediation { source })?
            .map(Arc::new);
        let signals = crate::cluster_signals::ClusterSignals::start(
            config.clusters(),
            config.dependencies.clone(),
        )
        .await
        .map_err(|source| OpenError::Signals { source })?;
        let app = Arc::new(Self {
            config,
            sources,
            pipeline,
            logs: parking_lot::Mutex::new(rca::logstore::LogStore::default()),
            remediation,
            loki,
            identities,
            loki_queries: std::sync::Arc::default(),
            pollers_stopped: std::sync::atomic::AtomicBool::new(false),
            interpretations: parking_lot::Mutex::new(BTreeMap::new()),
            plan_runs: parking_lot::Mutex::new(BTreeMap::new()),
            model_calls: tokio::sync::Semaphore::new(MODEL_CALLS),
            signals,
            tool_rate: crate::tools::RateBook::default(),
            demos: parking_lot::Mutex::new(std::collections::VecDeque::new()),
        });
        app.sync_policy_suppressions()
            .await
            .map_err(|source| OpenError::Workspace {
                source: Box::new(source),
            })?;
        if let Some(remediation) = &app.remediation {
            remediation.spawn(&app);
        }
        app.signals.forward(Arc::downgrade(&app));
        tokio::spawn(Arc::clone(&app).run_suggestions());
        Ok(app)
    }

    /// Who a bearer token names: an approver of `policy.approvers_file` (auth role `approve`
    /// with its policy role), else an identity of the admin token or `[auth] tokens_file`.
    pub fn authenticate(&self, bearer: Option<&str>) -> Result<Caller, crate::AuthError> {
        let approver = bearer.and_then(|token| {
            self.remediation
                .as_ref()
                .and_then(|r| r.approver(token.trim()))
        });
        match approver {
            Some(who) => Ok(Caller {
                name: who.name,
                role: Role::Approve,
                policy_role: Some(who.role),
            }),
            None => self.identities.authenticate(bearer),
        }
    }

    fn remediation(&self) -> Result<&Arc<Remediation>, AppError> {
        self.remediation.as_ref().ok_or(AppError::RemediationOff)
    }

    pub(crate) fn ledger(&self) -> &incident::Ledger {
        self.pipeline.engine.ledger()
    }

    /// The detection loop: every second of wall time (or as soon as samples arrive),
    /// evaluates every event-time tick the watermark has passed and feeds the incident
    /// engine. A backlog is worked off in passes within a per-second budget, so catching up
    /// never starves ingest. Runs until the runtime stops.
    pub async fn run_detection(self: Arc<Self>) {
        use crate::pipeline::{MAX_TICKS_PER_PASS, MAX_TICKS_PER_SECOND};
        loop {
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {},
                () = self.pipeline.wake.notified() => {},
            }
            let mut started = tokio::time::Instant::now();
            let mut budget = MAX_TICKS_PER_SECOND;
            loop {
                match self.pipeline.catch_up(&self.sources).await {
                    Ok(progress) if progress.backlog => {
                        budget = budget.saturating_sub(progress.ticks.max(MAX_TICKS_PER_PASS));
                        if budget == 0 {
                            tokio::time::sleep_until(started + std::time::Duration::from_secs(1))
                                .await;
                            budget = MAX_TICKS_PER_SECOND;
                            started = tokio::time::Instant::now();
                        } else {
                            tokio::task::yield_now().await;
                        }
                    }
                    Ok(_) => break,
                    Err(error) => {
                        tracing::error!(error = %model::error::chain(&error), "detection tick failed; retrying");
                        break;
                    }
                }
            }
        }
    }

    /// What a reload signal (SIGHUP) does: the rules file and the policy file are read again;
    /// a bad file is logged and the old rules or policy stay.
    pub async fn reload_on_signal(&self) {
        match load_rules(crate::rules_edit::rules_source(&self.config).as_deref()) {
            Ok(rules) => {
                let count = self.pipeline.reload(rules);
                tracing::info!(rules = count, "rules reloaded on SIGHUP");
            }
            Err(error) => {
                tracing::error!(error = %model::error::chain(&error), "rules not reloaded");
            }
        }
        if let Some(remediation) = &self.remediation {
            remediation.reload_policy_logged("SIGHUP").await;
        }
        if let Err(error) = self.sync_policy_suppressions().await {
            tracing::error!(error = %model::error::chain(&error), "policy suppression windows not synced");
        }
    }

    // ---- queries -------------------------------------------------------------------------

    /// Incidents matching `filter`, newest first.
    pub async fn incidents(
        &self,
        caller: &Caller,
        filter: &incident::IncidentFilter,
        limit: u32,
    ) -> Result<Vec<incident::IncidentSummary>, AppError> {
        authorize(caller, Operation::ListIncidents)?;
        self.ledger().summaries(filter, limit).await.map_err(ledger)
    }

    /// One incident with its findings, evidence and timeline.
    pub async fn incident(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<incident::IncidentDetail, AppError> {
        authorize(caller, Operation::GetIncident)?;
        self.ledger()
            .detail(id)
            .await
            .map_err(ledger)?
            .ok_or_else(|| AppError::NotFound {
                what: "incident",
                id: id.to_owned(),
            })
    }

    /// Findings (deduplicated candidates), latest first.
    pub async fn candidates(
        &self,
        caller: &Caller,
        limit: u32,
    ) -> Result<Vec<incident::Finding>, AppError> {
        authorize(caller, Operation::ListCandidates)?;
        self.ledger().candidates(limit).await.map_err(ledger)
    }

    /// The incident's root-cause draft, always built fresh from the ledger and the windows.
    /// With a model configured, reading (`regenerate = false`) serves the interpretation last
    /// made of this very draft, if any, and never calls the model; regenerating (operate
    /// role) calls it, within [`MODEL_CALLS`] at once, and keeps the answer.
    pub async fn draft(
        &self,
        caller: &Caller,
        id: &str,
        regenerate: bool,
    ) -> Result<RcaReport, AppError> {
        let operation = if regenerate {
            Operation::RegenerateDraft
        } else {
            Operation::GetDraft
        };
        authorize(caller, operation)?;
        let fixes = match &self.remediation {
            Some(remediation) => recovered_by(&remediation.actions().await),
            None => BTreeMap::new(),
        };
        let topology = self.config.topology.topology();
        let sources = crate::live_rca::Sources {
            logs: Some(&self.logs),
            windows: Some(&self.sources),
            fixes: Some(&fixes),
            loki: self.loki_source(),
            topology: Some(&topology),
            ..crate::live_rca::Sources::default()
        };
        let mut draft = draft_with(self.ledger(), sources, id)
            .await
            .map_err(|e| live_error(e, id))?;
        let Some(config) = &self.config.rca.llm else {
            // No model: the draft runs its plan's read-only tools and cites their results.
            let investigation = self.planned(&mut draft).await;
            let mut report = RcaReport::draft_only(draft);
            report.investigation = Some(investigation);
            return Ok(report);
        };
        let digest = draft_digest(&draft);
        if !regenerate {
            let cached = self.interpretations.lock().get(id).cloned();
            return Ok(match cached {
                Some((of, report)) if of == digest => report,
                _ => {
                    let investigation = self.planned(&mut draft).await;
                    let mut report = RcaReport::draft_only(draft);
                    report.investigation = Some(investigation);
                    report
                }
            });
        }
        let _permit = self
            .model_calls
            .try_acquire()
            .map_err(|_| AppError::ModelBusy {
                calls: MODEL_CALLS,
                retry_after_secs: MODEL_RETRY_AFTER_SECS,
            })?;
        // Investigation mode: the model calls the read-only tools first (bounded), and its
        // interpretation may cite what they found; without it the plan runs itself.
        let investigation = if config.max_tool_calls > 0 {
            self.investigate(&mut draft, config).await
        } else {
            self.run_plan(&mut draft).await
        };
        let mut report = match rca::Interpreter::new(config.clone()) {
            Ok(interpreter) => interpreter.report(draft).await,
            Err(error) => {
                tracing::warn!(error = %model::error::chain(&error), "model client not built; draft only");
                RcaReport::draft_only(draft)
            }
        };
        report.investigation = Some(investigation);
        let mut cache = self.interpretations.lock();
        if cache.len() >= MAX_INTERPRETATIONS && !cache.contains_key(id) {
            cache.pop_first();
        }
        cache.insert(id.to_owned(), (digest, report.clone()));
        Ok(report)
    }

    /// The incident's compact log context: pushed lines, else pulled from Loki.
    pub async fn incident_logs(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<rca::LogContext, AppError> {
        authorize(caller, Operation::IncidentLogs)?;
        let incident = find_incident(self.ledger(), id)
            .await
            .map_err(|e| live_error(e, id))?;
        let sources = crate::live_rca::Sources {
            logs: Some(&self.logs),
            loki: self.loki_source(),
            ..crate::live_rca::Sources::default()
        };
        let context = log_context(&sources, &incident.target, incident.opened_at_ms).await;
        Ok(context.unwrap_or_default())
    }

    pub(crate) fn loki_source(&self) -> Option<LokiSource<'_>> {
        let client = self.loki.as_ref()?;
        let (service_label, max_lines) = match (&self.config.rca.loki, &self.config.loki) {
            (Some(s), _) => (s.service_label.as_str(), s.max_lines),
            (None, Some(l)) => (l.service_label.as_str(), l.max_lines),
            (None, None) => return None,
        };
        Some(LokiSource {
            client,
            service_label,
            max_lines,
        })
    }

    /// How far ingest and detection have come in event time, every source and each one.
    pub fn status(&self, caller: &Caller) -> Result<Status, AppError> {
        authorize(caller, Operation::Status)?;
        let pipeline = &self.pipeline;
        let (clusters, dependencies) = self.signals.status();
        let sources: Vec<SourceStatus> = self
            .sources
            .list()
            .into_iter()
            .map(|(name, store)| {
                let stats = store.stats();
                SourceStatus {
                    watermark: store.watermark_ms(),
                    evaluated_through: pipeline.evaluated_through_of(&name),
                    caught_up: pipeline.caught_up_source(&name, &store),
                    active_series: stats.active_series,
                    samples: stats.samples,
                    stored_total: store.stored_total(),
                    bytes: stats.bytes,
                    dropped: stats
                        .dropped_by_reason()
                        .map(|(reason, n)| (reason.to_owned(), n))
                        .collect(),
                    source: name,
                }
            })
            .collect();
        Ok(Status {
            watermark: sources.iter().filter_map(|s| s.watermark).max(),
            evaluated_through: pipeline.evaluated_through(),
            caught_up: sources.iter().all(|s| s.caught_up),
            active_series: sources.iter().map(|s| s.active_series).sum(),
            rules: pipeline.rule_count(),
            ticks: pipeline.ticks_total.load(Ordering::Relaxed),
            candidates: pipeline.candidates_total.load(Ordering::Relaxed),
            tls: self.config.server.tls_cert.is_some(),
            sources,
            clusters,
            loki_queries: self.loki_queries.lock().clone(),
            dependencies,
        })
    }

    /// Checks a `source` a caller named: a malformed name is refused, an unknown one is
    /// simply empty.
    fn named_source(source: Option<&str>) -> Result<Option<&str>, AppError> {
        if let Some(name) = source {
            model::check_source(name).map_err(|e| AppError::Invalid {
                reason: format!("source: {e}"),
            })?;
        }
        Ok(source)
    }

    /// Every series any selector matches, in one source or all, each with its source.
    pub fn series(
        &self,
        caller: &Caller,
        source: Option<&str>,
        selectors: &[Selector],
    ) -> Result<BTreeSet<SourcedSeries>, AppError> {
        authorize(caller, Operation::Series)?;
        let source = Self::named_source(source)?;
        Ok(selectors
            .iter()
            .flat_map(|selector| self.sources.select(source, selector))
            .map(|(source, info)| SourcedSeries {
                source,
                labels: info.labels,
            })
            .collect())
    }

    /// Window aggregates of the selected series, in one source or all (each row names its
    /// source and is taken at its source's own watermark).
    pub fn windows(
        &self,
        caller: &Caller,
        source: Option<&str>,
        query: &WindowQuery,
    ) -> Result<windows::WindowResult, AppError> {
        authorize(caller, Operation::Windows)?;
        let source = Self::named_source(source)?;
        Ok(self.sources.window(source, query))
    }

    /// A read-only SQL query over every source's windows within the `[sql]` limits.
    pub async fn sql(
        &self,
        caller: &Caller,
        query: &str,
    ) -> Result<windows::sql::SqlAnswer, AppError> {
        authorize(caller, Operation::Sql)?;
        windows::sql::SqlEngine::shared()
            .query_sources(self.sources.list(), query, self.config.sql.limits())
            .await
            .map_err(|source| AppError::Query {
                what: "SQL query",
                class: source.class(),
                source: Box::new(source),
            })
    }

    /// Every proposed action with its decision and fate, of one incident or all.
    pub async fn actions(
        &self,
        caller: &Caller,
        incident: Option<&str>,
    ) -> Result<Vec<ActionEntry>, AppError> {
        authorize(caller, Operation::ListActions)?;
        let Some(r) = &self.remediation else {
            return Ok(Vec::new());
        };
        let mut list = r.actions().await;
        list.retain(|a| incident.is_none_or(|i| i == a.incident_id));
        Ok(list)
    }

    /// Each incident's climb up its ladder (newest first), of one incident or all.
    pub async fn ladders(
        &self,
        caller: &Caller,
        incident: Option<&str>,
    ) -> Result<Vec<crate::remediation::LadderRun>, AppError> {
        authorize(caller, Operation::ListActions)?;
        let Some(r) = &self.remediation else {
            return Ok(Vec::new());
        };
        let mut list = r.ladder_runs().await;
        list.retain(|run| incident.is_none_or(|i| i == run.incident_id));
        Ok(list)
    }

    /// The ladders in force: the running remediation's, else the built-in ones with
    /// `policy.playbooks_file`'s.
    pub fn playbooks(&self, caller: &Caller) -> Result<Vec<policy::Ladder>, AppError> {
        authorize(caller, Operation::ViewPolicy)?;
        let books = match &self.remediation {
            Some(r) => r.playbooks(),
            None => Arc::new(
                crate::remediation::load_playbooks(self.config.policy.playbooks_file.as_deref())
                    .map_err(|errors| AppError::Invalid {
                        reason: errors.to_string(),
                    })?,
            ),
        };
        Ok(books.ladders().cloned().collect())
    }

    /// Approval requests, of one status or all.
    pub async fn approvals(
        &self,
        caller: &Caller,
        status: Option<ApprovalStatus>,
    ) -> Result<Vec<ApprovalRequest>, AppError> {
        authorize(caller, Operation::ListApprovals)?;
        let Some(r) = &self.remediation else {
            return Ok(Vec::new());
        };
        Ok(r.approvals(status).await)
    }

    /// The pause switch and what each action achieved so far.
    pub async fn robot(&self, caller: &Caller) -> Result<RobotView, AppError> {
        authorize(caller, Operation::RobotStatus)?;
        let r = self.remediation()?;
        let pause = r.pause_state().await;
        Ok(RobotView {
            paused: pause.paused,
            changed_by: pause.changed_by,
            changed_at_ms: pause.changed_at_ms,
            reason: pause.reason,
            outcomes: r.outcomes().await,
        })
    }

    /// The newest `limit` audit entries (of one incident, or all) and whether the chain holds.
    pub async fn audit(
        &self,
        caller: &Caller,
        incident: Option<&str>,
        limit: usize,
    ) -> Result<AuditView, AppError> {
        authorize(caller, Operation::Audit)?;
        let me = Arc::clone(self.remediation()?);
        let (verified, entries) = tokio::task::spawn_blocking(move || me.audit_snapshot())
            .await
            .map_err(|e| AppError::Query {
                what: "reading the audit log",
                class: ErrorClass::Internal,
                source: Box::new(e),
            })?;
        let mut entries = entries.map_err(|source| AppError::Query {
            what: "reading the audit log",
            class: source.class(),
            source: Box::new(source),
        })?;
        if let Some(id) = incident {
            entries.retain(|e| e.record.incident_id.as_deref() == Some(id));
        }
        let total = entries.len();
        let entries = entries.split_off(total.saturating_sub(limit));
        let chain = match verified {
            Ok(n) => ChainState {
                ok: true,
                entries: Some(n),
                error: None,
            },
            Err(error) => ChainState {
                ok: false,
                entries: None,
                error: Some(model::error::chain(&error)),
            },
        };
        Ok(AuditView {
            chain,
            total,
            entries,
        })
    }

    // ---- commands ------------------------------------------------------------------------

    /// An Alertmanager webhook payload (version 4) of `source`: firing alerts join the
    /// correlation as candidates, resolved ones as healthy signals; `Ok` once committed.
    pub async fn submit_alerts(
        &self,
        caller: &Caller,
        source: &str,
        body: &[u8],
    ) -> Result<AlertsSubmitted, AppError> {
        authorize(caller, Operation::AlertmanagerWebhook)?;
        Self::named_source(Some(source))?;
        let mut candidates =
            incident::candidates_from_alertmanager(body).map_err(|source| AppError::Query {
                what: "Alertmanager payload",
                class: source.class(),
                source: Box::new(source),
            })?;
        for candidate in &mut candidates {
            candidate.source = source.to_owned();
        }
        let alerts = candidates.len();
        let changes = self.pipeline.submit(candidates).await.map_err(ledger)?;
        Ok(AlertsSubmitted {
            alerts,
            changes: changes.len(),
        })
    }

    /// Findings posted by a team's own watchers (the versioned contract of
    /// [`incident::findings`]) join the correlation as candidates of origin `findings`, in
    /// `source`; a bad finding refuses the whole body, naming it, so nothing is half taken.
    pub async fn submit_findings(
        &self,
        caller: &Caller,
        source: &str,
        body: &[u8],
    ) -> Result<AlertsSubmitted, AppError> {
        authorize(caller, Operation::SubmitFindings)?;
        Self::named_source(Some(source))?;
        let now = chrono::Utc::now().timestamp_millis();
        let mut candidates =
            incident::candidates_from_findings(body, now).map_err(|source| AppError::Query {
                what: "findings body",
                class: source.class(),
                source: Box::new(source),
            })?;
        for candidate in &mut candidates {
            candidate.source = source.to_owned();
        }
        let findings = candidates.len();
        let changes = self.pipeline.submit(candidates).await.map_err(ledger)?;
        Ok(AlertsSubmitted {
            alerts: findings,
            changes: changes.len(),
        })
    }

    /// Re-reads the rules file; on an error the old rules stay. Returns how many rules run.
    pub fn reload_rules(&self, caller: &Caller) -> Result<usize, AppError> {
        authorize(caller, Operation::ReloadRules)?;
        let rules =
            load_rules(crate::rules_edit::rules_source(&self.config).as_deref()).map_err(|e| {
                AppError::Invalid {
                    reason: model::error::chain(&e),
                }
            })?;
        let count = self.pipeline.reload(rules);
        tracing::info!(rules = count, by = %caller.name, "rules reloaded");
        Ok(count)
    }

    /// A fresh single-use approval token for the caller's policy role.
    pub async fn issue_token(&self, caller: &Caller, id: &str) -> Result<IssuedToken, AppError> {
        authorize(caller, Operation::IssueApprovalToken)?;
        self.remediation()?
            .issue_token(id, &approver(caller))
            .await
            .map_err(|source| {
                AppError::Answer(AnswerError::Refused {
                    source,
                    retry_after_ms: None,
                })
            })
    }

    /// Approves a pending action with a token issued for it, optionally with new parameters
    /// (`modified`, which policy decides again); the action runs if policy still allows it.
    pub async fn approve(
        &self,
        caller: &Caller,
        id: &str,
        token: &str,
        modified: Option<Action>,
    ) -> Result<ActionEntry, AppError> {
        let operation = if modified.is_some() {
            Operation::Modify
        } else {
            Operation::Approve
        };
        authorize(caller, operation)?;
        self.remediation()?
            .approve(self, id, token, &approver(caller), modified)
            .await
            .map_err(AppError::Answer)
    }

    /// Rejects a pending action with a token issued for it.
    pub async fn reject(
        &self,
        caller: &Caller,
        id: &str,
        token: &str,
        reason: &str,
    ) -> Result<ActionEntry, AppError> {
        authorize(caller, Operation::Reject)?;
        self.remediation()?
            .reject(id, token, &approver(caller), reason)
            .await
            .map_err(AppError::Answer)
    }

    /// Stops (or, with the approve role, restarts) the robot's automatic actions.
    pub async fn set_paused(
        &self,
        caller: &Caller,
        paused: bool,
        reason: Option<String>,
    ) -> Result<PauseState, AppError> {
        authorize(
            caller,
            if paused {
                Operation::Pause
            } else {
                Operation::Resume
            },
        )?;
        self.remediation()?
            .set_paused(paused, &by(caller), reason)
            .await
            .map_err(|source| AppError::Remediation { source })
    }

    /// Has `policy.file` read again; a bad file is refused and the running policy stays.
    /// Either way the attempt is audited with the old and new file hashes.
    pub async fn reload_policy(&self, caller: &Caller) -> Result<PolicyReload, AppError> {
        authorize(caller, Operation::ReloadPolicy)?;
        let me = Arc::clone(self.remediation()?);
        let by = by(caller);
        let done = tokio::task::spawn_blocking(move || me.reload_policy(&by))
            .await
            .map_err(|e| AppError::Query {
                what: "policy reload",
                class: ErrorClass::Internal,
                source: Box::new(e),
            })?
            .map_err(AppError::Reload)?;
        self.sync_policy_suppressions().await?;
        Ok(done)
    }
}

/// The approver identity of a caller the operations table let answer an approval (it checked
/// the policy role is there).
pub fn approver(caller: &Caller) -> ApproverIdentity {
    ApproverIdentity {
        name: caller.name.clone(),
        role: caller
            .policy_role
            .clone()
            .unwrap_or_else(|| caller.role.to_string()),
    }
}

/// How the audit log names a caller: `name (policy role or auth role)`.
pub fn by(caller: &Caller) -> String {
    let who = approver(caller);
    format!("{} ({})", who.name, who.role)
}

fn live_error(error: crate::live_rca::LiveError, id: &str) -> AppError {
    match error {
        crate::live_rca::LiveError::NoIncident { .. } => AppError::NotFound {
            what: "incident",
            id: id.to_owned(),
        },
        crate::live_rca::LiveError::Ledger { source } => AppError::Ledger { source },
    }
}

/// Incident id → names of the executed actions after which it recovered.
fn recovered_by(actions: &[ActionEntry]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for entry in actions {
        let recovered = entry
            .verification
            .as_ref()
            .is_some_and(|v| v.outcome == crate::remediation::Outcome::Recovered);
        if recovered {
            let names = out.entry(entry.incident_id.clone()).or_default();
            let name = entry.proposed.action.name().to_owned();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    out
}

/// The Loki query client of `[rca.loki]`.
fn loki_client(section: &LokiSection) -> Result<rca::loki::LokiClient, OpenError> {
    let bearer_token = match &section.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|source| OpenError::LokiToken {
                    path: path.clone(),
                    source,
                })?
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
    .map_err(|source| OpenError::Loki { source })
}
