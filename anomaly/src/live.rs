//! The live path: after each tick of event time, feeds every series' new samples from the
//! window store to its streaming detector and returns the incident candidates they raise.
//!
//! Each series gets the detector its metric family calls for (see [`AnomalyConfig`]), built
//! the first time the series has a sample, and sees its samples once, in event-time order.
//! Counters are fed as per-second rates (resets count from zero). A series whose newest
//! sample falls behind the store's retention is forgotten, so state is bounded by the series
//! the store holds, and each one's state is constant in size.

use std::collections::HashMap;

use model::{IncidentCandidate, LabelSet, MetricType, Sample};
use windows::{Selector, Store};

use crate::config::{AnomalyConfig, DetectorRegistry, SeriesScorer};
use crate::error::AnomalyError;
use crate::multi::{LiveMulti, MultiConfig};

/// One watched series.
#[derive(Debug)]
struct Watched {
    scorer: SeriesScorer,
    counter: bool,
    /// Newest sample fed (for counters, the previous point of the rate).
    last: Option<Sample>,
}

/// Per-series streaming detection over the window store.
#[derive(Debug)]
pub struct LiveAnomaly {
    registry: DetectorRegistry,
    all: Selector,
    series: HashMap<LabelSet, Watched>,
    /// Metric names no detector watches (excluded), remembered so they cost one lookup.
    ignored: HashMap<LabelSet, i64>,
    /// Event time up to which samples have been fed.
    fed_to_ms: Option<i64>,
    samples_scored: u64,
    /// The per-workload and per-node models, beside the per-series detectors.
    multi: LiveMulti,
}

impl LiveAnomaly {
    /// Compiles the configuration; fails on an unknown detector, bad parameter or pattern.
    pub fn new(config: &AnomalyConfig) -> Result<Self, AnomalyError> {
        Ok(Self {
            registry: DetectorRegistry::new(config)?,
            all: Selector::from_matchers(Vec::new()),
            series: HashMap::new(),
            ignored: HashMap::new(),
            fed_to_ms: None,
            samples_scored: 0,
            multi: LiveMulti::new(MultiConfig {
                enabled: config.enabled && config.multi.enabled,
                ..config.multi.clone()
            }),
        })
    }

    /// Series with detector state.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Samples fed to detectors since start.
    pub fn samples_scored(&self) -> u64 {
        self.samples_scored
    }

    /// Event time up to which samples have been fed.
    pub fn fed_to_ms(&self) -> Option<i64> {
        self.fed_to_ms
    }

    /// The multi-metric models.
    pub fn multi(&self) -> &LiveMulti {
        &self.multi
    }

    /// Feeds every sample in `(previous tick, at_ms]` (from the store's first sample on the
    /// first tick) to its series' detector, in event-time order per series, and returns the
    /// candidates raised. Call it with the store's watermark so late samples are not missed;
    /// a tick at or before the previous one feeds nothing.
    pub fn tick(&mut self, store: &Store, at_ms: i64) -> Vec<IncidentCandidate> {
        if !self.registry.enabled() {
            return self.multi.tick(store, at_ms);
        }
        let Some(start) = feed_from(self.fed_to_ms, store, at_ms) else {
            return self.multi.tick(store, at_ms);
        };
        let read = store.samples(&self.all, start, at_ms);
        // The models read the same span of the same store: one read serves both.
        let mut candidates = if self.multi.feeds_from(store, at_ms) == Some(start) {
            self.multi.tick_read(store, at_ms, &read)
        } else {
            self.multi.tick(store, at_ms)
        };
        for (labels, samples) in read {
            let Some(last) = samples.last().map(|s| s.timestamp_ms) else {
                continue;
            };
            if let Some(seen) = self.ignored.get_mut(&labels) {
                *seen = last;
                continue;
            }
            if !self.series.contains_key(&labels) {
                match self.watch(store, &labels) {
                    Some(watched) => {
                        self.series.insert(labels.clone(), watched);
                    }
                    None => {
                        self.ignored.insert(labels, last);
                        continue;
                    }
                }
            }
            let Some(watched) = self.series.get_mut(&labels) else {
                continue;
            };
            for sample in samples {
                if let Some(candidate) = feed(watched, sample) {
                    candidates.push(candidate);
                }
                self.samples_scored += 1;
            }
        }
        self.fed_to_ms = Some(at_ms);
        let floor = at_ms.saturating_sub(store.config().retention_ms);
        self.series
            .retain(|_, w| w.last.is_some_and(|s| s.timestamp_ms >= floor));
        self.ignored.retain(|_, last| *last >= floor);
        candidates
    }

    fn watch(&self, store: &Store, labels: &LabelSet) -> Option<Watched> {
        let metric = labels.metric_name();
        if !self.registry.watches(metric) {
            return None;
        }
        let counter = store.is_counter(metric, MetricType::Unknown);
        let scorer = self
            .registry
            .scorer_for(labels.clone())
            .ok()?
            .with_window("sample")
            .with_aggregate(if counter { "rate" } else { "value" });
        Some(Watched {
            scorer,
            counter,
            last: None,
        })
    }
}

/// Feeds one sample (as a rate for counters); skips samples not after the last one fed.
fn feed(watched: &mut Watched, sample: Sample) -> Option<IncidentCandidate> {
    let previous = watched.last;
    if previous.is_some_and(|p| sample.timestamp_ms <= p.timestamp_ms) {
        return None;
    }
    watched.last = Some(sample);
    let value = if watched.counter {
        rate(previous?, sample)
    } else {
        sample.value
    };
    watched.scorer.observe(sample.timestamp_ms, value).1
}

/// Where a tick at `at_ms` starts feeding: after the previous tick, or just before the store's
/// first sample on the first; `None` when there is nothing new.
pub(crate) fn feed_from(fed_to_ms: Option<i64>, store: &Store, at_ms: i64) -> Option<i64> {
    let start = match fed_to_ms {
        Some(fed) => fed,
        None => store.first_timestamp_ms()?.saturating_sub(1),
    };
    (at_ms > start).then_some(start)
}

/// A counter's per-second rate between two samples; a reset counts from zero.
pub(crate) fn rate(previous: Sample, sample: Sample) -> f64 {
    let seconds = (sample.timestamp_ms - previous.timestamp_ms) as f64 / 1000.0;
    let increase = if sample.value >= previous.value {
        sample.value - previous.value
    } else {
        sample.value
    };
    increase / seconds
}
