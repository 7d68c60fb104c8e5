//! The detection loop: evaluates the rules and anomaly detectors at every event-time tick each
//! source's watermark has passed and hands what they find to the incident engine, which
//! commits it before it counts.
//!
//! Ticks are multiples of `detect.tick` in event time, so a recording replayed at any speed is
//! evaluated at exactly the instants living through it would have been. Every source has its
//! own clock (its own detectors, its own evaluated-through time): a replay of 2020 and live
//! data of today are evaluated side by side, and a source without new data does not tick.

use crate::config::DetectConfig;
use detect::{Detector, RuleSet};
use incident::{Change, IncidentEngine};
use model::IncidentCandidate;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tokio::sync::mpsc;
use windows::{Sources, Store};

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
/// event time and source it was evaluated at.
#[derive(Debug, Clone)]
pub struct Observed {
    pub changes: Vec<Change>,
    /// The tick's event time; `None` for candidates submitted from outside the rules.
    pub tick_ms: Option<i64>,
    /// The source whose clock `tick_ms` is on.
    pub source: Option<String>,
}

/// One source's detection state: its detectors (their per-series memory is the source's
/// own) and how far its event time has been evaluated.
#[derive(Debug)]
struct SourceClock {
    detector: Mutex<Detector>,
    /// Streaming anomaly detectors, fed every sample up to each tick (`None` only if the
    /// checked `[anomaly]` section could not be compiled again, which is logged).
    anomaly: Mutex<Option<anomaly::LiveAnomaly>>,
    /// What the anomaly detectors' findings may do (the step every evaluation runs too).
    gate: Mutex<crate::detection::Gate>,
    evaluated_through: AtomicI64,
}

impl SourceClock {
    fn evaluated_through(&self) -> Option<i64> {
        Some(self.evaluated_through.load(Ordering::Acquire)).filter(|&t| t != NEVER)
    }
}

/// How much a catch-up pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Ticks evaluated, every source together.
    pub ticks: usize,
    /// Whether some source stopped at [`MAX_TICKS_PER_PASS`] with more to evaluate.
    pub backlog: bool,
}

/// Rule detectors, anomaly detectors and the incident engine, advanced together in each
/// source's event time.
#[derive(Debug)]
pub struct Pipeline {
    rules: Mutex<RuleSet>,
    environment: detect::Environment,
    anomaly: anomaly::AnomalyConfig,
    clocks: Mutex<BTreeMap<String, Arc<SourceClock>>>,
    pub engine: IncidentEngine,
    tick_ms: i64,
    pub candidates_total: AtomicU64,
    pub ticks_total: AtomicU64,
    /// Time spent evaluating ticks (detectors, correlation, ledger), in ns.
    pub busy_ns: AtomicU64,
    /// Poked after samples arrive, so detection follows a fast sender without waiting.
    pub wake: tokio::sync::Notify,
    /// Where committed changes go: remediation first, then the operator channels.
    observers: parking_lot::Mutex<Vec<mpsc::UnboundedSender<Observed>>>,
    /// Ids of incidents that changed, for live views (the workspace's Server-Sent Events).
    changed: tokio::sync::broadcast::Sender<Vec<String>>,
}

impl Pipeline {
    /// A pipeline for `rules` and the `[anomaly]` settings (checked: a bad section is
    /// refused here, before any source exists).
    pub fn new(
        rules: RuleSet,
        config: &DetectConfig,
        anomaly: &anomaly::AnomalyConfig,
        engine: IncidentEngine,
    ) -> Result<Self, anomaly::AnomalyError> {
        anomaly::LiveAnomaly::new(anomaly)?;
        Ok(Self {
            rules: Mutex::new(rules),
            environment: config.environment,
            anomaly: anomaly.clone(),
            clocks: Mutex::new(BTreeMap::new()),
            engine,
            tick_ms: i64::try_from(config.tick.as_millis())
                .unwrap_or(15_000)
                .max(1),
            candidates_total: AtomicU64::new(0),
            ticks_total: AtomicU64::new(0),
            busy_ns: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
            observers: parking_lot::Mutex::new(Vec::new()),
            changed: tokio::sync::broadcast::channel(256).0,
        })
    }

    /// Hears the ids of incidents as they change, from now on. A listener that falls more
    /// than 256 batches behind is told it lagged and should read everything again.
    pub fn listen(&self) -> tokio::sync::broadcast::Receiver<Vec<String>> {
        self.changed.subscribe()
    }

    /// Tells live views which incidents changed (operator commands, which remediation does
    /// not follow up on).
    pub(crate) fn announce(&self, changes: &[Change]) {
        let ids: Vec<String> = changes.iter().map(|c| c.incident.id.clone()).collect();
        if !ids.is_empty() {
            // No listener is not an error.
            let _ = self.changed.send(ids);
        }
    }

    /// Receives every committed change from now on (each observer gets all of them).
    pub fn observe(&self) -> Option<mpsc::UnboundedReceiver<Observed>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.observers.lock().push(tx);
        Some(rx)
    }

    fn publish(&self, changes: &[Change], tick_ms: Option<i64>, source: Option<&str>) {
        self.announce(changes);
        if changes.is_empty() && tick_ms.is_none() {
            return;
        }
        let observed = Observed {
            changes: changes.to_vec(),
            tick_ms,
            source: source.map(str::to_owned),
        };
        // A closed receiver means that observer is gone; the others still hear.
        self.observers
            .lock()
            .retain(|tx| tx.send(observed.clone()).is_ok());
    }

    fn clock(&self, source: &str) -> Arc<SourceClock> {
        let mut clocks = self.clocks.lock();
        if let Some(clock) = clocks.get(source) {
            return Arc::clone(clock);
        }
        // Checked in `new`, so the same section compiles again.
        let anomaly = anomaly::LiveAnomaly::new(&self.anomaly)
            .inspect_err(|error| {
                tracing::error!(%source, error = %model::error::chain(error), "no anomaly detectors for this source");
            })
            .ok();
        let clock = Arc::new(SourceClock {
            detector: Mutex::new(Detector::new(self.rules.lock().clone(), self.environment)),
            anomaly: Mutex::new(anomaly),
            gate: Mutex::new(crate::detection::Gate::new(
                crate::detection::GateConfig::default(),
            )),
            evaluated_through: AtomicI64::new(NEVER),
        });
        clocks.insert(source.to_owned(), Arc::clone(&clock));
        clock
    }

    /// The last event time every rule was evaluated at, in one source.
    pub fn evaluated_through_of(&self, source: &str) -> Option<i64> {
        self.clocks.lock().get(source)?.evaluated_through()
    }

    /// The furthest event time any source was evaluated to.
    pub fn evaluated_through(&self) -> Option<i64> {
        self.clocks
            .lock()
            .values()
            .filter_map(|c| c.evaluated_through())
            .max()
    }

    /// Swaps in new rules in every source; cooldowns and incidents are kept.
    pub fn reload(&self, rules: RuleSet) -> usize {
        let count = rules.rules.len();
        for clock in self.clocks.lock().values() {
            clock.detector.lock().reload(rules.clone());
        }
        *self.rules.lock() = rules;
        count
    }

    /// The rules running now.
    pub fn rules(&self) -> RuleSet {
        self.rules.lock().clone()
    }

    pub fn rule_count(&self) -> usize {
        self.rules.lock().rules.len()
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
        self.publish(&changes, None, None);
        Ok(changes)
    }

    /// Advances the incidents of a source no metrics arrive for (a cluster watched without
    /// its metrics, say) to `now_ms` of the wall clock: with no windows the source has no
    /// event-time clock of its own. A source with windows follows its watermark instead.
    pub async fn tick_without_windows(
        &self,
        sources: &Sources,
        source: &str,
        now_ms: i64,
    ) -> Result<(), incident::Error> {
        if sources
            .get(source)
            .is_some_and(|s| s.watermark_ms().is_some())
        {
            return Ok(());
        }
        let changes = self.engine.tick_source(source, now_ms).await?;
        self.publish(&changes, Some(now_ms), Some(source));
        Ok(())
    }

    /// The next event time to evaluate in a source: after the last one, or the first tick
    /// after its oldest sample, where its data begins. Event time the store can no longer
    /// hold (behind its retention at the watermark) holds no data: it is jumped over, not
    /// ticked through.
    fn next_tick(&self, clock: &SourceClock, store: &Store, watermark: i64) -> i64 {
        let first_tick = |t: i64| (t.div_euclid(self.tick_ms) + 1) * self.tick_ms;
        let next = match clock.evaluated_through() {
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

    /// Whether every tick one source's watermark has passed is evaluated.
    pub fn caught_up_source(&self, source: &str, store: &Store) -> bool {
        let clock = self.clock(source);
        store
            .watermark_ms()
            .is_none_or(|watermark| self.next_tick(&clock, store, watermark) > watermark)
    }

    /// Whether every source is caught up.
    pub fn caught_up(&self, sources: &Sources) -> bool {
        sources
            .list()
            .iter()
            .all(|(name, store)| self.caught_up_source(name, store))
    }

    /// Evaluates, in every source, every tick up to its watermark (at most
    /// [`MAX_TICKS_PER_PASS`] per source). On a ledger error the tick is retried next pass.
    pub async fn catch_up(&self, sources: &Sources) -> Result<Progress, incident::Error> {
        let started = std::time::Instant::now();
        let mut progress = Progress::default();
        let mut result = Ok(());
        for (name, store) in sources.list() {
            match self.catch_up_source(&name, &store).await {
                Ok(done) => {
                    progress.ticks += done;
                    progress.backlog |= done >= MAX_TICKS_PER_PASS;
                }
                Err(error) => {
                    result = Err(error);
                    break;
                }
            }
        }
        let busy = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.busy_ns.fetch_add(busy, Ordering::Relaxed);
        result.map(|()| progress)
    }

    /// Evaluates one source's ticks up to its watermark (at most [`MAX_TICKS_PER_PASS`]).
    pub async fn catch_up_source(
        &self,
        source: &str,
        store: &Store,
    ) -> Result<usize, incident::Error> {
        let Some(watermark) = store.watermark_ms() else {
            return Ok(0);
        };
        let clock = self.clock(source);
        let mut done = 0;
        while done < MAX_TICKS_PER_PASS {
            let next = self.next_tick(&clock, store, watermark);
            if next > watermark {
                break;
            }
            let mut candidates = clock.detector.lock().evaluate(store, next).candidates;
            let found = clock
                .anomaly
                .lock()
                .as_mut()
                .map(|anomaly| anomaly.tick(store, next))
                .unwrap_or_default();
            clock.gate.lock().apply(&mut candidates, found, next);
            if !candidates.is_empty() {
                for candidate in &mut candidates {
                    candidate.source = source.to_owned();
                }
                self.submit(candidates).await?;
            }
            let changes = self.engine.tick_source(source, next).await?;
            self.publish(&changes, Some(next), Some(source));
            clock.evaluated_through.store(next, Ordering::Release);
            self.ticks_total.fetch_add(1, Ordering::Relaxed);
            done += 1;
        }
        Ok(done)
    }
}
