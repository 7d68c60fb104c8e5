//! What the operator surfaces read beyond the API's rows: the incident list page with counts,
//! an incident's executive summary in plain words, its golden signals and evidence series as
//! chart data, the sources, the running policy, the model probe and read-only plan tools.
//!
//! Each method authorizes first, reads only, and returns data (never markup): surfaces render.

use crate::remediation::{ActionEntry, ActionStatus, Outcome};
use crate::service::{App, AppError};
use crate::{Caller, Operation, authorize};
use incident::{IncidentDetail, IncidentPage, IncidentQuery, IncidentSummary};
use model::IncidentStatus;
use model::{LabelSet, Scope};
use serde::Serialize;
use std::collections::BTreeMap;
use windows::{MatchOp, Matcher, Selector, Store};

/// How far before an incident its baseline window starts.
pub const BASELINE_MS: i64 = 30 * 60_000;

/// Longest incident window charted after the incident opened.
pub const MAX_INCIDENT_WINDOW_MS: i64 = 2 * 3_600_000;

/// Chart buckets are this wide.
const STEP_MS: i64 = 60_000;

/// Metric evidence charted per incident.
const MAX_EVIDENCE_CHARTS: usize = 8;

fn ledger(source: incident::Error) -> AppError {
    AppError::Ledger { source }
}

/// "23 minutes", "about 4 h", "2 days": a span as people say it.
pub fn span_words(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match minutes {
        0 => "under a minute".to_owned(),
        1 => "1 minute".to_owned(),
        2..=89 => format!("{minutes} minutes"),
        90..=2879 => format!("about {} h", (minutes + 30) / 60),
        _ => format!("{} days", minutes / 1440),
    }
}

/// `14:02 UTC` today, else `2026-01-05 14:02 UTC`.
pub fn clock(ms: i64, now_ms: i64) -> String {
    let Some(at) = chrono::DateTime::from_timestamp_millis(ms) else {
        return ms.to_string();
    };
    let same_day = chrono::DateTime::from_timestamp_millis(now_ms)
        .is_some_and(|now| now.date_naive() == at.date_naive());
    if same_day {
        at.format("%H:%M UTC").to_string()
    } else {
        at.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// What a number on a chart is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    PerSecond,
    Ratio,
    Seconds,
    Bytes,
    Plain,
}

impl Unit {
    /// A value as people read it: `12.5/s`, `18.2%`, `950 ms`, `512 MiB`, `3.5`.
    pub fn format(self, value: f64) -> String {
        if !value.is_finite() {
            return "–".to_owned();
        }
        match self {
            Unit::PerSecond => format!("{}/s", short(value)),
            Unit::Ratio => format!("{:.1}%", value * 100.0),
            Unit::Seconds if value.abs() < 1.0 => format!("{:.0} ms", value * 1000.0),
            Unit::Seconds => format!("{} s", short(value)),
            Unit::Bytes => {
                let mut v = value;
                let mut unit = "B";
                for next in ["KiB", "MiB", "GiB", "TiB"] {
                    if v.abs() < 1024.0 {
                        break;
                    }
                    v /= 1024.0;
                    unit = next;
                }
                format!("{} {unit}", short(v))
            }
            Unit::Plain => short(value),
        }
    }

    fn of(metric: &str) -> Unit {
        if metric.ends_with("_bytes") {
            Unit::Bytes
        } else if metric.ends_with("_seconds") {
            Unit::Seconds
        } else if metric.ends_with("_ratio") {
            Unit::Ratio
        } else if metric.ends_with("_total") {
            Unit::PerSecond
        } else {
            Unit::Plain
        }
    }
}

fn short(value: f64) -> String {
    let a = value.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{value:.0}")
    } else if a >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// One chart: a series over the baseline and the incident window, the baseline's mean, the
/// threshold or expected value, and when the incident started.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub title: String,
    /// The series' labels, as Prometheus writes them.
    pub series_labels: String,
    pub unit: Unit,
    /// `(ms, value)` per minute, in time order.
    pub points: Vec<(i64, f64)>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// Where the incident started (its window runs from here to `to_ms`).
    pub incident_start_ms: i64,
    /// Mean over the baseline window (`from_ms` to the start).
    pub baseline: Option<f64>,
    /// Mean over the incident window.
    pub during: Option<f64>,
    /// The rule's threshold or the detector's expected value.
    pub expected: Option<f64>,
    /// The evidence id the chart belongs to, for evidence charts.
    pub evidence_id: Option<String>,
}

/// Similar past incidents and how they ended.
#[derive(Debug, Clone, Serialize)]
pub struct SimilarView {
    pub summary: IncidentSummary,
    /// "resolved after 41 minutes", "still open", ...
    pub ending: String,
    /// Actions after which it recovered.
    pub fixed_by: Vec<String>,
}

/// An incident for a person: the summary in plain words and everything behind it.
#[derive(Debug, Clone, Serialize)]
pub struct Brief {
    pub detail: IncidentDetail,
    /// What, where, since when, how bad, what the robot did or proposes: one sentence each.
    pub executive: Vec<String>,
    pub similar: Vec<SimilarView>,
    pub actions: Vec<ActionEntry>,
}

/// What a model probe found.
#[derive(Debug, Clone, Serialize)]
pub struct ModelProbe {
    pub configured: bool,
    pub backend: String,
    /// The endpoint with everything secret cut.
    pub endpoint: String,
    pub model: String,
    pub ok: bool,
    pub latency_ms: u64,
    /// What went wrong, or what the model answered.
    pub detail: String,
}

/// What a read-only tool returned: a sentence and a table.
#[derive(Debug, Clone, Serialize)]
pub struct ToolResult {
    pub tool: String,
    pub summary: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// The tools of a draft's plan the workspace shows as charts and templates of the incident;
/// every other tool of the catalogue runs through [`crate::tools`] with the incident's scope.
pub const RUNNABLE_TOOLS: [&str; 5] = [
    "evidence.list",
    "logs.recent",
    "metrics.query",
    "windows.query",
    "http_signals.recent",
];

/// Whether the workspace can run `tool` from a draft's plan.
pub fn runnable(tool: &str) -> bool {
    RUNNABLE_TOOLS.contains(&tool) || crate::tools::Tool::from_name(tool).is_some()
}

/// A catalogue result as a table: the rows of its longest list, their first columns.
fn result_table(result: &serde_json::Value) -> (Vec<String>, Vec<Vec<String>>) {
    const MAX_COLUMNS: usize = 6;
    let rows = result
        .as_object()
        .into_iter()
        .flat_map(|o| o.values())
        .filter_map(serde_json::Value::as_array)
        .max_by_key(|list| list.len());
    let Some(rows) = rows else {
        return (vec!["result".to_owned()], vec![vec![result.to_string()]]);
    };
    let columns: Vec<String> = rows
        .first()
        .and_then(serde_json::Value::as_object)
        .map(|o| o.keys().take(MAX_COLUMNS).cloned().collect())
        .unwrap_or_else(|| vec!["value".to_owned()]);
    let cell = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "–".to_owned(),
        other => other.to_string(),
    };
    let table = rows
        .iter()
        .map(|row| match row.as_object() {
            Some(o) => columns
                .iter()
                .map(|c| o.get(c).map_or_else(|| "–".to_owned(), cell))
                .collect(),
            None => vec![cell(row)],
        })
        .collect();
    (columns, table)
}

fn action_words(entry: &ActionEntry) -> String {
    let target = entry.proposed.target.path();
    let verb = match entry.proposed.action.name() {
        "restart_deployment" => format!("restarting {target}"),
        "scale_deployment" => format!("scaling {target}"),
        "rollback_deployment" => format!("rolling back {target}"),
        "cordon_node" => format!("cordoning {target}"),
        "drain_node" => format!("draining {target}"),
        "delete_pods" => format!("deleting finished pods in {target}"),
        "suspend_cron_job" => format!("suspending {target}"),
        "patch_config" => format!("patching {target}"),
        "reconcile_release" => format!("reconciling {target}"),
        "notify" => "telling the channels".to_owned(),
        "collect_evidence" => "collecting more evidence".to_owned(),
        other => format!("{} on {target}", other.replace('_', " ")),
    };
    match entry.status {
        ActionStatus::Executed => {
            let outcome = match entry.verification.as_ref().map(|v| v.outcome) {
                Some(Outcome::Recovered) => "; the incident recovered after it",
                Some(Outcome::Escalated) => "; the incident went on, so it was escalated",
                _ => "",
            };
            format!("The robot did it: {verb}{outcome}.")
        }
        ActionStatus::DryRun => format!("The robot decided on {verb} (recorded as a dry run)."),
        ActionStatus::PendingApproval => format!(
            "The robot proposes {verb} and waits for an approver ({}).",
            entry.decision.clause
        ),
        ActionStatus::Rejected => format!("An approver rejected {verb}."),
        ActionStatus::Expired => format!("Nobody answered the request for {verb} in time."),
        ActionStatus::Withdrawn => {
            format!("The request for {verb} was withdrawn: the incident resolved first.")
        }
        ActionStatus::Denied => format!(
            "Policy refused {verb}: {} ({}).",
            entry.decision.reason, entry.decision.clause
        ),
        ActionStatus::Failed => format!(
            "{} failed: {}.",
            capitalise(&verb),
            entry.error.as_deref().unwrap_or("the cluster refused")
        ),
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn status_words(status: IncidentStatus) -> &'static str {
    match status {
        IncidentStatus::Observed => "observed, nobody has triaged it yet",
        IncidentStatus::Triaged => "triaged",
        IncidentStatus::Contained => "contained",
        IncidentStatus::Escalated => "escalated",
        IncidentStatus::Recovering => "recovering: its signals are healthy again",
        IncidentStatus::Resolved => "resolved",
        IncidentStatus::Suppressed => "suppressed: nobody is notified",
    }
}

/// The executive summary: one sentence per question an on-call engineer asks first.
pub fn executive(detail: &IncidentDetail, actions: &[ActionEntry], now_ms: i64) -> Vec<String> {
    let s = &detail.summary;
    let opened = incident::rfc3339::parse(&s.opened_at).unwrap_or(now_ms);
    let mut out = vec![format!("{}.", s.summary.trim_end_matches('.'))];
    let since = match detail
        .resolved_at
        .as_deref()
        .and_then(|r| incident::rfc3339::parse(r).ok())
    {
        Some(resolved) => format!(
            "It started at {} and was resolved at {}, after {}.",
            clock(opened, now_ms),
            clock(resolved, now_ms),
            span_words(resolved - opened)
        ),
        None => format!(
            "It started at {}, {} ago, and is {}.",
            clock(opened, now_ms),
            span_words(now_ms - opened),
            status_words(s.status)
        ),
    };
    out.push(since);
    let targets: std::collections::BTreeSet<String> = detail
        .findings
        .iter()
        .map(|f| f.candidate.target.clone())
        .collect();
    out.push(format!(
        "{}: {} finding{} from {} signal{} across {} target{}{}.",
        capitalise(s.severity.as_str()),
        detail.findings.len(),
        if detail.findings.len() == 1 { "" } else { "s" },
        s.candidate_count,
        if s.candidate_count == 1 { "" } else { "s" },
        targets.len().max(1),
        if targets.len() > 1 { "s" } else { "" },
        if detail.reopen_count > 0 {
            format!(", reopened {} times", detail.reopen_count)
        } else {
            String::new()
        },
    ));
    match (&s.acknowledged_by, &s.assignee) {
        (Some(who), Some(owner)) => out.push(format!("{who} acknowledged it; {owner} owns it.")),
        (Some(who), None) => out.push(format!("{who} acknowledged it.")),
        (None, Some(owner)) => out.push(format!("{owner} owns it.")),
        (None, None) => {}
    }
    if actions.is_empty() {
        out.push("The robot proposes no action for it.".to_owned());
    } else {
        out.extend(actions.iter().take(3).map(action_words));
    }
    out
}

/// Per-minute buckets of a series: the mean of values, or for counters the rate between
/// consecutive samples (resets start over).
fn bucket(samples: &[model::Sample], counter: bool) -> BTreeMap<i64, (f64, u32)> {
    let mut out: BTreeMap<i64, (f64, u32)> = BTreeMap::new();
    if counter {
        for pair in samples.windows(2) {
            let dt = (pair[1].timestamp_ms - pair[0].timestamp_ms) as f64 / 1000.0;
            if dt <= 0.0 {
                continue;
            }
            let delta = if pair[1].value >= pair[0].value {
                pair[1].value - pair[0].value
            } else {
                pair[1].value
            };
            let slot = out
                .entry(pair[1].timestamp_ms.div_euclid(STEP_MS) * STEP_MS)
                .or_default();
            slot.0 += delta / dt;
            slot.1 += 1;
        }
    } else {
        for s in samples {
            if !s.value.is_finite() {
                continue;
            }
            let slot = out
                .entry(s.timestamp_ms.div_euclid(STEP_MS) * STEP_MS)
                .or_default();
            slot.0 += s.value;
            slot.1 += 1;
        }
    }
    out
}

fn means(buckets: &BTreeMap<i64, (f64, u32)>) -> Vec<(i64, f64)> {
    buckets
        .iter()
        .filter(|(_, (_, n))| *n > 0)
        .map(|(t, (sum, n))| (*t, sum / f64::from(*n)))
        .collect()
}

/// Sums per-series per-minute values across series (for rates of many series).
fn sum_series(series: &[Vec<(i64, f64)>]) -> Vec<(i64, f64)> {
    let mut out: BTreeMap<i64, f64> = BTreeMap::new();
    for s in series {
        for (t, v) in s {
            *out.entry(*t).or_default() += v;
        }
    }
    out.into_iter().collect()
}

fn mean_between(points: &[(i64, f64)], from: i64, to: i64) -> Option<f64> {
    let inside: Vec<f64> = points
        .iter()
        .filter(|(t, _)| *t >= from && *t < to)
        .map(|(_, v)| *v)
        .collect();
    (!inside.is_empty()).then(|| inside.iter().sum::<f64>() / inside.len() as f64)
}

/// A series' labels, its per-minute points, and whether it is a counter.
type SeriesPoints = (LabelSet, Vec<(i64, f64)>, bool);

fn exact(labels: &LabelSet) -> Selector {
    Selector::from_matchers(
        labels
            .iter()
            .map(|(n, v)| Matcher::new(n, MatchOp::Equal, v))
            .collect(),
    )
}

impl App {
    /// The chart range of an incident: its baseline before, then up to two hours of it (or
    /// to its resolution, or as far as the windows go).
    fn chart_range(&self, store: &Store, detail: &IncidentDetail) -> (i64, i64, i64) {
        let start = incident::rfc3339::parse(&detail.summary.opened_at).unwrap_or(0);
        let resolved = detail
            .resolved_at
            .as_deref()
            .and_then(|r| incident::rfc3339::parse(r).ok());
        let newest = store
            .watermark_ms()
            .map(|w| w.saturating_add(store.config().lateness_ms))
            .unwrap_or(start);
        let end = resolved
            .map(|r| r + 10 * 60_000)
            .unwrap_or(newest)
            .min(newest)
            .min(start + MAX_INCIDENT_WINDOW_MS)
            .max(start + STEP_MS);
        (start - BASELINE_MS, start, end)
    }

    fn chart_of(
        title: String,
        series_labels: String,
        unit: Unit,
        points: Vec<(i64, f64)>,
        (from, start, to): (i64, i64, i64),
        expected: Option<f64>,
        evidence_id: Option<String>,
    ) -> Chart {
        Chart {
            baseline: mean_between(&points, from, start),
            during: mean_between(&points, start, to + 1),
            title,
            series_labels,
            unit,
            points,
            from_ms: from,
            to_ms: to,
            incident_start_ms: start,
            expected,
            evidence_id,
        }
    }

    fn series_points(store: &Store, selector: &Selector, from: i64, to: i64) -> Vec<SeriesPoints> {
        let counters: BTreeMap<LabelSet, bool> = store
            .select(selector)
            .into_iter()
            .map(|s| (s.labels, s.counter))
            .collect();
        store
            .samples(selector, from - STEP_MS, to)
            .into_iter()
            .map(|(labels, samples)| {
                let counter = counters.get(&labels).copied().unwrap_or(false);
                // The newest minute is partial: left out, so sums across series do not dip.
                let points = means(&bucket(&samples, counter))
                    .into_iter()
                    .filter(|(t, _)| *t >= from && t + STEP_MS <= to)
                    .collect();
                (labels, points, counter)
            })
            .collect()
    }

    /// One page of the incident list with the total and counts per domain.
    pub async fn incident_page(
        &self,
        caller: &Caller,
        query: &IncidentQuery,
    ) -> Result<IncidentPage, AppError> {
        authorize(caller, Operation::ListIncidents)?;
        self.ledger_ref().page(query).await.map_err(ledger)
    }

    /// An incident with its executive summary, actions and similar past incidents.
    pub async fn brief(&self, caller: &Caller, id: &str) -> Result<Brief, AppError> {
        let detail = self.incident(caller, id).await?;
        let actions = self.actions(caller, Some(id)).await?;
        let now = crate::remediation::now_ms();
        let mut similar = Vec::new();
        let fixes: BTreeMap<String, Vec<String>> = match &self.remediation {
            Some(r) => {
                let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for a in r.actions().await {
                    let recovered = a
                        .verification
                        .as_ref()
                        .is_some_and(|v| v.outcome == Outcome::Recovered);
                    if recovered {
                        map.entry(a.incident_id.clone())
                            .or_default()
                            .push(a.proposed.action.name().replace('_', " "));
                    }
                }
                map
            }
            None => BTreeMap::new(),
        };
        for past in self
            .ledger_ref()
            .similar(&detail.signature, id, 5)
            .await
            .map_err(ledger)?
        {
            let ending = match (past.status, past.resolved_at_ms) {
                (IncidentStatus::Resolved, Some(resolved)) => format!(
                    "resolved after {}",
                    span_words(resolved - past.opened_at_ms)
                ),
                (IncidentStatus::Suppressed, _) => "suppressed".to_owned(),
                (status, _) => format!("still {status}"),
            };
            similar.push(SimilarView {
                fixed_by: fixes.get(&past.id).cloned().unwrap_or_default(),
                summary: past.summary(),
                ending,
            });
        }
        Ok(Brief {
            executive: executive(&detail, &actions, now),
            detail,
            similar,
            actions,
        })
    }

    /// The golden signals of an incident's workload (request rate, error ratio, p95
    /// latency) over its baseline and incident windows; empty when the windows hold none.
    pub async fn golden_signals(&self, caller: &Caller, id: &str) -> Result<Vec<Chart>, AppError> {
        let detail = self.incident(caller, id).await?;
        authorize(caller, Operation::Windows)?;
        let Some(store) = self.sources.get(&detail.summary.source) else {
            return Ok(Vec::new());
        };
        let target = &detail.summary.target;
        let name = match target.kind {
            Scope::Pod | Scope::Container => model::workload_of(&target.name).name.to_owned(),
            _ => target.name.clone(),
        };
        let range = self.chart_range(&store, &detail);
        let (from, _, to) = range;
        let scoped = |metric: &str, extra: Option<Matcher>| {
            let mut m = vec![
                Matcher::new("__name__", MatchOp::Equal, metric),
                Matcher::new("service", MatchOp::Equal, &name),
            ];
            if let Some(ns) = &target.namespace {
                m.push(Matcher::new("namespace", MatchOp::Equal, ns));
            }
            m.extend(extra);
            Selector::from_matchers(m)
        };
        let mut charts = Vec::new();
        let all = Self::series_points(&store, &scoped("http_requests_total", None), from, to);
        if !all.is_empty() {
            let total = sum_series(&all.iter().map(|(_, p, _)| p.clone()).collect::<Vec<_>>());
            let errors = sum_series(
                &all.iter()
                    .filter(|(l, _, _)| l.get("code").is_some_and(|c| c.starts_with('5')))
                    .map(|(_, p, _)| p.clone())
                    .collect::<Vec<_>>(),
            );
            let errors: BTreeMap<i64, f64> = errors.into_iter().collect();
            let ratio: Vec<(i64, f64)> = total
                .iter()
                .filter(|(_, v)| *v > 0.0)
                .map(|(t, v)| (*t, errors.get(t).copied().unwrap_or(0.0) / v))
                .collect();
            let labels = format!("http_requests_total{{service=\"{name}\"}}");
            charts.push(Self::chart_of(
                "Request rate".to_owned(),
                labels.clone(),
                Unit::PerSecond,
                total,
                range,
                None,
                None,
            ));
            charts.push(Self::chart_of(
                "Error ratio (5xx)".to_owned(),
                labels,
                Unit::Ratio,
                ratio,
                range,
                None,
                None,
            ));
        }
        let p95 = Self::series_points(
            &store,
            &scoped(
                "http_request_duration_seconds",
                Some(Matcher::new("quantile", MatchOp::Equal, "0.95")),
            ),
            from,
            to,
        );
        if let Some((labels, points, _)) = p95.into_iter().next() {
            charts.push(Self::chart_of(
                "p95 latency".to_owned(),
                labels.to_string(),
                Unit::Seconds,
                points,
                range,
                None,
                None,
            ));
        }
        Ok(charts)
    }

    /// A chart per metric evidence of an incident: the very series the rule or detector
    /// looked at, with its threshold or expected value.
    pub async fn evidence_charts(&self, caller: &Caller, id: &str) -> Result<Vec<Chart>, AppError> {
        let detail = self.incident(caller, id).await?;
        authorize(caller, Operation::Windows)?;
        let Some(store) = self.sources.get(&detail.summary.source) else {
            return Ok(Vec::new());
        };
        let range = self.chart_range(&store, &detail);
        let (from, _, to) = range;
        let mut charts = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for record in &detail.evidence {
            let incident::EvidenceItem::Metric(metric) = &record.evidence else {
                continue;
            };
            if !seen.insert(metric.series.to_string()) {
                continue;
            }
            if charts.len() >= MAX_EVIDENCE_CHARTS {
                break;
            }
            let Some((labels, points, counter)) =
                Self::series_points(&store, &exact(&metric.series), from, to)
                    .into_iter()
                    .next()
            else {
                continue;
            };
            let name = labels.metric_name().to_owned();
            let unit = if counter {
                Unit::PerSecond
            } else {
                Unit::of(&name)
            };
            // A threshold on a counter's increase or a ratio is not in the plotted unit.
            let comparable = matches!(
                metric.aggregate.as_str(),
                "max" | "min" | "avg" | "last" | "p50" | "p95" | "p99" | "rate"
            );
            charts.push(Self::chart_of(
                format!(
                    "{name} ({} {} over {})",
                    metric.rule, metric.aggregate, metric.window
                ),
                labels.to_string(),
                unit,
                points,
                range,
                metric.expected.filter(|_| comparable),
                Some(record.id.clone()),
            ));
        }
        Ok(charts)
    }

    /// The running policy, when there is one.
    pub fn policy_view(
        &self,
        caller: &Caller,
    ) -> Result<Option<std::sync::Arc<policy::Policy>>, AppError> {
        authorize(caller, Operation::ViewPolicy)?;
        Ok(self.remediation.as_ref().map(|r| r.policy()))
    }

    /// Asks the configured model one short question and says whether and how fast it
    /// answered.
    pub async fn probe_model(&self, caller: &Caller) -> Result<ModelProbe, AppError> {
        authorize(caller, Operation::ProbeModel)?;
        let Some(config) = &self.config.rca.llm else {
            return Ok(ModelProbe {
                configured: false,
                backend: String::new(),
                endpoint: String::new(),
                model: String::new(),
                ok: false,
                latency_ms: 0,
                detail: "no model is configured ([rca.llm]); drafts stand alone".to_owned(),
            });
        };
        let mut probe = ModelProbe {
            configured: true,
            backend: format!("{:?}", config.backend).to_lowercase(),
            endpoint: outbound::redact(&config.url),
            model: config.model.clone(),
            ok: false,
            latency_ms: 0,
            detail: String::new(),
        };
        let client = match rca::LlmClient::new(rca::LlmConfig {
            max_retries: 0,
            ..config.clone()
        }) {
            Ok(client) => client,
            Err(error) => {
                probe.detail = model::error::chain(&error);
                return Ok(probe);
            }
        };
        let schema = rca::JsonSchema::Object {
            properties: vec![(
                "status".to_owned(),
                rca::JsonSchema::String {
                    one_of: vec!["ok".to_owned()],
                },
            )],
        };
        let started = std::time::Instant::now();
        let messages = [
            rca::ChatMessage::system("You are a health check. Answer {\"status\": \"ok\"}."),
            rca::ChatMessage::user("Are you there?"),
        ];
        match client.chat(&messages, &schema).await {
            Ok(reply) => {
                probe.ok = true;
                probe.latency_ms = reply.latency_ms;
                probe.detail = reply.content.chars().take(200).collect();
            }
            Err(error) => {
                probe.latency_ms = started.elapsed().as_millis() as u64;
                probe.detail = model::error::chain(&error);
            }
        }
        Ok(probe)
    }

    /// Runs one read-only tool of a draft's plan for an incident (the workspace's Run
    /// buttons).
    pub async fn run_plan_tool(
        &self,
        caller: &Caller,
        id: &str,
        tool: &str,
    ) -> Result<ToolResult, AppError> {
        authorize(caller, Operation::RunTool)?;
        let s = |v: &str| v.to_owned();
        match tool {
            "evidence.list" => {
                let detail = self.incident(caller, id).await?;
                let rows: Vec<Vec<String>> = detail
                    .evidence
                    .iter()
                    .map(|e| match &e.evidence {
                        incident::EvidenceItem::Metric(m) => vec![
                            e.id.clone(),
                            s("metric"),
                            m.series.to_string(),
                            format!(
                                "{} {} over {}: {}{}",
                                m.rule,
                                m.aggregate,
                                m.window,
                                short(m.observed),
                                m.expected
                                    .map(|x| format!(" (expected {})", short(x)))
                                    .unwrap_or_default()
                            ),
                        ],
                        incident::EvidenceItem::Event(ev) => vec![
                            e.id.clone(),
                            s("event"),
                            format!("{} {}", ev.origin, ev.reason),
                            ev.message.clone(),
                        ],
                    })
                    .collect();
                Ok(ToolResult {
                    tool: tool.to_owned(),
                    summary: format!("{} pieces of evidence", rows.len()),
                    columns: vec![s("id"), s("kind"), s("what"), s("observed")],
                    rows,
                })
            }
            "logs.recent" => {
                let context = self.incident_logs(caller, id).await?;
                let mut rows = Vec::new();
                for chunk in &context.chunks {
                    for e in &chunk.entries {
                        rows.push(vec![
                            e.template.clone(),
                            e.count.to_string(),
                            incident::rfc3339::format(e.first_ms),
                            incident::rfc3339::format(e.last_ms),
                            if e.novel { s("new") } else { s("seen before") },
                        ]);
                    }
                }
                Ok(ToolResult {
                    tool: tool.to_owned(),
                    summary: format!(
                        "{} lines, {} templates ({} noise lines left out)",
                        context.total_lines,
                        rows.len(),
                        context.noise_lines
                    ),
                    columns: vec![
                        s("template"),
                        s("count"),
                        s("first"),
                        s("last"),
                        s("novelty"),
                    ],
                    rows,
                })
            }
            "metrics.query" | "windows.query" => {
                let charts = self.evidence_charts(caller, id).await?;
                Ok(ToolResult {
                    tool: tool.to_owned(),
                    summary: format!("{} evidence series against their baseline", charts.len()),
                    columns: vec![s("series"), s("baseline"), s("during"), s("expected")],
                    rows: charts.iter().map(chart_row).collect(),
                })
            }
            "http_signals.recent" => {
                let charts = self.golden_signals(caller, id).await?;
                Ok(ToolResult {
                    tool: tool.to_owned(),
                    summary: if charts.is_empty() {
                        "no request metrics for this target".to_owned()
                    } else {
                        "golden signals against their baseline".to_owned()
                    },
                    columns: vec![s("signal"), s("baseline"), s("during"), s("expected")],
                    rows: charts.iter().map(chart_row).collect(),
                })
            }
            other => {
                let Some(found) = crate::tools::Tool::from_name(other) else {
                    return Err(AppError::Invalid {
                        reason: format!(
                            "{other:?} is not a read-only tool (the tools: {})",
                            crate::tools::Tool::ALL.map(|t| t.name()).join(", ")
                        ),
                    });
                };
                // The catalogue's tool, scoped to the incident, kept as its evidence.
                let detail = self.incident(caller, id).await?;
                let target = &detail.summary.target;
                let mut args = serde_json::Map::new();
                let takes = |name: &str| found.params().iter().any(|p| p.name == name);
                if let Some(ns) = target.namespace.as_ref().filter(|_| takes("namespace")) {
                    args.insert("namespace".to_owned(), serde_json::json!(ns));
                }
                if target.kind == Scope::Node && takes("node") {
                    args.insert("node".to_owned(), serde_json::json!(target.name));
                } else {
                    for key in ["target", "service"].into_iter().filter(|k| takes(k)) {
                        args.insert(key.to_owned(), serde_json::json!(target.name));
                    }
                }
                if takes("incident") {
                    args.insert("incident".to_owned(), serde_json::json!(id));
                }
                let run_for = crate::tools::RunFor {
                    incident: Some(id),
                    ..crate::tools::RunFor::default()
                };
                let ran = self
                    .run_tool_for(
                        caller,
                        found.name(),
                        &serde_json::Value::Object(args),
                        run_for,
                    )
                    .await;
                let answer = match ran {
                    Ok(answer) => answer,
                    // What the incident's scope cannot fill in is said where the result goes.
                    Err(error @ AppError::ToolArgument { .. }) => {
                        return Ok(ToolResult {
                            tool: tool.to_owned(),
                            summary: format!("cannot run for this incident: {error}"),
                            columns: Vec::new(),
                            rows: Vec::new(),
                        });
                    }
                    Err(other) => return Err(other),
                };
                let (columns, rows) = result_table(&answer.result);
                Ok(ToolResult {
                    tool: tool.to_owned(),
                    summary: format!("{} (evidence {})", answer.summary, answer.evidence_id),
                    columns,
                    rows,
                })
            }
        }
    }
}

fn chart_row(c: &Chart) -> Vec<String> {
    let f = |v: Option<f64>| {
        v.map(|v| c.unit.format(v))
            .unwrap_or_else(|| "–".to_owned())
    };
    vec![c.title.clone(), f(c.baseline), f(c.during), f(c.expected)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_and_units_read_as_people_say_them() {
        assert_eq!(span_words(23 * 60_000), "23 minutes");
        assert_eq!(span_words(4 * 3_600_000), "about 4 h");
        assert_eq!(span_words(3 * 86_400_000), "3 days");
        assert_eq!(Unit::Ratio.format(0.182), "18.2%");
        assert_eq!(Unit::Seconds.format(0.95), "950 ms");
        assert_eq!(Unit::Bytes.format(512.0 * 1048576.0), "512 MiB");
        assert_eq!(Unit::PerSecond.format(12.5), "12.5/s");
    }

    #[test]
    fn counters_become_rates_per_minute() {
        let samples: Vec<model::Sample> = (0..8)
            .map(|i| model::Sample {
                timestamp_ms: i * 15_000,
                value: (i * 30) as f64,
            })
            .collect();
        let rates = means(&bucket(&samples, true));
        assert!(
            rates.iter().all(|(_, v)| (*v - 2.0).abs() < 1e-9),
            "{rates:?}"
        );
    }
}
