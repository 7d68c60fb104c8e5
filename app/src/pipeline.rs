//! The detection loop: evaluates the rules at every event-time tick the watermark has passed
//! and hands what they find to the incident engine, which commits it before it counts.
//!
//! Ticks are multiples of `detect.tick` in event time, so a recording replayed at any speed is
//! evaluated at exactly the instants living through it would have been.

use crate::config::DetectConfig;
use detect::{Detector, RuleSet};
use incident::{Change, IncidentEngine};
use model::IncidentCandidate;
use parking_lot::Mutex;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tokio::sync::mpsc;
use windows::Store;

/// Most ticks evaluated in one catch-up pass, so a long backlog does not hold the loop.
pub const MAX_TICKS_PER_PASS: usize = 240;

/// Most catch-up ticks per second of wall time, so catching up never starves ingest: a
/// replayed day at the default 15 s tick (5,760 ticks) is evaluated in under three seconds.
pub const MAX_TICKS_PER_SECOND: usize = 2_400;

/// Sentinel of `evaluated_through` before the first evaluation.
const NEVER: i64 = i64::MIN;

/// The built-in rules with the operator's file laid over them (same name replaces).
pub fn load_rules(file: Option<&Path>) -> Result<RuleSet, detect::RuleError> {
    let mut rules = detect::builtin_rules();
    if let Some(path) = file {
        let operator = RuleSet::load(path)?;
        for rule in operator.rules {
            match rules.rules.iter_mut().find(|r| r.name == rule.name) {
                Some(existing) => *existing = rule,
                None => rules.rules.push(rule),
            }
        }
    }
    Ok(rules)
}

/// What the pipeline tells its observer: committed incident changes and, for a tick, the
/// event time it was evaluated at.
#[derive(Debug, Clone)]
pub struct Observed {
    pub changes: Vec<Change>,
    /// The tick's event time; `None` for candidates submitted from outside the rules.
    pub tick_ms: Option<i64>,
}

/// Rule detector and incident engine, advanced together in event time.
#[derive(Debug)]
pub struct Pipeline {
    detector: Mutex<Detector>,
    /// Streaming anomaly detectors, fed every sample up to each tick.
    anomaly: Mutex<anomaly::LiveAnomaly>,
    pub engine: IncidentEngine,
    tick_ms: i64,
    evaluated_through: AtomicI64,
    pub candidates_total: AtomicU64,
    pub ticks_total: AtomicU64,
    /// Poked after samples arrive, so detection follows a fast sender without waiting.
    pub wake: tokio::sync::Notify,
    /// Where committed changes go once someone observes them (remediation).
    observer: OnceLock<mpsc::UnboundedSender<Observed>>,
}

impl Pipeline {
    pub fn new(
        rules: RuleSet,
        config: &DetectConfig,
        anomaly: anomaly::LiveAnomaly,
        engine: IncidentEngine,
    ) -> Self {
        Self {
            detector: Mutex::new(Detector::new(rules, config.environment)),
            anomaly: Mutex::new(anomaly),
            engine,
            tick_ms: i64::try_from(config.tick.as_millis())
                .unwrap_or(15_000)
                .max(1),
            evaluated_through: AtomicI64::new(NEVER),
            candidates_total: AtomicU64::new(0),
            ticks_total: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
            observer: OnceLock::new(),
        }
    }

    /// Receives every committed change from now on; only the first caller gets them.
    pub fn observe(&self) -> Option<mpsc::UnboundedReceiver<Observed>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.observer.set(tx).ok().map(|()| rx)
    }

    fn publish(&self, changes: &[Change], tick_ms: Option<i64>) {
        if let Some(tx) = self.observer.get()
            && (!changes.is_empty() || tick_ms.is_some())
        {
            // A closed receiver means nobody observes any more; that is not an error here.
            let _ = tx.send(Observed {
                changes: changes.to_vec(),
                tick_ms,
            });
        }
    }

    /// The last event time every rule was evaluated at.
    pub fn evaluated_through(&self) -> Option<i64> {
        Some(self.evaluated_through.load(Ordering::Acquire)).filter(|&t| t != NEVER)
    }

    /// Swaps in new rules; cooldowns and incidents are kept.
    pub fn reload(&self, rules: RuleSet) -> usize {
        let count = rules.rules.len();
        self.detector.lock().reload(rules);
        count
    }

    pub fn rule_count(&self) -> usize {
        self.detector.lock().rules().rules.len()
    }

    /// Candidates from outside the rules (Alertmanager, anomaly detectors) join the same
    /// correlation; `Ok` means the changes are committed.
    pub async fn submit(
        &self,
        candidates: Vec<IncidentCandidate>,
    ) -> Result<Vec<Change>, incident::Error> {
        self.candidates_total
            .fetch_add(candidates.len() as u64, Ordering::Relaxed);
        let changes = self.engine.submit(candidates).await?;
        self.publish(&changes, None);
        Ok(changes)
    }

    /// The next event time to evaluate: after the last one, or the first tick after the oldest
    /// sample, where the data begins. Event time the store can no longer hold (behind its
    /// retention at the watermark) holds no data: it is jumped over, not ticked through.
    fn next_tick(&self, store: &Store, watermark: i64) -> i64 {
        let first_tick = |t: i64| (t.div_euclid(self.tick_ms) + 1) * self.tick_ms;
        let next = match self.evaluated_through() {
            Some(last) => last.saturating_add(self.tick_ms),
            None => first_tick(store.first_timestamp_ms().unwrap_or(watermark)),
        };
        let config = store.config();
        let held_from = watermark
            .saturating_add(config.lateness_ms)
            .saturating_sub(config.retention_ms);
        if next < held_from {
            first_tick(held_from)
        } else {
            next
        }
    }

    /// Whether every tick the watermark has passed is evaluated.
    pub fn caught_up(&self, store: &Store) -> bool {
        store
            .watermark_ms()
            .is_none_or(|watermark| self.next_tick(store, watermark) > watermark)
    }

    /// Evaluates every tick up to the store's watermark (at most [`MAX_TICKS_PER_PASS`]).
    /// Returns the number of ticks evaluated; on a ledger error the tick is retried next pass.
    pub async fn catch_up(&self, store: &Store) -> Result<usize, incident::Error> {
        let Some(watermark) = store.watermark_ms() else {
            return Ok(0);
        };
        let mut done = 0;
        while done < MAX_TICKS_PER_PASS {
            let next = self.next_tick(store, watermark);
            if next > watermark {
                break;
            }
            let mut candidates = self.detector.lock().evaluate(store, next).candidates;
            candidates.extend(self.anomaly.lock().tick(store, next));
            if !candidates.is_empty() {
                self.submit(candidates).await?;
            }
            let changes = self.engine.tick(next).await?;
            self.publish(&changes, Some(next));
            self.evaluated_through.store(next, Ordering::Release);
            self.ticks_total.fetch_add(1, Ordering::Relaxed);
            done += 1;
        }
        Ok(done)
    }
}
