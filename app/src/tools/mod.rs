//! The read-only investigation tools: one catalogue with bounded, JSON-schema'd inputs and one
//! implementation, run through the tools API (a workspace's Run buttons), MCP clients, the draft and the model.
//!
//! Invariants: every tool only reads (the one write is its result, kept in the ledger as a
//! content-addressed evidence snapshot the draft and the model cite); every call is authorized
//! ([`Operation::RunTool`], then the operation of what it reads) and bounded (time range, rows,
//! result bytes, calls per minute per caller); a tool whose data source is not configured
//! answers that plainly and never invents data.

pub mod args;
mod cluster;
mod signals;

use crate::config::ToolsConfig;
use crate::{App, AppError, Caller, Operation, authorize};
pub use args::{ArgProblem, Args, Param, ParamKind};
use args::{ParamKind as K, parse};
use incident::Snapshot;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// One read-only tool of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tool {
    IncidentsList,
    IncidentsGet,
    FindingsList,
    EvidenceList,
    WindowsQuery,
    LogsRecent,
    EventsList,
    HttpSignalsRecent,
    HttpSignalsHistory,
    AsyncBacklogRecent,
    MessagingTransportRecent,
    RuntimeHealthGet,
    ClusterOverviewGet,
    NodesList,
    PodsList,
    RolloutHistory,
    ReleaseDriftSummary,
    ActionsList,
    AuditList,
}

const LIMIT: Param = Param::optional("limit", K::Limit, "most rows returned");
const SINCE: Param = Param::optional(
    "since",
    K::Time,
    "start: RFC 3339, Unix milliseconds, or a duration ago such as 30m",
);
const UNTIL: Param = Param::optional(
    "until",
    K::Time,
    "end: RFC 3339, Unix milliseconds, or a duration ago; default now",
);
const NAMESPACE: Param = Param::optional("namespace", K::Text, "Kubernetes namespace");
const TARGET: Param = Param::optional(
    "target",
    K::Text,
    "workload, service, pod or job name (a pod also matches its workload)",
);
const NODE: Param = Param::optional("node", K::Text, "node name");
const SOURCE: Param = Param::optional(
    "source",
    K::Text,
    "data source (tenant or cluster); default every source",
);
const INCIDENT: Param = Param::optional("incident", K::Text, "incident id, e.g. inc-...");
const SERVICE: Param = Param::optional(
    "service",
    K::Text,
    "service or workload name (service, app, destination_workload, deployment, job label)",
);
const WINDOW: Param = Param::optional(
    "window",
    K::OneOf(&["1m", "5m", "15m"]),
    "trailing window the signals are computed over; default 5m",
);

impl Tool {
    pub const ALL: [Tool; 19] = [
        Tool::IncidentsList,
        Tool::IncidentsGet,
        Tool::FindingsList,
        Tool::EvidenceList,
        Tool::WindowsQuery,
        Tool::LogsRecent,
        Tool::EventsList,
        Tool::HttpSignalsRecent,
        Tool::HttpSignalsHistory,
        Tool::AsyncBacklogRecent,
        Tool::MessagingTransportRecent,
        Tool::RuntimeHealthGet,
        Tool::ClusterOverviewGet,
        Tool::NodesList,
        Tool::PodsList,
        Tool::RolloutHistory,
        Tool::ReleaseDriftSummary,
        Tool::ActionsList,
        Tool::AuditList,
    ];

    /// The catalogue name, e.g. `incidents.list`.
    pub fn name(self) -> &'static str {
        match self {
            Tool::IncidentsList => "incidents.list",
            Tool::IncidentsGet => "incidents.get",
            Tool::FindingsList => "findings.list",
            Tool::EvidenceList => "evidence.list",
            Tool::WindowsQuery => "windows.query",
            Tool::LogsRecent => "logs.recent",
            Tool::EventsList => "events.list",
            Tool::HttpSignalsRecent => "http_signals.recent",
            Tool::HttpSignalsHistory => "http_signals.history",
            Tool::AsyncBacklogRecent => "async_backlog.recent",
            Tool::MessagingTransportRecent => "messaging_transport.recent",
            Tool::RuntimeHealthGet => "runtime_health.get",
            Tool::ClusterOverviewGet => "cluster_overview.get",
            Tool::NodesList => "nodes.list",
            Tool::PodsList => "pods.list",
            Tool::RolloutHistory => "rollout.history",
            Tool::ReleaseDriftSummary => "release_drift.summary",
            Tool::ActionsList => "actions.list",
            Tool::AuditList => "audit.list",
        }
    }

    /// The name for function-calling APIs that refuse dots: `incidents.list` →
    /// `incidents_list` (also what MCP lists, so MCP clients can hand it to any model).
    pub fn function_name(self) -> String {
        self.name().replace('.', "_")
    }

    /// A tool by catalogue name or function name.
    pub fn from_name(name: &str) -> Option<Tool> {
        Tool::ALL
            .into_iter()
            .find(|t| t.name() == name || t.function_name() == name)
    }

    /// What it answers, for people and models.
    pub fn description(self) -> &'static str {
        match self {
            Tool::IncidentsList => {
                "Incidents newest first, optionally by status, severity, domain or source."
            }
            Tool::IncidentsGet => "One incident with its findings, evidence and timeline.",
            Tool::FindingsList => {
                "Findings (deduplicated detector and alert sightings) of one incident, or the latest of all."
            }
            Tool::EvidenceList => {
                "Evidence of an incident (metric windows, events, log signatures and stored tool results), or one stored tool result by its evidence id."
            }
            Tool::WindowsQuery => {
                "Window aggregates (count, min, max, avg, last, p50/p95/p99, slope, rate, increase) of the series a Prometheus selector matches."
            }
            Tool::LogsRecent => {
                "Recent log lines of a namespace or workload, newest first, optionally only those containing text or at a level and above."
            }
            Tool::EventsList => "Kubernetes events from the cluster watch, newest first.",
            Tool::HttpSignalsRecent => {
                "Request rate, error ratio (5xx) and latency percentiles per service over a trailing window."
            }
            Tool::HttpSignalsHistory => {
                "Request rate, error ratio and p95 latency of one service, step by step over a time range."
            }
            Tool::AsyncBacklogRecent => {
                "Queue and backlog depths (NATS JetStream pending, Kafka lag, RabbitMQ, Celery, Sidekiq) with their trend."
            }
            Tool::MessagingTransportRecent => {
                "Messaging transport health from the exporters' series: consumer lag, slow consumers, disconnects and reconnect storms."
            }
            Tool::RuntimeHealthGet => {
                "The runtime dependency probes (NATS, Redis, PostgreSQL, HTTP, TCP) and their last results."
            }
            Tool::ClusterOverviewGet => {
                "The watched cluster at a glance: nodes and their conditions, pods by phase, workloads not available."
            }
            Tool::NodesList => {
                "Nodes with readiness, pressure conditions, cordoning and kubelet version."
            }
            Tool::PodsList => "Pods with phase, readiness, restarts and waiting reasons.",
            Tool::RolloutHistory => {
                "Rollouts, image, scaling and config changes of a workload: from the cluster watch and from kube-state-metrics in the windows."
            }
            Tool::ReleaseDriftSummary => {
                "Helm releases whose live state drifts from the release (not ready, generation behind, images differ, partial apply)."
            }
            Tool::ActionsList => {
                "Remediation actions proposed, with their policy decision and fate."
            }
            Tool::AuditList => "The newest audit log entries and whether the hash chain verifies.",
        }
    }

    /// Its parameters.
    pub fn params(self) -> &'static [Param] {
        match self {
            Tool::IncidentsList => {
                const {
                    &[
                        Param::optional(
                            "status",
                            K::OneOf(&[
                                "observed",
                                "triaged",
                                "contained",
                                "escalated",
                                "recovering",
                                "resolved",
                                "suppressed",
                            ]),
                            "only incidents in this status",
                        ),
                        Param::optional(
                            "severity",
                            K::OneOf(&["info", "warning", "critical"]),
                            "only this severity",
                        ),
                        Param::optional(
                            "domain",
                            K::OneOf(&[
                                "infrastructure",
                                "runtime_services",
                                "application_services",
                                "network_ingress",
                                "identity_security",
                                "release_configuration",
                                "operator_channels",
                            ]),
                            "only this domain",
                        ),
                        SOURCE,
                        LIMIT,
                    ]
                }
            }
            Tool::IncidentsGet => {
                const { &[Param::required("id", K::Text, "incident id, e.g. inc-...")] }
            }
            Tool::FindingsList => const { &[INCIDENT, LIMIT] },
            Tool::EvidenceList => {
                const {
                    &[
                        INCIDENT,
                        Param::optional(
                            "id",
                            K::Text,
                            "a stored tool result's evidence id (tool-...)",
                        ),
                        LIMIT,
                    ]
                }
            }
            Tool::WindowsQuery => {
                const {
                    &[
                        Param::required(
                            "selector",
                            K::Text,
                            "Prometheus series selector, e.g. http_requests_total{namespace=\"shop\"}",
                        ),
                        Param::optional("window", K::Span, "trailing window, e.g. 5m; default 5m"),
                        Param::optional(
                            "at",
                            K::Time,
                            "where the window ends; default each source's newest data",
                        ),
                        Param::optional("by", K::Labels, "group the series by these labels"),
                        SOURCE,
                        LIMIT,
                    ]
                }
            }
            Tool::LogsRecent => {
                const {
                    &[
                        NAMESPACE,
                        TARGET,
                        Param::optional(
                            "contains",
                            K::Text,
                            "only lines containing this text (any case)",
                        ),
                        Param::optional(
                            "level",
                            K::OneOf(&["debug", "info", "warn", "error", "fatal"]),
                            "only lines at this level or above",
                        ),
                        SINCE,
                        UNTIL,
                        LIMIT,
                    ]
                }
            }
            Tool::EventsList => {
                const {
                    &[
                        SOURCE,
                        NAMESPACE,
                        TARGET,
                        NODE,
                        Param::optional(
                            "reason",
                            K::Text,
                            "only events with this reason, e.g. BackOff",
                        ),
                        SINCE,
                        UNTIL,
                        LIMIT,
                    ]
                }
            }
            Tool::HttpSignalsRecent => const { &[SERVICE, NAMESPACE, WINDOW, SOURCE, LIMIT] },
            Tool::HttpSignalsHistory => {
                const {
                    &[
                        Param::required("service", K::Text, "service or workload name"),
                        NAMESPACE,
                        SINCE,
                        UNTIL,
                        Param::optional(
                            "step",
                            K::Span,
                            "distance between points, at least 1m; default 1m",
                        ),
                        SOURCE,
                    ]
                }
            }
            Tool::AsyncBacklogRecent => const { &[NAMESPACE, TARGET, WINDOW, SOURCE, LIMIT] },
            Tool::MessagingTransportRecent => const { &[NAMESPACE, TARGET, WINDOW, SOURCE, LIMIT] },
            Tool::RuntimeHealthGet => {
                const {
                    &[Param::optional(
                        "name",
                        K::Text,
                        "only the dependency of this name",
                    )]
                }
            }
            Tool::ClusterOverviewGet => const { &[SOURCE, NODE] },
            Tool::NodesList => const { &[SOURCE, NODE, LIMIT] },
            Tool::PodsList => const { &[SOURCE, NAMESPACE, TARGET, NODE, LIMIT] },
            Tool::RolloutHistory => {
                const {
                    &[
                        Param::required("namespace", K::Text, "Kubernetes namespace"),
                        Param::required(
                            "target",
                            K::Text,
                            "the deployment (or one of its pods) whose rollouts to read",
                        ),
                        SOURCE,
                        SINCE,
                        UNTIL,
                        LIMIT,
                    ]
                }
            }
            Tool::ReleaseDriftSummary => const { &[SOURCE, NAMESPACE, TARGET, LIMIT] },
            Tool::ActionsList => const { &[INCIDENT, LIMIT] },
            Tool::AuditList => const { &[INCIDENT, LIMIT] },
        }
    }

    /// Whether it reads the cluster watch (and so answers "no cluster configured" without one).
    pub fn reads_cluster(self) -> bool {
        matches!(
            self,
            Tool::EventsList
                | Tool::ClusterOverviewGet
                | Tool::NodesList
                | Tool::PodsList
                | Tool::ReleaseDriftSummary
        )
    }
}

/// One catalogue entry as surfaces show it.
#[derive(Debug, Clone, Serialize)]
pub struct ToolSpec {
    /// `incidents.list`.
    pub name: &'static str,
    /// `incidents_list`, for function-calling APIs and MCP.
    pub function_name: String,
    pub description: &'static str,
    /// JSON schema of the arguments object.
    pub input_schema: Value,
    /// Always true: no tool changes anything.
    pub read_only: bool,
}

/// The catalogue with the schemas the configured bounds give.
pub fn catalogue(config: &ToolsConfig) -> Vec<ToolSpec> {
    Tool::ALL
        .into_iter()
        .map(|tool| ToolSpec {
            name: tool.name(),
            function_name: tool.function_name(),
            description: tool.description(),
            input_schema: args::schema(tool.params(), config.max_results),
            read_only: true,
        })
        .collect()
}

/// A tool's answer: its result and the evidence id it is kept under.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolAnswer {
    /// What the draft and the model cite (`tool-...`).
    pub evidence_id: String,
    pub tool: &'static str,
    /// One sentence for people.
    pub summary: String,
    /// Whether rows were cut to `[tools] max_result_bytes` or `limit`.
    pub truncated: bool,
    pub result: Value,
}

/// What one tool computed before it is bounded and stored.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) summary: String,
    pub(crate) result: Value,
    /// Rows left out by `limit`.
    pub(crate) cut: bool,
}

impl Outcome {
    pub(crate) fn new(summary: impl Into<String>, result: Value) -> Self {
        Self {
            summary: summary.into(),
            result,
            cut: false,
        }
    }

    /// A data source the tool needs is not configured: said plainly, never faked.
    pub(crate) fn unavailable(reason: impl Into<String>) -> Self {
        let reason = reason.into();
        Self::new(
            reason.clone(),
            json!({"available": false, "reason": reason}),
        )
    }
}

/// Calls per caller per minute (a fixed window per wall-clock minute), bounded in callers.
#[derive(Debug, Default)]
pub struct RateBook {
    calls: parking_lot::Mutex<HashMap<String, (i64, u32)>>,
}

/// Callers remembered at once; past it, earlier minutes' entries are forgotten.
const MAX_CALLERS: usize = 10_000;

impl RateBook {
    /// Counts a call of `who` at `now_ms`; `Err(seconds to wait)` over `per_minute`.
    pub fn take(&self, who: &str, per_minute: u32, now_ms: i64) -> Result<(), u32> {
        let minute = now_ms.div_euclid(60_000);
        let mut calls = self.calls.lock();
        if calls.len() >= MAX_CALLERS && !calls.contains_key(who) {
            calls.retain(|_, (m, _)| *m == minute);
        }
        let entry = calls.entry(who.to_owned()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if entry.1 >= per_minute {
            let wait_ms = (minute + 1) * 60_000 - now_ms;
            return Err(u32::try_from((wait_ms + 999) / 1000).unwrap_or(60).max(1));
        }
        entry.1 += 1;
        Ok(())
    }
}

/// Who a tool runs for, and what its result belongs to.
#[derive(Debug, Clone, Copy)]
pub struct RunFor<'a> {
    /// The incident the result is gathered for (stored with it; `evidence.list` shows it).
    pub incident: Option<&'a str>,
    /// Recorded as who ran it, when not the caller's name (`draft`, `model`).
    pub ran_by: Option<&'a str>,
    /// Counted against the caller's calls per minute (not for the draft's own bounded plan).
    pub rate_limited: bool,
}

impl Default for RunFor<'_> {
    fn default() -> Self {
        Self {
            incident: None,
            ran_by: None,
            rate_limited: true,
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    crate::remediation::now_ms()
}

fn argument(tool: Tool, problem: ArgProblem) -> AppError {
    AppError::ToolArgument {
        tool: tool.name(),
        argument: problem.argument,
        reason: problem.reason,
    }
}

impl App {
    /// The tool catalogue with its schemas.
    pub fn tools(&self, caller: &Caller) -> Result<Vec<ToolSpec>, AppError> {
        authorize(caller, Operation::ListTools)?;
        Ok(catalogue(&self.config.tools))
    }

    /// Runs the read-only tool `name` (catalogue or function name) with `args` (a JSON
    /// object) for `caller`; the result is stored as evidence and returned with its id.
    pub async fn run_tool(
        &self,
        caller: &Caller,
        name: &str,
        args: &Value,
    ) -> Result<ToolAnswer, AppError> {
        self.run_tool_for(caller, name, args, RunFor::default())
            .await
    }

    /// [`App::run_tool`] for an incident's investigation (the draft's plan, the model's loop).
    pub async fn run_tool_for(
        &self,
        caller: &Caller,
        name: &str,
        given: &Value,
        run_for: RunFor<'_>,
    ) -> Result<ToolAnswer, AppError> {
        authorize(caller, Operation::RunTool)?;
        let tool = Tool::from_name(name).ok_or_else(|| AppError::NotFound {
            what: "tool",
            id: name.to_owned(),
        })?;
        let limits = &self.config.tools;
        let now = now_ms();
        if run_for.rate_limited {
            self.tool_rate
                .take(&caller.name, limits.calls_per_minute, now)
                .map_err(|retry_after_secs| AppError::ToolRate {
                    per_minute: limits.calls_per_minute,
                    retry_after_secs,
                })?;
        }
        let args = parse(tool.params(), given, limits.max_results, now)
            .map_err(|problem| argument(tool, problem))?;
        let outcome = self.compute(caller, tool, &args, now).await?;
        let (result, cut) = bound(outcome.result, limits.max_result_bytes);
        let truncated = cut || outcome.cut;
        let given = Value::Object(args.given.clone());
        let incident = run_for
            .incident
            .or(args.text("incident"))
            .map(str::to_owned);
        let snapshot = Snapshot {
            id: Snapshot::id_of(tool.name(), &given, &result),
            tool: tool.name().to_owned(),
            args: given,
            incident_id: incident,
            ran_by: run_for.ran_by.unwrap_or(&caller.name).to_owned(),
            at_ms: now,
            summary: outcome.summary,
            result,
            truncated,
        };
        self.ledger()
            .store_snapshot(&snapshot, limits.max_snapshots)
            .await
            .map_err(|source| AppError::Ledger { source })?;
        Ok(ToolAnswer {
            evidence_id: snapshot.id,
            tool: tool.name(),
            summary: snapshot.summary,
            truncated,
            result: snapshot.result,
        })
    }

    async fn compute(
        &self,
        caller: &Caller,
        tool: Tool,
        args: &Args,
        now: i64,
    ) -> Result<Outcome, AppError> {
        let limits = &self.config.tools;
        let max = limits.max_results;
        let max_range = i64::try_from(limits.max_range.as_millis()).unwrap_or(i64::MAX);
        let range = |default_ms: i64| {
            args.range(now, default_ms, max_range)
                .map_err(|problem| argument(tool, problem))
        };
        match tool {
            Tool::IncidentsList => {
                let filter = incident::IncidentFilter::parse(
                    args.text("status"),
                    args.text("severity"),
                    args.text("domain"),
                )
                .and_then(|f| f.with_source(args.text("source")))
                .map_err(|e| match e {
                    incident::Error::InvalidFilter { field, value } => argument(
                        tool,
                        ArgProblem::new(field, format!("{value:?} is not a known value")),
                    ),
                    other => AppError::Ledger { source: other },
                })?;
                let limit = args.limit(50, max);
                let list = self
                    .incidents(caller, &filter, u32::try_from(limit).unwrap_or(u32::MAX))
                    .await?;
                let open = list
                    .iter()
                    .filter(|i| {
                        !matches!(
                            i.status,
                            model::IncidentStatus::Resolved | model::IncidentStatus::Suppressed
                        )
                    })
                    .count();
                Ok(Outcome::new(
                    format!("{} incidents, {open} not resolved", list.len()),
                    json!({ "incidents": list }),
                ))
            }
            Tool::IncidentsGet => {
                let id = args.text("id").unwrap_or_default();
                let detail = self.incident(caller, id).await?;
                Ok(Outcome::new(
                    format!("{}: {}", detail.summary.id, detail.summary.summary),
                    json!({ "incident": detail }),
                ))
            }
            Tool::FindingsList => {
                let limit = args.limit(50, max);
                let mut findings = match args.text("incident") {
                    Some(id) => {
                        let detail = self.incident(caller, id).await?;
                        detail.findings
                    }
                    None => {
                        self.candidates(caller, u32::try_from(limit).unwrap_or(u32::MAX))
                            .await?
                    }
                };
                let cut = findings.len() > limit;
                findings.truncate(limit);
                let mut outcome = Outcome::new(
                    format!("{} findings", findings.len()),
                    json!({ "findings": findings }),
                );
                outcome.cut = cut;
                Ok(outcome)
            }
            Tool::EvidenceList => self.evidence_list(caller, tool, args, max).await,
            Tool::WindowsQuery => self.windows_query(caller, tool, args, max),
            Tool::LogsRecent => {
                let (since, until) = range(3_600_000)?;
                self.logs_recent(caller, args, since, until, max).await
            }
            Tool::HttpSignalsRecent => signals::http_recent(self, caller, args, max),
            Tool::HttpSignalsHistory => {
                let (since, until) = range(30 * 60_000)?;
                signals::http_history(self, caller, tool, args, since, until)
            }
            Tool::AsyncBacklogRecent => signals::backlog(self, caller, args, max),
            Tool::MessagingTransportRecent => signals::messaging(self, caller, args, max),
            Tool::RolloutHistory => {
                let (since, until) = range(6 * 3_600_000)?;
                cluster::rollout_history(self, caller, args, since, until, max)
            }
            Tool::RuntimeHealthGet => cluster::runtime_health(self, caller, args),
            Tool::EventsList
            | Tool::ClusterOverviewGet
            | Tool::NodesList
            | Tool::PodsList
            | Tool::ReleaseDriftSummary => {
                let events_range = if matches!(tool, Tool::EventsList) {
                    Some(range(3_600_000)?)
                } else {
                    None
                };
                cluster::read(self, caller, tool, args, max, events_range)
            }
            Tool::ActionsList => {
                let limit = args.limit(50, max);
                let mut list = self.actions(caller, args.text("incident")).await?;
                list.sort_by_key(|a| std::cmp::Reverse(a.updated_at_ms));
                let cut = list.len() > limit;
                list.truncate(limit);
                if self.remediation.is_none() {
                    return Ok(Outcome::unavailable(
                        "remediation is off (no [policy] file), so no action was ever proposed",
                    ));
                }
                let mut outcome = Outcome::new(
                    format!("{} actions", list.len()),
                    json!({ "actions": list }),
                );
                outcome.cut = cut;
                Ok(outcome)
            }
            Tool::AuditList => {
                let limit = args.limit(50, max);
                match self.audit(caller, args.text("incident"), limit).await {
                    Ok(view) => Ok(Outcome::new(
                        format!(
                            "{} of {} audit entries; the chain {}",
                            view.entries.len(),
                            view.total,
                            if view.chain.ok {
                                "verifies"
                            } else {
                                "does NOT verify"
                            }
                        ),
                        json!({ "audit": view }),
                    )),
                    Err(AppError::RemediationOff) => Ok(Outcome::unavailable(
                        "remediation is off (no [policy] file), so there is no audit log",
                    )),
                    Err(other) => Err(other),
                }
            }
        }
    }

    async fn evidence_list(
        &self,
        caller: &Caller,
        tool: Tool,
        args: &Args,
        max: usize,
    ) -> Result<Outcome, AppError> {
        let limit = args.limit(100, max);
        if let Some(id) = args.text("id") {
            authorize(caller, Operation::GetIncident)?;
            let snapshot = self
                .ledger()
                .snapshot(id)
                .await
                .map_err(|source| AppError::Ledger { source })?
                .ok_or_else(|| AppError::NotFound {
                    what: "evidence",
                    id: id.to_owned(),
                })?;
            return Ok(Outcome::new(
                format!("{} ({}): {}", snapshot.id, snapshot.tool, snapshot.summary),
                json!({ "snapshot": snapshot }),
            ));
        }
        let Some(incident) = args.text("incident") else {
            return Err(argument(
                tool,
                ArgProblem::new("incident", "or id is required"),
            ));
        };
        let detail = self.incident(caller, incident).await?;
        let mut evidence = detail.evidence;
        let snapshots = self
            .ledger()
            .snapshots(Some(incident), u32::try_from(limit).unwrap_or(u32::MAX))
            .await
            .map_err(|source| AppError::Ledger { source })?;
        let cut = evidence.len() > limit;
        evidence.truncate(limit);
        let mut outcome = Outcome::new(
            format!(
                "{} evidence items and {} stored tool results of {incident}",
                evidence.len(),
                snapshots.len()
            ),
            json!({ "evidence": evidence, "tool_results": snapshots }),
        );
        outcome.cut = cut;
        Ok(outcome)
    }

    fn windows_query(
        &self,
        caller: &Caller,
        tool: Tool,
        args: &Args,
        max: usize,
    ) -> Result<Outcome, AppError> {
        let text = args.text("selector").unwrap_or_default();
        let selector = windows::Selector::parse(text)
            .map_err(|e| argument(tool, ArgProblem::new("selector", model::error::chain(&e))))?;
        let retention = self.sources.config().retention_ms;
        let window_ms = args.span_ms("window").unwrap_or(300_000);
        if window_ms > retention {
            return Err(argument(
                tool,
                ArgProblem::new(
                    "window",
                    format!(
                        "is longer than the windows keep ({})",
                        args::span_words(retention)
                    ),
                ),
            ));
        }
        let query = windows::WindowQuery {
            selectors: vec![selector],
            window: windows::WindowSpan { ms: window_ms },
            at_ms: args.time("at"),
            by: args.labels("by").map(<[String]>::to_vec),
        };
        let mut answer = self.windows(caller, args.text("source"), &query)?;
        let limit = args.limit(50, max);
        let total = answer.series.len();
        answer.series.truncate(limit);
        let mut outcome = Outcome::new(
            format!(
                "{total} series match {text} over {}",
                args::span_words(window_ms)
            ),
            json!({ "windows": answer, "matched": total }),
        );
        outcome.cut = total > limit;
        Ok(outcome)
    }

    async fn logs_recent(
        &self,
        caller: &Caller,
        args: &Args,
        since: i64,
        until: i64,
        max: usize,
    ) -> Result<Outcome, AppError> {
        authorize(caller, Operation::IncidentLogs)?;
        let limit = args.limit(100, max);
        let namespace = args.text("namespace");
        let target = args
            .text("target")
            .map(|name| model::Target::new(model::Scope::Service, namespace, name));
        let contains = args.text("contains").map(str::to_lowercase);
        let level = args.text("level").and_then(rca::Level::from_word);
        let keep = |line: &rca::LogLine| {
            line.at_ms >= since
                && line.at_ms < until
                && namespace.is_none_or(|ns| line.labels.get("namespace") == Some(ns))
                && target
                    .as_ref()
                    .is_none_or(|t| rca::logstore::belongs_to(&line.labels, t))
                && contains
                    .as_deref()
                    .is_none_or(|c| line.message.to_lowercase().contains(c))
                && level.is_none_or(|l| line.level() >= l)
        };
        let mut matched = 0usize;
        let mut lines: Vec<Value> = Vec::new();
        {
            let store = self.logs.lock();
            for line in store.recent().rev().filter(|l| keep(l)) {
                matched += 1;
                if lines.len() < limit {
                    lines.push(line_json(line));
                }
            }
        }
        let mut from = "pushed lines";
        if matched == 0
            && let Some(loki) = self.loki_source()
            && (namespace.is_some() || target.is_some())
        {
            from = "Loki";
            let scope = rca::loki::LogScope::for_target(
                model::Scope::Deployment,
                target.as_ref().map_or("", |t| t.name.as_str()),
                namespace,
            );
            let labels = rca::loki::ScopeLabels {
                service: loki.service_label.to_owned(),
                ..rca::loki::ScopeLabels::default()
            };
            let mut filters = Vec::new();
            if let Some(text) = args.text("contains") {
                filters.push(rca::loki::LineFilter::Contains(text.to_owned()));
            }
            let query = rca::loki::LogQuery {
                selector: rca::loki::StreamSelector::for_scope(&scope, &labels),
                filters,
                start_ns: since.saturating_mul(1_000_000),
                end_ns: until.saturating_mul(1_000_000),
                max_entries: limit.min(loki.max_lines).max(1),
            };
            let pull = loki
                .client
                .query_range(&query)
                .await
                .map_err(|source| AppError::Query {
                    what: "querying Loki",
                    class: model::Classify::class(&source),
                    source: Box::new(source),
                })?;
            let mut pulled: Vec<rca::LogLine> = pull
                .batch
                .streams
                .iter()
                .flat_map(|s| {
                    s.entries.iter().map(|e| {
                        rca::LogLine::new(
                            e.timestamp_ns.div_euclid(1_000_000),
                            s.labels.clone(),
                            e.line.clone(),
                        )
                    })
                })
                .filter(|l| level.is_none_or(|want| l.level() >= want))
                .collect();
            pulled.sort_by_key(|a| std::cmp::Reverse(a.at_ms));
            matched = pulled.len();
            lines = pulled.iter().take(limit).map(line_json).collect();
        }
        let mut outcome = Outcome::new(
            format!(
                "{matched} log lines from {from} between {} and {}",
                incident::record::rfc3339::format(since),
                incident::record::rfc3339::format(until)
            ),
            json!({
                "from": from,
                "since": incident::record::rfc3339::format(since),
                "until": incident::record::rfc3339::format(until),
                "matched": matched,
                "lines": lines,
            }),
        );
        outcome.cut = matched > limit;
        Ok(outcome)
    }
}

/// Longest log message returned, in characters.
const MAX_LINE_CHARS: usize = 2_000;

fn line_json(line: &rca::LogLine) -> Value {
    let mut message: String = line.message.chars().take(MAX_LINE_CHARS).collect();
    if message.len() < line.message.len() {
        message.push('…');
    }
    json!({
        "at": incident::record::rfc3339::format(line.at_ms),
        "level": line.level(),
        "labels": line.labels,
        "message": message,
    })
}

/// Cuts `result` to at most `max_bytes` of JSON by dropping rows from the end of its largest
/// list; `true` when anything was cut.
fn bound(mut result: Value, max_bytes: usize) -> (Value, bool) {
    let size = |v: &Value| serde_json::to_vec(v).map_or(usize::MAX, |b| b.len());
    if size(&result) <= max_bytes {
        return (result, false);
    }
    while let Some(list) = largest_list(&mut result) {
        if list.is_empty() {
            break;
        }
        let keep = list.len() / 2;
        list.truncate(keep);
        if size(&result) <= max_bytes {
            return (result, true);
        }
    }
    let text = serde_json::to_string(&result).unwrap_or_default();
    let cut: String = text.chars().take(max_bytes.saturating_sub(64)).collect();
    (json!({ "truncated_json": cut }), true)
}

/// The longest non-empty array anywhere in `value` (by element count).
fn largest_list(value: &mut Value) -> Option<&mut Vec<Value>> {
    fn longest(value: &Value) -> usize {
        match value {
            Value::Array(list) => list.iter().map(longest).max().unwrap_or(0).max(list.len()),
            Value::Object(map) => map.values().map(longest).max().unwrap_or(0),
            _ => 0,
        }
    }
    let len = longest(value);
    if len == 0 {
        return None;
    }
    find_list(value, len)
}

fn find_list(value: &mut Value, len: usize) -> Option<&mut Vec<Value>> {
    if matches!(value, Value::Array(list) if list.len() == len) {
        return value.as_array_mut();
    }
    match value {
        Value::Array(list) => list.iter_mut().find_map(|v| find_list(v, len)),
        Value::Object(map) => map.values_mut().find_map(|v| find_list(v, len)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_both_ways() {
        for tool in Tool::ALL {
            assert_eq!(Tool::from_name(tool.name()), Some(tool));
            assert_eq!(Tool::from_name(&tool.function_name()), Some(tool));
            assert!(!tool.function_name().contains('.'));
            assert!(
                tool.function_name()
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
            );
        }
        assert_eq!(Tool::IncidentsList.function_name(), "incidents_list");
        assert_eq!(Tool::from_name("kubectl.delete"), None);
    }

    #[test]
    fn every_plan_tool_of_the_draft_is_in_the_catalogue() {
        for name in rca::catalogue::TOOLS {
            assert!(Tool::from_name(name).is_some(), "{name}");
        }
    }

    #[test]
    fn results_are_cut_to_their_byte_bound() {
        let rows: Vec<Value> = (0..1000)
            .map(|i| json!({"row": i, "pad": "x".repeat(40)}))
            .collect();
        let (cut, truncated) = bound(json!({"rows": rows, "note": "kept"}), 4096);
        assert!(truncated);
        assert!(serde_json::to_vec(&cut).unwrap().len() <= 4096);
        assert_eq!(cut["note"], "kept");
        assert!(!cut["rows"].as_array().unwrap().is_empty());
        let (same, truncated) = bound(json!({"rows": [1, 2]}), 4096);
        assert!(!truncated);
        assert_eq!(same, json!({"rows": [1, 2]}));
    }

    #[test]
    fn calls_per_minute_per_caller() {
        let book = RateBook::default();
        let t = 60_000 * 100 + 30_000;
        assert!(book.take("a", 2, t).is_ok());
        assert!(book.take("a", 2, t).is_ok());
        assert_eq!(book.take("a", 2, t), Err(30));
        assert!(book.take("b", 2, t).is_ok());
        assert!(book.take("a", 2, t + 30_000).is_ok());
    }
}
