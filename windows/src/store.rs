//! The window store: per-series, time-ordered samples behind sharded locks, an event-time
//! watermark, retention, a cardinality limit, metadata per metric family, and window queries.
//!
//! Group-by semantics: a group's count, min, max, avg, percentiles and stddev are over the
//! pooled samples of its series; its sum, rate and increase are the sums of its series'; its
//! slope is the sum of its series' slopes; `last` is the sum of its series' last values.

use crate::aggregate::{Aggregates, WindowResult, WindowRow, WindowSpan, aggregate};
use crate::selector::Selector;
use model::{LabelSet, MetricMetadata, MetricType, Sample, SeriesRef, SeriesVisitor};
use parking_lot::RwLock;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

const SHARDS: usize = 16;

/// Window-store settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// How long samples are kept behind the newest timestamp (ms); at least the 15m window.
    pub retention_ms: i64,
    /// How far behind the newest timestamp a sample may arrive and still be merged (ms).
    pub lateness_ms: i64,
    /// Series beyond this are refused (the cardinality limit).
    pub max_series: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            retention_ms: 3_600_000,
            lateness_ms: 30_000,
            max_series: 1_000_000,
        }
    }
}

/// Why a sample was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Older than the watermark (newest timestamp minus lateness).
    TooOld,
    /// Older than the retention behind the newest timestamp.
    OutOfRetention,
    /// Same timestamp as a stored sample of the series.
    DuplicateTimestamp,
    /// Its series would pass the cardinality limit.
    CardinalityLimit,
}

impl DropReason {
    pub const ALL: [DropReason; 4] = [
        DropReason::TooOld,
        DropReason::OutOfRetention,
        DropReason::DuplicateTimestamp,
        DropReason::CardinalityLimit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TooOld => "too_old",
            DropReason::OutOfRetention => "out_of_retention",
            DropReason::DuplicateTimestamp => "duplicate_timestamp",
            DropReason::CardinalityLimit => "cardinality_limit",
        }
    }
}

/// What appending one or more series did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    pub appended: usize,
    pub dropped: BTreeMap<DropReason, usize>,
    /// Series refused by the cardinality limit, and the first of them.
    pub refused_series: usize,
    pub first_refused: Option<String>,
    pub max_series: usize,
}

impl AppendOutcome {
    fn merge(&mut self, other: AppendOutcome) {
        self.appended += other.appended;
        for (reason, n) in other.dropped {
            *self.dropped.entry(reason).or_default() += n;
        }
        self.refused_series += other.refused_series;
        if self.first_refused.is_none() {
            self.first_refused = other.first_refused;
        }
        self.max_series = self.max_series.max(other.max_series);
    }

    /// A message for the sender when series were refused.
    pub fn refusal(&self) -> Option<String> {
        self.first_refused.as_ref().map(|first| {
            format!(
                "cardinality limit of {} series reached: {} new series refused (first: {first}); \
                 samples of known series were stored",
                self.max_series, self.refused_series
            )
        })
    }
}

/// A series as queries see it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesInfo {
    pub labels: LabelSet,
    pub metric_type: MetricType,
}

/// Figures about what the store holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    pub active_series: usize,
    pub samples: usize,
    /// Estimated bytes held, labels included.
    pub bytes: usize,
    pub dropped: BTreeMap<DropReason, u64>,
    pub refused_series: u64,
}

impl StoreStats {
    pub fn bytes_per_series(&self) -> f64 {
        if self.active_series == 0 {
            0.0
        } else {
            self.bytes as f64 / self.active_series as f64
        }
    }

    pub fn dropped_by_reason(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|r| (r.as_str(), self.dropped.get(r).copied().unwrap_or(0)))
    }
}

/// A window query.
#[derive(Debug, Clone)]
pub struct WindowQuery {
    pub selectors: Vec<Selector>,
    pub window: WindowSpan,
    /// End of the window; the watermark when `None`.
    pub at_ms: Option<i64>,
    /// Group by these labels.
    pub by: Option<Vec<String>>,
}

#[derive(Debug)]
struct Series {
    labels: LabelSet,
    metric_type: MetricType,
    samples: VecDeque<Sample>,
}

impl Series {
    fn window(&self, start_ms: i64, end_ms: i64) -> Vec<Sample> {
        let from = self.samples.partition_point(|s| s.timestamp_ms <= start_ms);
        let to = self.samples.partition_point(|s| s.timestamp_ms <= end_ms);
        self.samples.range(from..to).copied().collect()
    }

    fn bytes(&self) -> usize {
        let labels: usize = self.labels.iter().map(|(n, v)| n.len() + v.len() + 48).sum();
        labels + self.samples.len() * std::mem::size_of::<Sample>() + 96
    }
}

#[derive(Debug, Default)]
struct Shard {
    by_hash: HashMap<u64, Vec<usize>>,
    series: Vec<Series>,
}

/// The store. All methods take `&self`; writers to different shards do not contend.
#[derive(Debug)]
pub struct Store {
    config: StoreConfig,
    hasher: ahash::RandomState,
    shards: Vec<RwLock<Shard>>,
    metadata: RwLock<HashMap<String, MetricMetadata>>,
    newest_ms: AtomicI64,
    series_count: AtomicUsize,
    dropped: [AtomicU64; 4],
    refused: AtomicU64,
}

fn reason_index(reason: DropReason) -> usize {
    match reason {
        DropReason::TooOld => 0,
        DropReason::OutOfRetention => 1,
        DropReason::DuplicateTimestamp => 2,
        DropReason::CardinalityLimit => 3,
    }
}

impl Store {
    pub fn new(config: StoreConfig) -> Self {
        Self {
            config,
            hasher: ahash::RandomState::with_seeds(1, 2, 3, 4),
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            metadata: RwLock::new(HashMap::new()),
            newest_ms: AtomicI64::new(i64::MIN),
            series_count: AtomicUsize::new(0),
            dropped: Default::default(),
            refused: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Newest timestamp seen minus the allowed lateness; `None` before the first sample.
    pub fn watermark_ms(&self) -> Option<i64> {
        let newest = self.newest_ms.load(Ordering::Acquire);
        (newest != i64::MIN).then(|| newest - self.config.lateness_ms)
    }

    fn hash(&self, labels: &[(&str, &str)]) -> u64 {
        let mut h = self.hasher.build_hasher();
        for (n, v) in labels {
            n.hash(&mut h);
            v.hash(&mut h);
        }
        h.finish()
    }

    fn count_drop(&self, outcome: &mut AppendOutcome, reason: DropReason, n: usize) {
        if n > 0 {
            *outcome.dropped.entry(reason).or_default() += n;
            self.dropped[reason_index(reason)].fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    /// The newest timestamp a write is judged by, taken before the write starts, so one
    /// request never makes its own older samples late.
    fn newest_before(&self) -> i64 {
        match self.newest_ms.load(Ordering::Acquire) {
            i64::MIN => i64::MIN + self.config.retention_ms.max(self.config.lateness_ms),
            newest => newest,
        }
    }

    /// Adds one decoded series' samples.
    pub fn append(&self, series: SeriesRef<'_>) -> AppendOutcome {
        self.append_judged(series, self.newest_before())
    }

    fn append_judged(&self, series: SeriesRef<'_>, newest: i64) -> AppendOutcome {
        let mut outcome = AppendOutcome {
            max_series: self.config.max_series,
            ..AppendOutcome::default()
        };
        if series.samples.is_empty() {
            return outcome;
        }
        let watermark = newest.saturating_sub(self.config.lateness_ms);
        let retention_floor = newest.saturating_sub(self.config.retention_ms);
        let hash = self.hash(series.labels);
        let mut shard = self.shards[(hash as usize) % SHARDS].write();
        let found = shard.by_hash.get(&hash).and_then(|ids| {
            ids.iter().copied().find(|&id| {
                let stored = &shard.series[id].labels;
                stored.len() == series.labels.len()
                    && stored.iter().zip(series.labels).all(|(a, b)| a == *b)
            })
        });
        let id = match found {
            Some(id) => id,
            None => {
                if self.series_count.load(Ordering::Relaxed) >= self.config.max_series {
                    outcome.refused_series = 1;
                    outcome.first_refused = LabelSet::from_pairs(series.labels.iter().copied())
                        .ok()
                        .map(|l| l.to_string());
                    self.refused.fetch_add(1, Ordering::Relaxed);
                    self.count_drop(&mut outcome, DropReason::CardinalityLimit, series.samples.len());
                    return outcome;
                }
                let Ok(labels) = LabelSet::from_pairs(series.labels.iter().copied()) else {
                    return outcome;
                };
                self.series_count.fetch_add(1, Ordering::Relaxed);
                let id = shard.series.len();
                shard.series.push(Series {
                    labels,
                    metric_type: series.metric_type,
                    samples: VecDeque::new(),
                });
                shard.by_hash.entry(hash).or_default().push(id);
                id
            }
        };
        let stored = &mut shard.series[id];
        if series.metric_type != MetricType::Unknown {
            stored.metric_type = series.metric_type;
        }
        for sample in series.samples {
            if sample.timestamp_ms < retention_floor {
                self.count_drop(&mut outcome, DropReason::OutOfRetention, 1);
                continue;
            }
            if sample.timestamp_ms < watermark {
                self.count_drop(&mut outcome, DropReason::TooOld, 1);
                continue;
            }
            let samples = &mut stored.samples;
            match samples.back() {
                None => samples.push_back(*sample),
                Some(last) if last.timestamp_ms < sample.timestamp_ms => samples.push_back(*sample),
                _ => {
                    let at = samples.partition_point(|s| s.timestamp_ms < sample.timestamp_ms);
                    if samples.get(at).is_some_and(|s| s.timestamp_ms == sample.timestamp_ms) {
                        self.count_drop(&mut outcome, DropReason::DuplicateTimestamp, 1);
                        continue;
                    }
                    samples.insert(at, *sample);
                }
            }
            outcome.appended += 1;
        }
        if let Some(max) = series.samples.iter().map(|s| s.timestamp_ms).max() {
            self.newest_ms.fetch_max(max, Ordering::AcqRel);
        }
        while stored
            .samples
            .front()
            .is_some_and(|s| s.timestamp_ms < retention_floor)
        {
            stored.samples.pop_front();
        }
        outcome
    }

    /// A visitor that appends each decoded series and sums the outcomes.
    pub fn appender(&self) -> Appender<'_> {
        Appender {
            store: self,
            newest: self.newest_before(),
            outcome: AppendOutcome {
                max_series: self.config.max_series,
                ..AppendOutcome::default()
            },
        }
    }

    /// Remembers a metric family's type, unit and help (remote_write 1.0 sends them apart).
    pub fn set_metadata(&self, family: &str, metadata: MetricMetadata) {
        self.metadata.write().insert(family.to_owned(), metadata);
    }

    /// Whether a series is a counter: its own type, else its family's metadata (the name, then
    /// the name minus `_total`/`_count`/`_sum`/`_bucket`), else the `_total` naming convention.
    fn is_counter(&self, labels: &LabelSet, metric_type: MetricType) -> bool {
        if metric_type != MetricType::Unknown {
            return metric_type.is_counter();
        }
        let name = labels.metric_name();
        let metadata = self.metadata.read();
        let family = std::iter::once(name).chain(
            ["_total", "_count", "_sum", "_bucket"]
                .iter()
                .filter_map(|suffix| name.strip_suffix(suffix)),
        );
        for candidate in family {
            if let Some(meta) = metadata.get(candidate) {
                return match meta.metric_type {
                    MetricType::Counter => true,
                    // A histogram's or summary's _count, _sum and _bucket only ever grow.
                    MetricType::Histogram | MetricType::Summary => candidate != name,
                    _ => false,
                };
            }
        }
        name.ends_with("_total")
    }

    fn each_selected(&self, selectors: &[Selector], mut f: impl FnMut(&Series)) {
        for shard in &self.shards {
            let shard = shard.read();
            for series in &shard.series {
                if selectors.iter().any(|s| s.matches(&series.labels)) {
                    f(series);
                }
            }
        }
    }

    /// Series matching a selector.
    pub fn select(&self, selector: &Selector) -> Vec<SeriesInfo> {
        let mut out = Vec::new();
        self.each_selected(std::slice::from_ref(selector), |s| {
            out.push(SeriesInfo {
                labels: s.labels.clone(),
                metric_type: s.metric_type,
            })
        });
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        out
    }

    /// Samples of the selected series in `(start_ms, end_ms]`.
    pub fn samples(&self, selector: &Selector, start_ms: i64, end_ms: i64) -> Vec<(LabelSet, Vec<Sample>)> {
        let mut out = Vec::new();
        self.each_selected(std::slice::from_ref(selector), |s| {
            out.push((s.labels.clone(), s.window(start_ms, end_ms)));
        });
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Aggregates of every selected series (or group) over the trailing window.
    pub fn window(&self, query: &WindowQuery) -> WindowResult {
        let watermark = self.watermark_ms();
        let at = query.at_ms.or(watermark);
        let mut rows = Vec::new();
        if let Some(end) = at {
            let start = end - query.window.ms;
            let mut seen = std::collections::HashSet::new();
            self.each_selected(&query.selectors, |s| {
                if seen.insert(s.labels.clone()) {
                    let samples = s.window(start, end);
                    let counter = self.is_counter(&s.labels, s.metric_type);
                    rows.push((s.labels.clone(), samples, counter));
                }
            });
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let end = at.unwrap_or(0);
        let series = match &query.by {
            None => rows
                .into_iter()
                .map(|(labels, samples, counter)| WindowRow {
                    labels,
                    aggregates: aggregate(&samples, query.window, end, counter),
                })
                .collect(),
            Some(by) => group(rows, by, query.window, end),
        };
        WindowResult {
            watermark,
            window: query.window.label(),
            at,
            series,
        }
    }

    pub fn stats(&self) -> StoreStats {
        let mut stats = StoreStats::default();
        for shard in &self.shards {
            let shard = shard.read();
            stats.active_series += shard.series.len();
            for series in &shard.series {
                stats.samples += series.samples.len();
                stats.bytes += series.bytes();
            }
        }
        for reason in DropReason::ALL {
            stats
                .dropped
                .insert(reason, self.dropped[reason_index(reason)].load(Ordering::Relaxed));
        }
        stats.refused_series = self.refused.load(Ordering::Relaxed);
        stats
    }
}

type Selected = (LabelSet, Vec<Sample>, bool);

fn group(rows: Vec<Selected>, by: &[String], span: WindowSpan, end: i64) -> Vec<WindowRow> {
    let mut groups: BTreeMap<LabelSet, Vec<Selected>> = BTreeMap::new();
    for row in rows {
        let key = LabelSet::from_pairs(
            by.iter()
                .filter_map(|name| row.0.get(name).map(|v| (name.clone(), v.to_owned()))),
        )
        .unwrap_or_default();
        groups.entry(key).or_default().push(row);
    }
    groups
        .into_iter()
        .map(|(labels, members)| {
            let mut pooled: Vec<Sample> = members.iter().flat_map(|m| m.1.iter().copied()).collect();
            pooled.sort_by_key(|s| s.timestamp_ms);
            let mut aggregates = aggregate(&pooled, span, end, false);
            let parts: Vec<Aggregates> = members
                .iter()
                .map(|(_, samples, counter)| aggregate(samples, span, end, *counter))
                .collect();
            let total = |pick: fn(&Aggregates) -> Option<f64>| -> Option<f64> {
                let values: Vec<f64> = parts.iter().filter_map(pick).collect();
                (!values.is_empty()).then(|| values.iter().sum())
            };
            aggregates.sum = total(|a| a.sum);
            aggregates.last = total(|a| a.last);
            aggregates.slope = total(|a| a.slope);
            aggregates.rate = total(|a| a.rate);
            aggregates.increase = total(|a| a.increase);
            WindowRow { labels, aggregates }
        })
        .collect()
}

/// Appends each series a decoder hands it; see [`Store::appender`].
#[derive(Debug)]
pub struct Appender<'a> {
    store: &'a Store,
    newest: i64,
    outcome: AppendOutcome,
}

impl Appender<'_> {
    pub fn finish(self) -> AppendOutcome {
        self.outcome
    }
}

impl SeriesVisitor for Appender<'_> {
    type Error = std::convert::Infallible;

    fn series(&mut self, series: SeriesRef<'_>) -> Result<(), Self::Error> {
        let outcome = self.store.append_judged(series, self.newest);
        self.outcome.merge(outcome);
        Ok(())
    }

    fn metadata(
        &mut self,
        family: &str,
        metric_type: MetricType,
        unit: &str,
        help: &str,
    ) -> Result<(), Self::Error> {
        self.store.set_metadata(
            family,
            MetricMetadata {
                metric_type,
                unit: unit.to_owned(),
                help: help.to_owned(),
            },
        );
        Ok(())
    }
}
