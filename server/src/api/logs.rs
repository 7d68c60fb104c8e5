//! `POST /loki/api/v1/push`: Loki's push protocol (JSON or protobuf + snappy). Every line is
//! mined into a template, and per stream and template a `srebot_log_lines_total` counter is
//! appended to the windows at the lines' event time, so rules and detectors watch logs too.

use crate::app::AppState;
use crate::error::ApiError;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use model::{MetricType, Sample, SeriesRef, SeriesVisitor};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// The series log lines are counted in.
pub const LOG_LINES_METRIC: &str = "srebot_log_lines_total";

/// Most recent lines kept verbatim for incidents' log context; older ones are forgotten.
pub const RECENT_LINES: usize = 50_000;

/// How far before an incident opened its log window starts; lines before it are the baseline.
const CONTEXT_LEAD_MS: i64 = 10 * 60_000;

/// Templates learned from every stream, the running count per (stream, template), and the
/// most recent lines for incidents' log context.
#[derive(Debug, Default)]
pub struct LogState {
    miner: Option<rca::TemplateMiner>,
    counts: HashMap<(String, rca::TemplateId), u64>,
    recent: VecDeque<rca::LogLine>,
}

impl LogState {
    /// The compact log context of an incident on `target` opened at `opened_at_ms`: lines of
    /// the target's streams from [`CONTEXT_LEAD_MS`] before it opened on, de-noised, collapsed
    /// into templates and ranked, with the streams' earlier lines as the baseline. `None` when
    /// no kept line belongs to the target.
    pub fn context(&self, target: &model::Target, opened_at_ms: i64) -> Option<rca::LogContext> {
        let mut mine = self
            .recent
            .iter()
            .filter(|l| belongs_to(&l.labels, target))
            .peekable();
        mine.peek()?;
        Some(context_of(mine, opened_at_ms))
    }
}

/// Lines from [`CONTEXT_LEAD_MS`] before `opened_at_ms` on are the incident's; earlier ones
/// teach the baseline.
fn context_of<'a>(
    lines: impl IntoIterator<Item = &'a rca::LogLine>,
    opened_at_ms: i64,
) -> rca::LogContext {
    let Ok(mut builder) = rca::LogContextBuilder::new(
        rca::ContextConfig::default(),
        rca::PatternLibrary::sre_default(),
    ) else {
        return rca::LogContext::default();
    };
    let from = opened_at_ms - CONTEXT_LEAD_MS;
    for line in lines {
        if line.at_ms < from {
            builder.baseline(line);
        } else {
            builder.push(line);
        }
    }
    builder.build()
}

/// How far before the incident window Loki is asked for baseline lines.
const PULL_BASELINE_MS: i64 = 20 * 60_000;
/// How far after the incident opened Loki is asked for lines.
const PULL_AFTER_MS: i64 = 15 * 60_000;

/// The incident's log context pulled from Loki: the target's streams (namespace plus pod,
/// or the workload by `section.service_label`) from a baseline before the incident window to
/// a while after it opened. `None` when Loki has nothing or cannot be reached (logged).
pub async fn pull_context(
    client: &rca::loki::LokiClient,
    section: &crate::config::LokiSection,
    target: &model::Target,
    opened_at_ms: i64,
) -> Option<rca::LogContext> {
    use rca::loki::{LogQuery, LogScope, ScopeLabels, StreamSelector};
    let scope = LogScope::for_target(target.kind, &target.name, target.namespace.as_deref());
    let labels = ScopeLabels {
        service: section.service_label.clone(),
        ..ScopeLabels::default()
    };
    let query = LogQuery {
        selector: StreamSelector::for_scope(&scope, &labels),
        filters: Vec::new(),
        start_ns: (opened_at_ms - CONTEXT_LEAD_MS - PULL_BASELINE_MS).saturating_mul(1_000_000),
        end_ns: (opened_at_ms + PULL_AFTER_MS).saturating_mul(1_000_000),
        max_entries: section.max_lines,
    };
    let pull = match client.query_range(&query).await {
        Ok(pull) => pull,
        Err(error) => {
            tracing::warn!(error = %crate::error::chain(&error), "no log context from Loki");
            return None;
        }
    };
    let mut lines: Vec<rca::LogLine> = pull
        .batch
        .streams
        .into_iter()
        .flat_map(|stream| {
            let labels = stream.labels;
            stream.entries.into_iter().map(move |entry| {
                rca::LogLine::new(
                    entry.timestamp_ns.div_euclid(1_000_000),
                    labels.clone(),
                    entry.line,
                )
            })
        })
        .collect();
    if lines.is_empty() {
        return None;
    }
    lines.sort_by_key(|l| l.at_ms);
    Some(context_of(&lines, opened_at_ms))
}

/// Whether a stream is the target's: same namespace when both have one, and a pod, app,
/// service, job, container, node or instance label naming the target (a pod label also by
/// the workload it belongs to, so a deployment's streams are its pods').
fn belongs_to(labels: &model::LabelSet, target: &model::Target) -> bool {
    if let (Some(want), Some(have)) = (target.namespace.as_deref(), labels.get("namespace"))
        && want != have
    {
        return false;
    }
    let name = target.name.as_str();
    labels.iter().any(|(label, value)| match label {
        "pod" | "pod_name" => value == name || model::workload_of(value).name == target.workload(),
        "app" | "service" | "service_name" | "job" | "container" | "deployment" | "node"
        | "instance" | "host" => value == name,
        _ => false,
    })
}

/// `POST /loki/api/v1/push`: 204 once every line is counted in the windows.
pub async fn push(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let batch = ingest::loki::decode_push(
        text(header::CONTENT_TYPE),
        text(header::CONTENT_ENCODING),
        &body,
        state.config.ingest.max_decoded_bytes,
    )
    .map_err(|e| ApiError::from_error(&e))?;

    // (stream labels + template) → (timestamp ms → running count at it).
    let mut points: BTreeMap<Vec<(String, String)>, BTreeMap<i64, u64>> = BTreeMap::new();
    {
        let mut logs = state.logs.lock();
        let logs = &mut *logs;
        let miner = logs
            .miner
            .get_or_insert_with(|| rca::TemplateMiner::new(rca::MinerConfig::default()));
        for stream in &batch.streams {
            let key = stream.labels.to_string();
            let mut base: Vec<(String, String)> = stream
                .labels
                .iter()
                .filter(|(n, _)| *n != model::METRIC_NAME && *n != "template")
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            base.push((model::METRIC_NAME.to_owned(), LOG_LINES_METRIC.to_owned()));
            for entry in &stream.entries {
                if logs.recent.len() == RECENT_LINES {
                    logs.recent.pop_front();
                }
                logs.recent.push_back(rca::LogLine::new(
                    entry.timestamp_ns.div_euclid(1_000_000),
                    stream.labels.clone(),
                    entry.line.clone(),
                ));
                let added = miner.add(&entry.line);
                let template = miner.group(added);
                let count = logs.counts.entry((key.clone(), template)).or_default();
                *count += 1;
                let mut labels = base.clone();
                labels.push(("template".to_owned(), template.to_string()));
                labels.sort();
                points
                    .entry(labels)
                    .or_default()
                    .insert(entry.timestamp_ns.div_euclid(1_000_000), *count);
            }
        }
    }
    let mut appender = state.store.appender();
    for (labels, counts) in &points {
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let samples: Vec<Sample> = counts
            .iter()
            .map(|(&timestamp_ms, &count)| Sample {
                timestamp_ms,
                value: count as f64,
            })
            .collect();
        let Ok(()) = appender.series(SeriesRef {
            labels: &pairs,
            samples: &samples,
            metric_type: MetricType::Counter,
            unit: "",
            help: "Log lines per stream and template",
            created_timestamp_ms: 0,
        });
    }
    let outcome = appender.finish();
    if let Some(refusal) = outcome.refusal() {
        return Err(ApiError::bad_request(refusal));
    }
    if outcome.appended > 0 {
        state.pipeline.wake.notify_one();
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
