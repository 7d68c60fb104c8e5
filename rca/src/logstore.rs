//! The push side of logs: every pushed line mined into a template, a running count per
//! (stream, template), and the most recent lines kept for incidents' log context.
//!
//! Bounded: at most [`LogStoreConfig::recent_lines`] lines (oldest forgotten first) and
//! [`LogStoreConfig::max_counts`] (stream, template) counters (a new pair past the cap evicts
//! the least recently counted tenth, and [`LogStore::evicted`] says how many went).

use crate::loki::{LogQuery, LogScope, LokiClient, ScopeLabels, StreamSelector};
use crate::{ContextConfig, LogContext, LogContextBuilder, LogLine, MinerConfig, PatternLibrary};
use crate::{TemplateId, TemplateMiner};
use ingest::loki::LogBatch;
use model::{LabelSet, Target};
use std::collections::{BTreeMap, HashMap, VecDeque};

/// The series log lines are counted in.
pub const LOG_LINES_METRIC: &str = "srebot_log_lines_total";

/// How far before an incident opened its log window starts; lines before it are the baseline.
pub const CONTEXT_LEAD_MS: i64 = 10 * 60_000;

/// How far before the incident window Loki is asked for baseline lines.
const PULL_BASELINE_MS: i64 = 20 * 60_000;
/// How far after the incident opened Loki is asked for lines.
const PULL_AFTER_MS: i64 = 15 * 60_000;

/// The store's bounds.
#[derive(Debug, Clone, Copy)]
pub struct LogStoreConfig {
    /// Most recent lines kept verbatim for log context.
    pub recent_lines: usize,
    /// Most (stream, template) counters kept.
    pub max_counts: usize,
}

impl Default for LogStoreConfig {
    fn default() -> Self {
        Self {
            recent_lines: 50_000,
            max_counts: 100_000,
        }
    }
}

/// Per series of [`LOG_LINES_METRIC`] (its sorted label pairs): event time (ms) → running
/// count at it. What a push adds to the windows.
pub type CountPoints = BTreeMap<Vec<(String, String)>, BTreeMap<i64, u64>>;

/// Templates learned from every stream, running counts and recent lines.
#[derive(Debug, Default)]
pub struct LogStore {
    config: LogStoreConfig,
    miner: Option<TemplateMiner>,
    /// (stream, template) → (count, sequence number of its last update).
    counts: HashMap<(String, TemplateId), (u64, u64)>,
    sequence: u64,
    evicted: u64,
    recent: VecDeque<LogLine>,
}

impl LogStore {
    pub fn new(config: LogStoreConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// (stream, template) counters dropped to stay under the cap, since start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The text of a template by the id its `template` label carries.
    pub fn template_text(&self, id: &str) -> Option<String> {
        let id: TemplateId = id.parse().ok()?;
        self.miner.as_ref()?.template(id)
    }

    /// Lines kept for context.
    pub fn recent_len(&self) -> usize {
        self.recent.len()
    }

    /// The kept lines, oldest first.
    pub fn recent(&self) -> impl DoubleEndedIterator<Item = &LogLine> {
        self.recent.iter()
    }

    /// Mines and counts every line of `batch`, keeps them as recent lines, and returns the
    /// running counts to append to the windows.
    pub fn add(&mut self, batch: &LogBatch) -> CountPoints {
        let mut points = CountPoints::new();
        let recent_cap = self.config.recent_lines.max(1);
        let miner = self
            .miner
            .get_or_insert_with(|| TemplateMiner::new(MinerConfig::default()));
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
                if self.recent.len() >= recent_cap {
                    self.recent.pop_front();
                }
                let at_ms = entry.timestamp_ns.div_euclid(1_000_000);
                self.recent.push_back(LogLine::new(
                    at_ms,
                    stream.labels.clone(),
                    entry.line.clone(),
                ));
                let added = miner.add(&entry.line);
                let template = miner.group(added);
                self.sequence += 1;
                let counter_key = (key.clone(), template);
                let cap = self.config.max_counts.max(1);
                if self.counts.len() >= cap && !self.counts.contains_key(&counter_key) {
                    // Evict the least recently counted tenth at once, so a stream of new
                    // pairs past the cap costs one scan per tenth, not one per line.
                    let mut by_age: Vec<u64> =
                        self.counts.values().map(|&(_, seen)| seen).collect();
                    let drop = (cap / 10).max(1);
                    let (_, &mut cutoff, _) = by_age.select_nth_unstable(drop - 1);
                    let before = self.counts.len();
                    self.counts.retain(|_, &mut (_, seen)| seen > cutoff);
                    self.evicted += (before - self.counts.len()) as u64;
                }
                let (count, seen) = self.counts.entry(counter_key).or_default();
                *count += 1;
                *seen = self.sequence;
                let mut labels = base.clone();
                labels.push(("template".to_owned(), template.to_string()));
                labels.sort();
                points.entry(labels).or_default().insert(at_ms, *count);
            }
        }
        points
    }

    /// The compact log context of an incident on `target` opened at `opened_at_ms`: lines of
    /// the target's streams from [`CONTEXT_LEAD_MS`] before it opened on, de-noised, collapsed
    /// into templates and ranked, with the streams' earlier lines as the baseline. `None` when
    /// no kept line belongs to the target.
    pub fn context(&self, target: &Target, opened_at_ms: i64) -> Option<LogContext> {
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
pub fn context_of<'a>(
    lines: impl IntoIterator<Item = &'a LogLine>,
    opened_at_ms: i64,
) -> LogContext {
    let Ok(mut builder) =
        LogContextBuilder::new(ContextConfig::default(), PatternLibrary::sre_default())
    else {
        return LogContext::default();
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

/// Whether a stream is the target's: same namespace when both have one, and a pod, app,
/// service, job, container, node or instance label naming the target (a pod label also by
/// the workload it belongs to, so a deployment's streams are its pods').
pub fn belongs_to(labels: &LabelSet, target: &Target) -> bool {
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

/// The incident's log context pulled from Loki: the target's streams (namespace plus pod,
/// or the workload by `service_label`) from a baseline before the incident window to a while
/// after it opened, at most `max_lines`. `None` when Loki has nothing or cannot be reached
/// (logged).
pub async fn pull_context(
    client: &LokiClient,
    service_label: &str,
    max_lines: usize,
    target: &Target,
    opened_at_ms: i64,
) -> Option<LogContext> {
    let scope = LogScope::for_target(target.kind, &target.name, target.namespace.as_deref());
    let labels = ScopeLabels {
        service: service_label.to_owned(),
        ..ScopeLabels::default()
    };
    let query = LogQuery {
        selector: StreamSelector::for_scope(&scope, &labels),
        filters: Vec::new(),
        start_ns: (opened_at_ms - CONTEXT_LEAD_MS - PULL_BASELINE_MS).saturating_mul(1_000_000),
        end_ns: (opened_at_ms + PULL_AFTER_MS).saturating_mul(1_000_000),
        max_entries: max_lines,
    };
    let pull = match client.query_range(&query).await {
        Ok(pull) => pull,
        Err(error) => {
            tracing::warn!(error = %crate::interpret::chain(&error), "no log context from Loki");
            return None;
        }
    };
    let mut lines: Vec<LogLine> = pull
        .batch
        .streams
        .into_iter()
        .flat_map(|stream| {
            let labels = stream.labels;
            stream.entries.into_iter().map(move |entry| {
                LogLine::new(
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

#[cfg(test)]
mod tests {
    use super::*;
    use ingest::loki::{LogEntry, LogStream};

    fn batch(lines: &[(&str, &str)]) -> LogBatch {
        LogBatch {
            streams: lines
                .iter()
                .map(|(pod, line)| LogStream {
                    labels: LabelSet::from_pairs([("namespace", "shop"), ("pod", *pod)])
                        .expect("labels"),
                    entries: vec![LogEntry {
                        timestamp_ns: 1_000_000_000,
                        line: (*line).to_owned(),
                        metadata: Vec::new(),
                    }],
                })
                .collect(),
        }
    }

    #[test]
    fn counts_and_recent_lines_are_bounded() {
        let mut store = LogStore::new(LogStoreConfig {
            recent_lines: 3,
            max_counts: 2,
        });
        for i in 0..5 {
            let pod = format!("api-{i}");
            store.add(&batch(&[(pod.as_str(), "connection refused to db")]));
        }
        assert_eq!(store.recent_len(), 3);
        assert_eq!(
            store.evicted(),
            3,
            "five (stream, template) pairs, two kept"
        );
        // Counting goes on for the pairs kept.
        let points = store.add(&batch(&[("api-4", "connection refused to db")]));
        let counts: Vec<u64> = points.values().flat_map(|c| c.values().copied()).collect();
        assert_eq!(counts, vec![2]);
    }

    #[test]
    fn a_deployments_context_is_its_pods_lines() {
        let mut store = LogStore::default();
        store.add(&batch(&[
            ("cart-6c9f7d8b5-x2x1k", "ERROR payment declined"),
            ("cart-proxy", "ERROR upstream reset"),
        ]));
        let cart = Target::new(model::Scope::Deployment, Some("shop"), "cart");
        let context = store.context(&cart, 1_000).expect("context");
        let text = format!("{context:?}");
        assert!(text.contains("payment declined"), "{text}");
        assert!(!text.contains("upstream reset"), "{text}");
    }
}
