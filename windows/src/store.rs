//! The window store: compressed per-series storage behind sharded locks, an event-time
//! watermark, retention, a cardinality limit, metric-family metadata, and window queries.
//!
//! Per series, samples in time order are appended straight into an open XOR chunk, sealed
//! every [`CHUNK_SAMPLES`](crate::chunk::CHUNK_SAMPLES) samples. A sample that arrives out of
//! order but not older than the watermark waits, uncompressed and sorted, in the series' late
//! head; queries merge it in, and once the watermark passes it (or the head grows) it is
//! merged into the chunks. Keeping in-order samples compressed from the start is what holds a
//! series to a few hundred bytes while still accepting the whole lateness span.
//!
//! Drops, each counted by reason: older than the retention floor (`out_of_retention`, newest
//! timestamp minus retention), else older than the watermark (`too_old`); a timestamp the
//! series already holds (`duplicate_timestamp`): the first value written wins, whether the new
//! value is equal or not, as Prometheus keeps the first and rejects a differing one as a
//! duplicate sample; a new series beyond `max_series` (`cardinality_limit`, its samples);
//! more than `max_future` ahead of the wall clock (`too_far_in_future`). A sample behind the
//! watermark that its series still holds counts as a duplicate: a retried batch is stored.
//! A write is judged against the newest timestamp seen before it started, so the order of
//! samples inside one request never makes its own samples late.
//!
//! Group-by semantics (`by=a,b`): series are grouped by the values of those labels (a missing
//! label groups as absent); a group's count, min, max, avg, stddev and percentiles are over the
//! pooled samples of its series; its sum, last, rate and increase are the sums of its series'
//! values; its slope is the sum of its series' slopes, which is the slope of the summed series
//! when their timestamps align.

use crate::aggregate::{
    Aggregates, Scratch, WindowResult, WindowRow, WindowSpan, aggregate, aggregate_with,
};
use crate::chunk::{Chunk, Encoder, encode_all};
use crate::selector::{MatchOp, Matcher, Selector};
use crate::symbols::{Symbols, map_bytes};
use model::{LabelSet, MetricMetadata, MetricType, Sample, SeriesRef, SeriesVisitor};
use parking_lot::RwLock;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::ops::Range;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

const SHARDS: usize = 16;

/// How many [`DropReason`]s there are.
const REASONS: usize = 5;

/// Now, in ms since the Unix epoch.
fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A series' labels in Prometheus notation, for messages.
fn series_text(labels: &[(&str, &str)]) -> String {
    LabelSet::from_pairs(labels.iter().copied())
        .map(|l| l.to_string())
        .unwrap_or_else(|_| format!("{labels:?}"))
}

/// Late samples a series holds uncompressed before they are merged into its chunks anyway.
const LATE_MAX: usize = 32;

/// Window-store settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// How long samples are kept behind the newest timestamp seen, in ms (at least the 15m
    /// window is always kept).
    pub retention_ms: i64,
    /// How far behind the newest timestamp seen a sample may arrive and still be merged, in
    /// ms; the watermark is the newest timestamp minus this.
    pub lateness_ms: i64,
    /// The cardinality limit: new series beyond this many are refused (every source's
    /// series together).
    pub max_series: usize,
    /// The cardinality limit of one source; unset, `max_series`.
    #[serde(default)]
    pub max_series_per_source: Option<usize>,
    /// Most sources held at once; writes of a new source beyond it are refused.
    #[serde(default = "default_max_sources")]
    pub max_sources: usize,
    /// How far ahead of the wall clock a sample may be; later ones are refused
    /// (`too_far_in_future`), so one bad clock cannot move event time into the future.
    #[serde(with = "model::duration::text")]
    pub max_future: Duration,
}

fn default_max_sources() -> usize {
    64
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            retention_ms: 3_600_000,
            lateness_ms: 300_000,
            max_series: 1_000_000,
            max_series_per_source: None,
            max_sources: default_max_sources(),
            max_future: Duration::from_secs(600),
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
    /// A timestamp its series already holds (the first value written is kept).
    DuplicateTimestamp,
    /// Its series would pass the cardinality limit.
    CardinalityLimit,
    /// More than `max_future` ahead of the wall clock.
    TooFarInFuture,
}

impl DropReason {
    pub const ALL: [DropReason; REASONS] = [
        DropReason::TooOld,
        DropReason::OutOfRetention,
        DropReason::DuplicateTimestamp,
        DropReason::CardinalityLimit,
        DropReason::TooFarInFuture,
    ];

    /// The name used in stats, metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::TooOld => "too_old",
            DropReason::OutOfRetention => "out_of_retention",
            DropReason::DuplicateTimestamp => "duplicate_timestamp",
            DropReason::CardinalityLimit => "cardinality_limit",
            DropReason::TooFarInFuture => "too_far_in_future",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// What appending one or more series did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Samples stored.
    pub appended: usize,
    /// Samples dropped, indexed by [`DropReason`] (see [`AppendOutcome::dropped`]).
    pub dropped_by_reason: [usize; REASONS],
    /// New series refused by the cardinality limit.
    pub refused_series: usize,
    /// The first refused series, in Prometheus notation.
    pub first_refused: Option<String>,
    /// The limit in force.
    pub max_series: usize,
    /// The first series a sample of which was not stored (duplicates aside), in Prometheus
    /// notation, and why.
    pub first_dropped: Option<(String, DropReason)>,
}

impl AppendOutcome {
    /// Samples dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> usize {
        self.dropped_by_reason[reason.index()]
    }

    /// All samples dropped.
    pub fn dropped_total(&self) -> usize {
        self.dropped_by_reason.iter().sum()
    }

    /// Samples the store now holds from this write: appended, and duplicates of samples it
    /// already held (a retried batch is stored, not lost).
    pub fn stored(&self) -> usize {
        self.appended + self.dropped(DropReason::DuplicateTimestamp)
    }

    /// When samples came but none could be stored, a message for the sender naming how many
    /// were refused for which reason and the first series refused.
    pub fn nothing_stored(&self) -> Option<String> {
        if self.stored() > 0 || self.dropped_total() == 0 {
            return None;
        }
        let reasons: Vec<String> = DropReason::ALL
            .iter()
            .filter(|r| self.dropped(**r) > 0)
            .map(|r| format!("{} {}", self.dropped(*r), r.as_str()))
            .collect();
        let first = self
            .first_dropped
            .as_ref()
            .map(|(series, reason)| format!("; first: {series} ({})", reason.as_str()))
            .unwrap_or_default();
        Some(format!(
            "no sample could be stored: {}{first}",
            reasons.join(", ")
        ))
    }

    /// Adds another outcome to this one.
    pub fn merge(&mut self, other: &AppendOutcome) {
        self.appended += other.appended;
        for (total, n) in self
            .dropped_by_reason
            .iter_mut()
            .zip(other.dropped_by_reason)
        {
            *total += n;
        }
        self.refused_series += other.refused_series;
        if self.first_refused.is_none() {
            self.first_refused.clone_from(&other.first_refused);
        }
        self.max_series = self.max_series.max(other.max_series);
        if self.first_dropped.is_none() {
            self.first_dropped.clone_from(&other.first_dropped);
        }
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
    /// The type the series or its family declared (`Unknown` when neither did).
    pub metric_type: MetricType,
    /// Whether `rate`/`increase` apply (see [`Store::is_counter`]).
    pub counter: bool,
    /// Samples held.
    pub samples: usize,
}

/// Figures about what the store holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoreStats {
    /// Series holding at least one sample.
    pub active_series: usize,
    /// Samples held.
    pub samples: usize,
    /// Heap and inline bytes held, labels and the shared symbol table included.
    pub bytes: usize,
    /// Samples dropped since start, by reason.
    pub dropped: BTreeMap<DropReason, u64>,
    /// Times a new series was refused by the cardinality limit.
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
    /// Series matching any of these (a union, like several `match[]`).
    pub selectors: Vec<Selector>,
    pub window: WindowSpan,
    /// End of the window; the watermark when `None`.
    pub at_ms: Option<i64>,
    /// Group by these labels.
    pub by: Option<Vec<String>>,
}

/// Passes a precomputed 64-bit hash through as the map's hash.
#[derive(Debug, Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
        self.0 = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn write_u32(&mut self, n: u32) {
        // The key is already a hash; spread it over the high bits the table probes with.
        self.0 = u64::from(n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// Series index keys: the high half of the label hash (the low half picks the shard).
/// Equal keys of different series are rare and resolved through `Shard::collided`.
type HashIndex = HashMap<u32, u32, BuildHasherDefault<PassThrough>>;

fn index_key(hash: u64) -> u32 {
    (hash >> 32) as u32
}

/// What a series rarely needs, boxed together: sealed chunks (none for its first 120
/// samples) and out-of-order samples (most series never have any).
#[derive(Debug, Default)]
struct Extra {
    /// Sealed chunks, oldest first.
    sealed: Vec<Chunk>,
    /// Out-of-order samples not older than the watermark, sorted by timestamp.
    late: Vec<Sample>,
}

#[derive(Debug)]
struct Series {
    /// Label pair ids (see [`Symbols::intern_pair`]), in the order the labels arrived:
    /// sorted by name.
    labels: Box<[u32]>,
    metric_type: MetricType,
    open: Encoder,
    extra: Option<Box<Extra>>,
}

impl Series {
    fn new(labels: Box<[u32]>) -> Self {
        Self {
            labels,
            metric_type: MetricType::Unknown,
            open: Encoder::default(),
            extra: None,
        }
    }

    fn sealed(&self) -> &[Chunk] {
        self.extra.as_deref().map_or(&[], |e| e.sealed.as_slice())
    }

    fn sealed_mut(&mut self) -> &mut Vec<Chunk> {
        &mut self.extra.get_or_insert_with(Box::default).sealed
    }

    fn late(&self) -> &[Sample] {
        self.extra.as_deref().map_or(&[], |e| e.late.as_slice())
    }

    /// Whether the series holds a sample at `ts` (chunks or late head).
    fn holds(&self, ts: i64) -> bool {
        self.late()
            .binary_search_by_key(&ts, |s| s.timestamp_ms)
            .is_ok()
            || self.chunks_hold(ts)
    }

    /// Frees the boxed part once it holds nothing.
    fn tidy(&mut self) {
        if self
            .extra
            .as_deref()
            .is_some_and(|e| e.sealed.is_empty() && e.late.is_empty())
        {
            self.extra = None;
        }
    }

    fn is_empty(&self) -> bool {
        self.sealed().is_empty() && self.open.is_empty() && self.late().is_empty()
    }

    fn len(&self) -> usize {
        self.sealed()
            .iter()
            .map(|c| usize::from(c.count))
            .sum::<usize>()
            + usize::from(self.open.count())
            + self.late().len()
    }

    /// The newest timestamp in the chunks.
    fn chunk_last_ms(&self) -> Option<i64> {
        if !self.open.is_empty() {
            Some(self.open.last_ms())
        } else {
            self.sealed().last().map(|c| c.last_ms)
        }
    }

    fn labels_eq(&self, symbols: &Symbols, labels: &[(&str, &str)]) -> bool {
        self.labels.len() == labels.len()
            && self
                .labels
                .iter()
                .zip(labels)
                .all(|(&id, &(n, v))| symbols.pair_text(id) == (n, v))
    }

    fn pairs<'s>(&self, symbols: &'s Symbols) -> Vec<(&'s str, &'s str)> {
        self.labels
            .iter()
            .map(|&id| symbols.pair_text(id))
            .collect()
    }

    /// Whether the chunks hold a sample at `ts` (only chunks that can hold it are decoded).
    fn chunks_hold(&self, ts: i64) -> bool {
        let sealed = self
            .sealed()
            .iter()
            .filter(|c| c.first_ms <= ts && ts <= c.last_ms)
            .any(|c| c.iter().any(|s| s.timestamp_ms == ts));
        sealed
            || (!self.open.is_empty()
                && self.open.first_ms() <= ts
                && ts <= self.open.last_ms()
                && self.open.iter().any(|s| s.timestamp_ms == ts))
    }

    /// Stores one sample not older than the watermark; `false` if its timestamp is taken.
    fn insert(&mut self, sample: Sample) -> bool {
        let in_order = self
            .chunk_last_ms()
            .is_none_or(|last| sample.timestamp_ms > last);
        if in_order {
            if self.open.is_full() {
                let full = std::mem::take(&mut self.open);
                self.sealed_mut().push(full.seal());
            }
            self.open.push(sample);
            return true;
        }
        let late = self.late();
        let at = late.partition_point(|s| s.timestamp_ms < sample.timestamp_ms);
        if late
            .get(at)
            .is_some_and(|s| s.timestamp_ms == sample.timestamp_ms)
            || self.chunks_hold(sample.timestamp_ms)
        {
            return false;
        }
        let late = &mut self.extra.get_or_insert_with(Box::default).late;
        late.insert(at, sample);
        if late.len() > LATE_MAX {
            self.fold_late();
        }
        true
    }

    /// Merges the late head into the chunks, re-encoding the chunks it overlaps.
    fn fold_late(&mut self) {
        let Some(oldest) = self.late().first().map(|s| s.timestamp_ms) else {
            return;
        };
        let keep = self.sealed().partition_point(|c| c.last_ms < oldest);
        let open = std::mem::take(&mut self.open);
        let extra = self.extra.get_or_insert_with(Box::default);
        let mut older: Vec<Sample> = extra
            .sealed
            .drain(keep..)
            .flat_map(|c| c.iter().collect::<Vec<_>>())
            .collect();
        older.extend(open.iter());
        let late = std::mem::take(&mut extra.late);
        let merged = merge_sorted(&older, &late);
        let (sealed, open) = encode_all(&merged);
        extra.sealed.extend(sealed);
        self.open = open;
        self.tidy();
    }

    /// Drops whole chunks (and late samples) older than `floor`.
    fn trim(&mut self, floor: i64) {
        if let Some(extra) = &mut self.extra {
            let expired = extra.sealed.partition_point(|c| c.last_ms < floor);
            extra.sealed.drain(..expired);
            extra.late.retain(|s| s.timestamp_ms >= floor);
        }
        self.tidy();
        if self.sealed().is_empty() && !self.open.is_empty() && self.open.last_ms() < floor {
            self.open = Encoder::default();
        }
    }

    /// Appends the samples in `(start_ms, end_ms]` to `out`, in time order; only chunks that
    /// overlap the window are decoded, each only up to its end.
    fn window_into(&self, start_ms: i64, end_ms: i64, out: &mut Vec<Sample>) {
        let base = out.len();
        let overlapping = self
            .sealed()
            .iter()
            .filter(|c| c.last_ms > start_ms && c.first_ms <= end_ms)
            .map(Chunk::iter);
        let open = (!self.open.is_empty()
            && self.open.last_ms() > start_ms
            && self.open.first_ms() <= end_ms)
            .then(|| self.open.iter());
        for decoder in overlapping.chain(open) {
            decoder.window_into(start_ms, end_ms, out);
        }
        // The late head is kept sorted: the window's part of it is one slice.
        let late = self.late();
        let lo = late.partition_point(|s| s.timestamp_ms <= start_ms);
        let hi = late.partition_point(|s| s.timestamp_ms <= end_ms);
        let late = &late[lo..hi.max(lo)];
        if !late.is_empty() {
            let merged = merge_sorted(&out[base..], late);
            out.truncate(base);
            out.extend(merged);
        }
    }

    /// Samples in `(start_ms, end_ms]`, in time order.
    #[cfg(test)]
    fn window(&self, start_ms: i64, end_ms: i64) -> Vec<Sample> {
        let mut out = Vec::new();
        self.window_into(start_ms, end_ms, &mut out);
        out
    }

    /// Heap bytes held: label ids, the open chunk's buffer and the boxed rest.
    fn heap_bytes(&self) -> usize {
        self.labels.len() * 4
            + self.open.heap_bytes()
            + self.extra.as_deref().map_or(0, |e| {
                std::mem::size_of::<Extra>()
                    + e.sealed.capacity() * std::mem::size_of::<Chunk>()
                    + e.sealed.iter().map(Chunk::heap_bytes).sum::<usize>()
                    + e.late.capacity() * std::mem::size_of::<Sample>()
            })
    }
}

fn merge_sorted(a: &[Sample], b: &[Sample]) -> Vec<Sample> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].timestamp_ms <= b[j].timestamp_ms {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

#[derive(Debug, Default)]
struct Shard {
    /// Label hash → slot of the first series with that hash.
    index: HashIndex,
    /// Slots of further series whose index key collided with an indexed one.
    collided: HashMap<u32, Vec<u32>>,
    slots: Vec<Option<Series>>,
    free: Vec<u32>,
    /// Metric name pair id (`__name__="x"`) → slots of its series: a query that names its
    /// metric visits only these, however many other series the shard holds.
    by_metric: HashMap<u32, Vec<u32>, ahash::RandomState>,
}

impl Shard {
    fn find(&self, hash: u64, symbols: &Symbols, labels: &[(&str, &str)]) -> Option<u32> {
        let key = index_key(hash);
        let first = *self.index.get(&key)?;
        let matches = |slot: u32| {
            self.slots
                .get(slot as usize)
                .and_then(Option::as_ref)
                .is_some_and(|s| s.labels_eq(symbols, labels))
        };
        if matches(first) {
            return Some(first);
        }
        self.collided
            .get(&key)
            .and_then(|slots| slots.iter().copied().find(|&slot| matches(slot)))
    }

    fn add(&mut self, hash: u64, series: Series, name_pair: Option<u32>) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Some(series);
                slot
            }
            None => {
                if self.slots.len() == self.slots.capacity() {
                    // Grow by an eighth: slots are most of a shard's memory.
                    self.slots.reserve_exact((self.slots.len() / 8).max(16));
                }
                self.slots.push(Some(series));
                (self.slots.len() - 1) as u32
            }
        };
        if let Some(pair) = name_pair {
            self.by_metric.entry(pair).or_default().push(slot);
        }
        let key = index_key(hash);
        match self.index.entry(key) {
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(slot);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.entry(key).or_default().push(slot);
            }
        }
        slot
    }

    fn remove(&mut self, hash: u64, slot: u32) {
        let hash = index_key(hash);
        self.slots[slot as usize] = None;
        self.free.push(slot);
        if self.index.get(&hash) == Some(&slot) {
            self.index.remove(&hash);
            if let Some(others) = self.collided.get_mut(&hash) {
                if let Some(next) = others.pop() {
                    self.index.insert(hash, next);
                }
                if others.is_empty() {
                    self.collided.remove(&hash);
                }
            }
        } else if let Some(others) = self.collided.get_mut(&hash) {
            others.retain(|&s| s != slot);
            if others.is_empty() {
                self.collided.remove(&hash);
            }
        }
    }

    fn series(&self) -> impl Iterator<Item = &Series> {
        self.slots.iter().flatten()
    }

    /// Drops freed slots from the metric postings, one pass per metric they held.
    fn unlist(&mut self, freed: &mut [(Option<u32>, u32)]) {
        freed.sort_unstable();
        for group in freed.chunk_by(|a, b| a.0 == b.0) {
            let Some(pair) = group.first().and_then(|g| g.0) else {
                continue;
            };
            if let Some(slots) = self.by_metric.get_mut(&pair) {
                slots.retain(|s| group.binary_search(&(Some(pair), *s)).is_err());
                if slots.is_empty() {
                    self.by_metric.remove(&pair);
                }
            }
        }
    }

    /// The slots a query must visit: the postings of the metric names every selector pins
    /// (sorted, each once), or `None` when some selector pins none and all must be visited.
    fn candidates(&self, names: &[Option<u32>]) -> Option<Vec<u32>> {
        let mut slots = Vec::new();
        for name in names {
            match name {
                None => return None,
                Some(pair) => {
                    slots.extend_from_slice(self.by_metric.get(pair).map_or(&[][..], |v| v))
                }
            }
        }
        if names.len() > 1 {
            slots.sort_unstable();
            slots.dedup();
        }
        Some(slots)
    }

    fn heap_bytes_postings(&self) -> usize {
        map_bytes(&self.by_metric)
            + self
                .by_metric
                .values()
                .map(|v| v.capacity() * 4)
                .sum::<usize>()
    }

    fn heap_bytes(&self) -> usize {
        map_bytes(&self.index)
            + map_bytes(&self.collided)
            + self
                .collided
                .values()
                .map(|v| v.capacity() * 4)
                .sum::<usize>()
            + self.slots.capacity() * std::mem::size_of::<Option<Series>>()
            + self.free.capacity() * 4
            + self.series().map(Series::heap_bytes).sum::<usize>()
            + self.heap_bytes_postings()
    }
}

/// The store. All methods take `&self`; writers to different shards do not contend.
#[derive(Debug)]
pub struct Store {
    config: StoreConfig,
    hasher: ahash::RandomState,
    shards: Vec<RwLock<Shard>>,
    symbols: RwLock<Symbols>,
    metadata: RwLock<HashMap<String, MetricMetadata>>,
    newest_ms: AtomicI64,
    /// Oldest timestamp ever accepted: where event-time processing of this store begins.
    oldest_ms: AtomicI64,
    /// Event time at which the next maintenance pass (sealing, retention) is due.
    next_maintenance_ms: AtomicI64,
    series_count: AtomicUsize,
    /// The series limit shared with the other stores of a [`crate::Sources`], if any.
    total: Option<std::sync::Arc<SeriesBudget>>,
    dropped: [AtomicU64; REASONS],
    refused: AtomicU64,
    /// Samples stored since start (before retention forgets any).
    stored: AtomicU64,
}

/// A series limit shared by several stores (every source's together).
#[derive(Debug)]
pub struct SeriesBudget {
    limit: usize,
    count: AtomicUsize,
}

impl SeriesBudget {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            count: AtomicUsize::new(0),
        }
    }

    /// Series held by every store sharing the budget.
    pub fn used(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    fn reserve(&self) -> bool {
        self.count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        self.count.fetch_sub(n, Ordering::AcqRel);
    }
}

/// Everything a write is judged by, fixed when the write starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Judge {
    watermark: i64,
    retention_floor: i64,
    /// Samples after this (wall clock plus `max_future`) are refused.
    future_limit: i64,
}

impl Store {
    /// A store whose new series also count against `total`, a limit it shares with others.
    pub fn with_budget(config: StoreConfig, total: std::sync::Arc<SeriesBudget>) -> Self {
        Self {
            total: Some(total),
            ..Self::new(config)
        }
    }

    pub fn new(config: StoreConfig) -> Self {
        let retention_ms = config.retention_ms.max(WindowSpan::FIFTEEN_MINUTES.ms);
        let config = StoreConfig {
            retention_ms,
            lateness_ms: config.lateness_ms.clamp(0, retention_ms),
            ..config
        };
        Self {
            config,
            hasher: ahash::RandomState::with_seeds(
                0x5eb0_7a11,
                0x0c0f_fee5,
                0x5a17_ed00,
                0xdead_10cc,
            ),
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            symbols: RwLock::new(Symbols::default()),
            metadata: RwLock::new(HashMap::new()),
            newest_ms: AtomicI64::new(i64::MIN),
            oldest_ms: AtomicI64::new(i64::MAX),
            next_maintenance_ms: AtomicI64::new(i64::MIN),
            series_count: AtomicUsize::new(0),
            total: None,
            dropped: Default::default(),
            refused: AtomicU64::new(0),
            stored: AtomicU64::new(0),
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Samples stored since start, counting those retention has since forgotten.
    pub fn stored_total(&self) -> u64 {
        self.stored.load(Ordering::Relaxed)
    }

    /// Newest timestamp seen minus the allowed lateness; `None` before the first sample.
    pub fn watermark_ms(&self) -> Option<i64> {
        let newest = self.newest_ms.load(Ordering::Acquire);
        (newest != i64::MIN).then(|| newest.saturating_sub(self.config.lateness_ms))
    }

    /// The oldest timestamp ever accepted (not forgotten by retention); `None` before the
    /// first sample. Event-time consumers start from it, so replays begin where the data does.
    pub fn first_timestamp_ms(&self) -> Option<i64> {
        let oldest = self.oldest_ms.load(Ordering::Acquire);
        (oldest != i64::MAX).then_some(oldest)
    }

    fn hash(&self, labels: &[(&str, &str)]) -> u64 {
        let mut h = self.hasher.build_hasher();
        for (n, v) in labels {
            h.write(n.as_bytes());
            h.write_u8(0xff);
            h.write(v.as_bytes());
            h.write_u8(0xfe);
        }
        h.finish()
    }

    pub(crate) fn judge(&self) -> Judge {
        let future_limit = wall_clock_ms()
            .saturating_add(i64::try_from(self.config.max_future.as_millis()).unwrap_or(i64::MAX));
        match self.newest_ms.load(Ordering::Acquire) {
            i64::MIN => Judge {
                watermark: i64::MIN,
                retention_floor: i64::MIN,
                future_limit,
            },
            newest => Judge {
                watermark: newest.saturating_sub(self.config.lateness_ms),
                retention_floor: newest.saturating_sub(self.config.retention_ms),
                future_limit,
            },
        }
    }

    /// Adds one decoded series' samples. New series beyond `max_series` are refused (counted).
    pub fn append(&self, series: SeriesRef<'_>) -> AppendOutcome {
        let mut outcome = AppendOutcome {
            max_series: self.config.max_series,
            ..AppendOutcome::default()
        };
        self.append_judged(series, self.judge(), &mut outcome);
        self.maintain_if_due();
        outcome
    }

    pub(crate) fn append_judged(
        &self,
        series: SeriesRef<'_>,
        judge: Judge,
        outcome: &mut AppendOutcome,
    ) {
        if series.samples.is_empty() {
            return;
        }
        let hash = self.hash(series.labels);
        let mut shard = self.shards[(hash % SHARDS as u64) as usize].write();
        let found = shard.find(hash, &self.symbols.read(), series.labels);
        let slot = match found {
            Some(slot) => slot,
            None => {
                let reserved =
                    self.series_count
                        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                            (n < self.config.max_series).then_some(n + 1)
                        });
                let reserved = match (reserved, &self.total) {
                    (Ok(_), Some(total)) if !total.reserve() => {
                        self.series_count.fetch_sub(1, Ordering::AcqRel);
                        false
                    }
                    (reserved, _) => reserved.is_ok(),
                };
                if !reserved {
                    drop(shard);
                    self.refuse(series, outcome);
                    return;
                }
                let mut name_pair = None;
                let labels: Box<[u32]> = {
                    let mut symbols = self.symbols.write();
                    series
                        .labels
                        .iter()
                        .map(|(n, v)| {
                            let pair = symbols.intern_pair(n, v);
                            if *n == model::METRIC_NAME {
                                name_pair = Some(pair);
                            }
                            pair
                        })
                        .collect()
                };
                shard.add(hash, Series::new(labels), name_pair)
            }
        };
        let Some(stored) = shard.slots.get_mut(slot as usize).and_then(Option::as_mut) else {
            return;
        };
        if series.metric_type != MetricType::Unknown {
            stored.metric_type = series.metric_type;
        }
        let mut newest = i64::MIN;
        let mut oldest = i64::MAX;
        let mut drops = [0usize; REASONS];
        let appended_before = outcome.appended;
        for sample in series.samples {
            let reason = if sample.timestamp_ms > judge.future_limit {
                DropReason::TooFarInFuture
            } else if sample.timestamp_ms < judge.watermark {
                // A resent sample the series still holds is a duplicate, not a loss.
                if stored.holds(sample.timestamp_ms) {
                    DropReason::DuplicateTimestamp
                } else if sample.timestamp_ms < judge.retention_floor {
                    DropReason::OutOfRetention
                } else {
                    DropReason::TooOld
                }
            } else if stored.insert(*sample) {
                outcome.appended += 1;
                newest = newest.max(sample.timestamp_ms);
                oldest = oldest.min(sample.timestamp_ms);
                continue;
            } else {
                DropReason::DuplicateTimestamp
            };
            drops[reason.index()] += 1;
        }
        if stored
            .sealed()
            .first()
            .is_some_and(|c| c.last_ms < judge.retention_floor)
        {
            stored.trim(judge.retention_floor);
        }
        let lost = DropReason::ALL
            .iter()
            .find(|r| **r != DropReason::DuplicateTimestamp && drops[r.index()] > 0);
        if outcome.first_dropped.is_none()
            && let Some(reason) = lost
        {
            outcome.first_dropped = Some((series_text(series.labels), *reason));
        }
        drop(shard);
        self.stored.fetch_add(
            (outcome.appended - appended_before) as u64,
            Ordering::Relaxed,
        );
        for reason in DropReason::ALL {
            self.count_drop(outcome, reason, drops[reason.index()]);
        }
        if newest > self.newest_ms.load(Ordering::Relaxed) {
            self.newest_ms.fetch_max(newest, Ordering::AcqRel);
        }
        if oldest < self.oldest_ms.load(Ordering::Relaxed) {
            self.oldest_ms.fetch_min(oldest, Ordering::AcqRel);
        }
    }

    fn count_drop(&self, outcome: &mut AppendOutcome, reason: DropReason, n: usize) {
        if n > 0 {
            outcome.dropped_by_reason[reason.index()] += n;
            self.dropped[reason.index()].fetch_add(n as u64, Ordering::Relaxed);
        }
    }

    fn refuse(&self, series: SeriesRef<'_>, outcome: &mut AppendOutcome) {
        outcome.refused_series += 1;
        if outcome.first_refused.is_none() {
            outcome.first_refused = Some(series_text(series.labels));
        }
        if outcome.first_dropped.is_none() {
            outcome.first_dropped =
                Some((series_text(series.labels), DropReason::CardinalityLimit));
        }
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.count_drop(outcome, DropReason::CardinalityLimit, series.samples.len());
    }

    /// Runs [`Store::maintain`] when event time has moved a maintenance step since the last.
    pub(crate) fn maintain_if_due(&self) {
        let newest = self.newest_ms.load(Ordering::Acquire);
        let due = self.next_maintenance_ms.load(Ordering::Acquire);
        if newest == i64::MIN || newest < due {
            return;
        }
        let step = (self.config.lateness_ms / 2).clamp(1_000, 60_000);
        let next = newest.saturating_add(step);
        if self
            .next_maintenance_ms
            .compare_exchange(due, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.maintain();
        }
    }

    /// Merges late samples the watermark has passed into their chunks, drops samples out of
    /// retention and forgets series left empty. Appends run it as event time advances.
    pub fn maintain(&self) {
        let judge = self.judge();
        if judge.watermark == i64::MIN {
            return;
        }
        let mut emptied: Vec<(u64, u32)> = Vec::new();
        let mut freed: Vec<(Option<u32>, u32)> = Vec::new();
        for shard in &self.shards {
            let mut shard = shard.write();
            emptied.clear();
            for (slot, series) in shard.slots.iter_mut().enumerate() {
                let Some(series) = series else { continue };
                series.trim(judge.retention_floor);
                if series
                    .late()
                    .first()
                    .is_some_and(|s| s.timestamp_ms < judge.watermark)
                {
                    series.fold_late();
                }
                if series.is_empty() {
                    emptied.push((0, slot as u32));
                }
            }
            if emptied.is_empty() {
                continue;
            }
            let symbols = self.symbols.read();
            let name = symbols.lookup(model::METRIC_NAME);
            freed.clear();
            for (hash, slot) in emptied.iter_mut() {
                if let Some(Some(series)) = shard.slots.get(*slot as usize) {
                    *hash = self.hash(&series.pairs(&symbols));
                    let pair = series
                        .labels
                        .iter()
                        .copied()
                        .find(|&p| Some(symbols.pair(p).0) == name);
                    freed.push((pair, *slot));
                }
            }
            drop(symbols);
            for &(hash, slot) in &emptied {
                shard.remove(hash, slot);
            }
            shard.unlist(&mut freed);
            self.series_count.fetch_sub(emptied.len(), Ordering::AcqRel);
            if let Some(total) = &self.total {
                total.release(emptied.len());
            }
        }
    }

    /// A visitor that appends each decoded series and sums the outcomes; call
    /// [`Appender::finish`] for the total.
    pub fn appender(&self) -> Appender<'_> {
        Appender {
            store: self,
            judge: self.judge(),
            outcome: AppendOutcome {
                max_series: self.config.max_series,
                ..AppendOutcome::default()
            },
        }
    }

    /// Remembers a metric family's type, unit and help (remote_write 1.0 sends them apart).
    pub fn set_metadata(&self, family: &str, metadata: MetricMetadata) {
        let mut known = self.metadata.write();
        if known.get(family) != Some(&metadata) {
            known.insert(family.to_owned(), metadata);
        }
    }

    /// Whether a series is a counter: its own declared type; else its family's metadata,
    /// trying the metric name, then the name minus `_total`, `_count`, `_sum` or `_bucket`
    /// (a histogram's or summary's `_count`, `_sum` and `_bucket` count too); else the
    /// `_total` naming convention.
    pub fn is_counter(&self, metric_name: &str, metric_type: MetricType) -> bool {
        if metric_type != MetricType::Unknown {
            return metric_type.is_counter();
        }
        let metadata = self.metadata.read();
        let family = std::iter::once(metric_name).chain(
            ["_total", "_count", "_sum", "_bucket"]
                .iter()
                .filter_map(|suffix| metric_name.strip_suffix(suffix)),
        );
        for candidate in family {
            if let Some(meta) = metadata.get(candidate) {
                return match meta.metric_type {
                    MetricType::Counter => true,
                    MetricType::Histogram | MetricType::Summary => candidate != metric_name,
                    MetricType::Unknown => continue,
                    _ => false,
                };
            }
        }
        metric_name.ends_with("_total")
    }

    /// The selected series (any selector matching), gathered shard by shard under its lock:
    /// label pair ids, samples held, and with `window` the samples in `(start, end]`.
    /// Matchers compare symbol ids, so no label text is read or copied here; when every
    /// selector names its metric, only that metric's series are visited.
    fn gather(&self, selectors: &[Selector], window: Option<(i64, i64)>) -> Gathered {
        self.gather_in(selectors, window, 0..SHARDS)
    }

    /// [`Store::gather`] over some shards only.
    fn gather_in(
        &self,
        selectors: &[Selector],
        window: Option<(i64, i64)>,
        shards: impl Iterator<Item = usize>,
    ) -> Gathered {
        let mut bound: Vec<Vec<Bound<'_>>> = selectors
            .iter()
            .map(|s| s.matchers.iter().map(Bound::new).collect())
            .collect();
        let mut out = Gathered::default();
        for shard in shards.filter_map(|i| self.shards.get(i)) {
            let shard = shard.read();
            let symbols = self.symbols.read();
            bound.iter_mut().flatten().for_each(|b| b.bind(&symbols));
            let names: Vec<Option<u32>> = selectors
                .iter()
                .map(|s| {
                    s.metric_name().map(|n| {
                        symbols
                            .lookup_pair(model::METRIC_NAME, n)
                            .unwrap_or(u32::MAX)
                    })
                })
                .collect();
            let mut visit = |series: &Series| {
                let selected = bound.iter_mut().any(|matchers| {
                    matchers
                        .iter_mut()
                        .all(|m| m.matches(&symbols, &series.labels))
                });
                if !selected {
                    return;
                }
                let labels = out.labels.len();
                out.labels.extend_from_slice(&series.labels);
                let samples = out.samples.len();
                if let Some((start, end)) = window {
                    series.window_into(start, end, &mut out.samples);
                }
                out.rows.push(GatheredRow {
                    labels: labels..out.labels.len(),
                    samples: samples..out.samples.len(),
                    metric_type: series.metric_type,
                    held: series.len(),
                });
            };
            match shard.candidates(&names) {
                Some(slots) => slots
                    .iter()
                    .filter_map(|&slot| shard.slots.get(slot as usize).and_then(Option::as_ref))
                    .for_each(&mut visit),
                None => shard.series().for_each(&mut visit),
            }
        }
        out
    }

    /// The gathered rows in label order, each with its label set and whether it is a counter.
    ///
    /// Sorting compares the ranks of label pairs (ranked once by name, then value, as
    /// [`LabelSet`] orders its labels), so no label text is compared per row.
    fn resolve(&self, gathered: &Gathered) -> Vec<(usize, LabelSet, bool)> {
        let symbols = self.symbols.read();
        let mut rank = Ranks::new(symbols.pair_count(), gathered.labels.len());
        let mut distinct: Vec<u32> = Vec::new();
        for &pair in &gathered.labels {
            if rank.get(pair).is_none() {
                rank.set(pair, 0);
                distinct.push(pair);
            }
        }
        distinct.sort_unstable_by(|a, b| symbols.pair_text(*a).cmp(&symbols.pair_text(*b)));
        for (i, pair) in distinct.iter().enumerate() {
            rank.set(*pair, i as u32);
        }
        let mut ranked: Vec<u32> = gathered
            .labels
            .iter()
            .map(|&pair| rank.get(pair).unwrap_or(0))
            .collect();
        for row in &gathered.rows {
            if let Some(labels) = ranked.get_mut(row.labels.clone()) {
                labels.sort_unstable();
            }
        }
        let ranks = |row: usize| {
            gathered
                .rows
                .get(row)
                .and_then(|r| ranked.get(r.labels.clone()))
                .unwrap_or(&[])
        };
        let mut order: Vec<usize> = (0..gathered.rows.len()).collect();
        order.sort_unstable_by(|&a, &b| ranks(a).cmp(ranks(b)));

        let name = symbols.lookup(model::METRIC_NAME);
        let mut counters: HashMap<u32, bool, ahash::RandomState> = HashMap::default();
        order
            .into_iter()
            .map(|row| {
                let pairs = ranks(row)
                    .iter()
                    .map(|&r| distinct.get(r as usize).copied().unwrap_or(u32::MAX));
                let labels = LabelSet::from_pairs(pairs.clone().map(|p| symbols.pair_text(p)))
                    .unwrap_or_default();
                let metric_type = gathered
                    .rows
                    .get(row)
                    .map_or(MetricType::Unknown, |r| r.metric_type);
                let counter = if metric_type == MetricType::Unknown {
                    let metric = pairs
                        .map(|p| symbols.pair(p))
                        .find(|(n, _)| Some(*n) == name)
                        .map_or(u32::MAX, |(_, v)| v);
                    *counters.entry(metric).or_insert_with(|| {
                        self.is_counter(symbols.resolve(metric), MetricType::Unknown)
                    })
                } else {
                    metric_type.is_counter()
                };
                (row, labels, counter)
            })
            .collect()
    }

    /// Pod owners as kube-state-metrics records them (`kube_pod_owner`,
    /// `kube_replicaset_owner`), for [`model::OwnerIndex::workload_of`]; empty when not scraped.
    pub fn owners(&self) -> model::OwnerIndex {
        let mut index = model::OwnerIndex::default();
        for metric in [model::POD_OWNER_METRIC, model::REPLICASET_OWNER_METRIC] {
            let selector = Selector::from_matchers(vec![crate::Matcher::new(
                model::METRIC_NAME,
                crate::MatchOp::Equal,
                metric,
            )]);
            for series in self.select(&selector) {
                index.observe(&series.labels);
            }
        }
        index
    }

    /// Series matching a selector, sorted by labels.
    pub fn select(&self, selector: &Selector) -> Vec<SeriesInfo> {
        let gathered = self.gather(std::slice::from_ref(selector), None);
        self.resolve(&gathered)
            .into_iter()
            .map(|(row, labels, counter)| {
                let (metric_type, samples) = gathered
                    .rows
                    .get(row)
                    .map_or((MetricType::Unknown, 0), |r| (r.metric_type, r.held));
                SeriesInfo {
                    labels,
                    metric_type,
                    counter,
                    samples,
                }
            })
            .collect()
    }

    /// Samples of the selected series in `(start_ms, end_ms]`, sorted by labels.
    pub fn samples(
        &self,
        selector: &Selector,
        start_ms: i64,
        end_ms: i64,
    ) -> Vec<(LabelSet, Vec<Sample>)> {
        let gathered = self.gather(std::slice::from_ref(selector), Some((start_ms, end_ms)));
        self.resolve(&gathered)
            .into_iter()
            .map(|(row, labels, _)| (labels, gathered.samples_of(row).to_vec()))
            .collect()
    }

    /// Parts a scan may read one at a time ([`Store::samples_in_part`],
    /// [`Store::window_in_part`]): each holds a fixed share of the series.
    pub const PARTS: usize = SHARDS;

    /// [`Store::samples`] of one part (`part < Store::PARTS`), so a scan never holds more
    /// than one part's samples at a time.
    pub fn samples_in_part(
        &self,
        selector: &Selector,
        start_ms: i64,
        end_ms: i64,
        part: usize,
    ) -> Vec<(LabelSet, Vec<Sample>)> {
        let gathered = self.gather_in(
            std::slice::from_ref(selector),
            Some((start_ms, end_ms)),
            std::iter::once(part),
        );
        self.resolve(&gathered)
            .into_iter()
            .map(|(row, labels, _)| (labels, gathered.samples_of(row).to_vec()))
            .collect()
    }

    /// Aggregates of the selected series of one part over `(at − span, at]`, by series.
    pub fn window_in_part(
        &self,
        selectors: &[Selector],
        span: WindowSpan,
        at_ms: i64,
        part: usize,
    ) -> Vec<WindowRow> {
        let start = at_ms.saturating_sub(span.ms);
        let gathered = self.gather_in(selectors, Some((start, at_ms)), std::iter::once(part));
        let mut scratch = Scratch::default();
        self.resolve(&gathered)
            .into_iter()
            .map(|(row, labels, counter)| WindowRow {
                labels,
                source: None,
                aggregates: aggregate_with(
                    gathered.samples_of(row),
                    span,
                    at_ms,
                    counter,
                    &mut scratch,
                ),
            })
            .collect()
    }

    /// Aggregates of every selected series (or group) over the trailing window
    /// `(at − window, at]`, `at` defaulting to the watermark.
    pub fn window(&self, query: &WindowQuery) -> WindowResult {
        let watermark = self.watermark_ms();
        let at = query.at_ms.or(watermark);
        let series = match at {
            None => Vec::new(),
            Some(end) => {
                let start = end.saturating_sub(query.window.ms);
                let gathered = self.gather(&query.selectors, Some((start, end)));
                let rows = self.resolve(&gathered);
                match &query.by {
                    None => {
                        let mut scratch = Scratch::default();
                        rows.into_iter()
                            .map(|(row, labels, counter)| WindowRow {
                                labels,
                                source: None,
                                aggregates: aggregate_with(
                                    gathered.samples_of(row),
                                    query.window,
                                    end,
                                    counter,
                                    &mut scratch,
                                ),
                            })
                            .collect()
                    }
                    Some(by) => {
                        let rows = rows
                            .into_iter()
                            .map(|(row, labels, counter)| {
                                (labels, gathered.samples_of(row), counter)
                            })
                            .collect();
                        group(rows, by, query.window, end)
                    }
                }
            }
        };
        WindowResult {
            watermark,
            window: query.window.label(),
            at,
            series,
        }
    }

    /// What the store holds, its size and its drops. `bytes` is every heap and inline byte
    /// the store holds for its series: the store itself, shards, series slots, indexes
    /// (every bucket of their tables), label ids, chunks, late samples, the symbol table and
    /// the metadata; not the allocator's own bookkeeping per allocation.
    pub fn stats(&self) -> StoreStats {
        let mut stats = StoreStats {
            bytes: std::mem::size_of::<Store>()
                + self.shards.capacity() * std::mem::size_of::<RwLock<Shard>>(),
            ..StoreStats::default()
        };
        for shard in &self.shards {
            let shard = shard.read();
            for series in shard.series() {
                stats.active_series += 1;
                stats.samples += series.len();
            }
            stats.bytes += shard.heap_bytes();
        }
        stats.bytes += self.symbols.read().heap_bytes();
        let metadata = self.metadata.read();
        stats.bytes += map_bytes(&*metadata)
            + metadata
                .iter()
                .map(|(family, m)| family.capacity() + m.unit.capacity() + m.help.capacity())
                .sum::<usize>();
        drop(metadata);
        for reason in DropReason::ALL {
            stats
                .dropped
                .insert(reason, self.dropped[reason.index()].load(Ordering::Relaxed));
        }
        stats.refused_series = self.refused.load(Ordering::Relaxed);
        stats
    }
}

/// A matcher bound to the symbol table: it compares symbol ids, and remembers its regex's
/// answer per value symbol.
#[derive(Debug)]
struct Bound<'q> {
    matcher: &'q Matcher,
    /// Symbol of the label name; `None` while no series has the name.
    name: Option<u32>,
    /// Symbol of the matcher's value (for `=` and `!=`); `None` while no label has it.
    value: Option<u32>,
    /// Whether a series without the label matches (its value counts as `""`).
    absent: bool,
    answers: HashMap<u32, bool, ahash::RandomState>,
}

impl<'q> Bound<'q> {
    fn new(matcher: &'q Matcher) -> Self {
        Self {
            matcher,
            name: None,
            value: None,
            absent: matcher.matches_value(""),
            answers: HashMap::default(),
        }
    }

    /// Looks the name and value up again (the table may have grown since).
    fn bind(&mut self, symbols: &Symbols) {
        self.name = symbols.lookup(&self.matcher.name);
        self.value = symbols.lookup(&self.matcher.value);
    }

    /// Whether a series with these label pairs matches, as [`Matcher::matches_value`] says.
    fn matches(&mut self, symbols: &Symbols, labels: &[u32]) -> bool {
        let Some(name) = self.name else {
            return self.absent;
        };
        let Some(value) = labels
            .iter()
            .map(|&pair| symbols.pair(pair))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
        else {
            return self.absent;
        };
        match self.matcher.op {
            MatchOp::Equal => self.value == Some(value),
            MatchOp::NotEqual => self.value != Some(value),
            MatchOp::Regex | MatchOp::NotRegex => *self
                .answers
                .entry(value)
                .or_insert_with(|| self.matcher.matches_value(symbols.resolve(value))),
        }
    }
}

/// The rank of each label pair a query met: in a vector indexed by pair id while the table
/// of pairs is small next to what the query gathered, else in a map.
#[derive(Debug)]
enum Ranks {
    Dense(Vec<u32>),
    Sparse(HashMap<u32, u32, ahash::RandomState>),
}

impl Ranks {
    fn new(pairs: usize, gathered: usize) -> Self {
        if pairs <= 16 * gathered + 4096 {
            Ranks::Dense(vec![u32::MAX; pairs])
        } else {
            Ranks::Sparse(HashMap::default())
        }
    }

    fn get(&self, pair: u32) -> Option<u32> {
        match self {
            Ranks::Dense(ranks) => ranks.get(pair as usize).copied().filter(|&r| r != u32::MAX),
            Ranks::Sparse(ranks) => ranks.get(&pair).copied(),
        }
    }

    fn set(&mut self, pair: u32, rank: u32) {
        match self {
            Ranks::Dense(ranks) => {
                if let Some(slot) = ranks.get_mut(pair as usize) {
                    *slot = rank;
                }
            }
            Ranks::Sparse(ranks) => {
                ranks.insert(pair, rank);
            }
        }
    }
}

/// What a query gathered under the shard locks, in flat buffers.
#[derive(Debug, Default)]
struct Gathered {
    rows: Vec<GatheredRow>,
    /// Label pair ids of every row.
    labels: Vec<u32>,
    /// Window samples of every row.
    samples: Vec<Sample>,
}

#[derive(Debug)]
struct GatheredRow {
    labels: Range<usize>,
    samples: Range<usize>,
    metric_type: MetricType,
    /// Samples the series holds.
    held: usize,
}

impl Gathered {
    fn samples_of(&self, row: usize) -> &[Sample] {
        self.rows
            .get(row)
            .and_then(|r| self.samples.get(r.samples.clone()))
            .unwrap_or(&[])
    }
}

type Selected<'a> = (LabelSet, &'a [Sample], bool);

fn group(rows: Vec<Selected<'_>>, by: &[String], span: WindowSpan, end: i64) -> Vec<WindowRow> {
    let mut groups: BTreeMap<LabelSet, Vec<Selected<'_>>> = BTreeMap::new();
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
            let mut pooled: Vec<Sample> =
                members.iter().flat_map(|m| m.1.iter().copied()).collect();
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
            WindowRow {
                labels,
                source: None,
                aggregates,
            }
        })
        .collect()
}

/// Appends each series a decoder hands it; see [`Store::appender`].
#[derive(Debug)]
pub struct Appender<'a> {
    store: &'a Store,
    judge: Judge,
    outcome: AppendOutcome,
}

impl Appender<'_> {
    /// The summed outcome of every series appended.
    pub fn finish(self) -> AppendOutcome {
        self.store.maintain_if_due();
        self.outcome
    }

    /// The outcome so far.
    pub fn outcome(&self) -> &AppendOutcome {
        &self.outcome
    }
}

impl SeriesVisitor for Appender<'_> {
    type Error = std::convert::Infallible;

    fn series(&mut self, series: SeriesRef<'_>) -> Result<(), Self::Error> {
        self.store
            .append_judged(series, self.judge, &mut self.outcome);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: i64, v: f64) -> Sample {
        Sample {
            timestamp_ms: t,
            value: v,
        }
    }

    #[test]
    fn late_samples_merge_and_fold_in_order() {
        let mut series = Series::new(Box::new([]));
        // 300 samples, every third one arriving after the rest.
        let all: Vec<Sample> = (0..300).map(|i| s(i * 1000, i as f64)).collect();
        for sample in all.iter().filter(|x| x.timestamp_ms % 3000 != 0) {
            assert!(series.insert(*sample));
        }
        for sample in all.iter().filter(|x| x.timestamp_ms % 3000 == 0) {
            assert!(series.insert(*sample));
        }
        assert!(!series.insert(s(1000, 1.0)), "duplicate in a chunk");
        assert_eq!(series.window(i64::MIN, i64::MAX), all);
        series.fold_late();
        assert!(series.late().is_empty());
        assert_eq!(series.window(i64::MIN, i64::MAX), all);
        assert_eq!(series.window(10_000, 12_000), all[11..=12].to_vec());
        series.trim(150_000);
        assert!(series.window(i64::MIN, i64::MAX)[0].timestamp_ms <= 150_000);
    }
}
