//! `srebot eval scenarios --draws N --seed S`: draws of every scenario family replayed through
//! the live detection step (rules, golden-signal anomaly detectors, the ML gate) and the live
//! correlator, scored per family: detection, right type and target, time to detect, false
//! incidents.
//!
//! Each draw runs exactly what `srebot serve` runs per tick: `app::detection::Detection` on a
//! fresh `windows::Store`, its candidates into `incident::Correlator` (the engine's own), then
//! the correlator's tick, every `detect.tick` (15 s) of event time.

use crate::families::{Family, draw, draws};
use crate::scenarios::Scenario;
use incident::{Correlator, CorrelatorConfig, Incident};
use model::{IncidentCandidate, Sample, SeriesRef};
use serde::Serialize;
use std::collections::BTreeMap;
use windows::{Store, StoreConfig};

/// Event time between two evaluations, as `detect.tick` defaults to.
pub const TICK_MS: i64 = 15_000;

/// What the live loop left after a recording.
#[derive(Debug, Default)]
pub struct LiveRun {
    /// Incidents standing at the end (merged ones folded away).
    pub incidents: Vec<Incident>,
    pub candidates: Vec<IncidentCandidate>,
    pub gate: app::detection::GateCounts,
    pub samples: usize,
    /// Findings the multi-metric models raised (before the gate).
    pub model_findings: u64,
}

/// The live detection step with its defaults: the built-in rules and, as without an
/// `[anomaly]` section, the golden signals.
pub fn live_detection(anomaly: &anomaly::AnomalyConfig) -> app::detection::Detection {
    let live = anomaly::LiveAnomaly::new(anomaly).unwrap_or_else(|_| {
        // The golden-signal configuration is built in code and always valid; a bad one given
        // by a caller runs without models rather than not at all.
        let off = anomaly::AnomalyConfig {
            enabled: false,
            ..anomaly::AnomalyConfig::default()
        };
        anomaly::LiveAnomaly::new(&off).unwrap_or_else(|e| panic!("disabled config: {e}"))
    });
    app::detection::Detection::new(
        detect::Detector::new(detect::builtin_rules(), detect::Environment::Prod),
        live,
        app::detection::GateConfig::default(),
    )
}

/// Replays `scenario` step by step into a fresh store and runs the live loop at every tick.
pub fn run_live(scenario: &Scenario, anomaly: &anomaly::AnomalyConfig) -> LiveRun {
    let store = Store::new(StoreConfig {
        lateness_ms: TICK_MS,
        ..StoreConfig::default()
    });
    let mut detection = live_detection(anomaly);
    let mut correlator = Correlator::new(CorrelatorConfig::default());
    let mut standing: BTreeMap<String, Incident> = BTreeMap::new();
    let mut run = LiveRun::default();
    let mut cursors = vec![0usize; scenario.series.len()];
    let mut next_tick: Option<i64> = None;
    let mut ts = scenario.meta.start_ms;
    while ts <= scenario.meta.end_ms + TICK_MS {
        for (series, cursor) in scenario.series.iter().zip(cursors.iter_mut()) {
            let start = *cursor;
            while *cursor < series.samples.len() && series.samples[*cursor].0 <= ts {
                *cursor += 1;
            }
            if start == *cursor {
                continue;
            }
            let samples: Vec<Sample> = series.samples[start..*cursor]
                .iter()
                .map(|&(timestamp_ms, value)| Sample {
                    timestamp_ms,
                    value,
                })
                .collect();
            let labels: Vec<(&str, &str)> = series.labels.iter().collect();
            run.samples += store
                .append(SeriesRef {
                    labels: &labels,
                    samples: &samples,
                    metric_type: series.metric_type,
                    unit: "",
                    help: "",
                    created_timestamp_ms: 0,
                })
                .appended;
        }
        if let Some(watermark) = store.watermark_ms() {
            let mut next = next_tick.unwrap_or_else(|| {
                let first = store.first_timestamp_ms().unwrap_or(watermark);
                (first.div_euclid(TICK_MS) + 1) * TICK_MS
            });
            while next <= watermark {
                let candidates = detection.evaluate(&store, next);
                for candidate in &candidates {
                    for change in correlator.ingest(candidate.clone()) {
                        standing.insert(change.incident.id.clone(), change.incident);
                    }
                }
                run.candidates.extend(candidates);
                for change in correlator.tick(next) {
                    standing.insert(change.incident.id.clone(), change.incident);
                }
                next += TICK_MS;
            }
            next_tick = Some(next);
        }
        ts += scenario.meta.step_ms;
    }
    run.gate = detection.gate_counts();
    run.model_findings = detection.anomaly().multi().raised();
    run.incidents = standing
        .into_values()
        .filter(|i| i.merged_into.is_none())
        .collect();
    run
}

/// How one draw went.
#[derive(Debug, Clone, Serialize)]
pub struct DrawScore {
    pub family: &'static str,
    pub seed: u64,
    pub fault: bool,
    /// An incident opened on the expected target (any type) after the fault started.
    pub detected: bool,
    /// An incident of the expected type on the expected target.
    pub right: bool,
    pub time_to_detect_s: Option<f64>,
    /// Incidents about anything but the expected target (every incident of a healthy draw).
    pub false_incidents: usize,
    pub incidents: usize,
    pub candidates: usize,
    /// Findings the multi-metric models raised, held or passed.
    pub model_findings: u64,
    /// A finding on the expected target carries a multi-metric model's agreement.
    pub model_agreed: bool,
    pub description: String,
    /// The incidents' summaries, for reading what went wrong.
    pub summaries: Vec<String>,
}

/// Scores a live run against the draw's labels.
pub fn score_draw(family: Family, seed: u64, scenario: &Scenario, run: &LiveRun) -> DrawScore {
    let on_target = |i: &Incident, e: &crate::scenarios::ExpectedIncident| {
        i.target.name == e.target && i.opened_at_ms >= e.fault_start_ms
    };
    let mut right = !scenario.meta.expected.is_empty();
    let mut detected = right;
    let mut ttd: Option<i64> = None;
    for e in &scenario.meta.expected {
        let hits: Vec<&Incident> = run.incidents.iter().filter(|i| on_target(i, e)).collect();
        detected &= !hits.is_empty();
        let first = hits
            .iter()
            .filter(|i| i.incident_type == e.incident_type)
            .map(|i| i.opened_at_ms - e.fault_start_ms)
            .min();
        match first {
            Some(d) => ttd = Some(ttd.map_or(d, |t: i64| t.max(d))),
            None => right = false,
        }
    }
    let false_incidents = run
        .incidents
        .iter()
        .filter(|i| !scenario.meta.expected.iter().any(|e| on_target(i, e)))
        .count();
    let model_agreed = run.candidates.iter().any(|c| {
        scenario
            .meta
            .expected
            .iter()
            .any(|e| model::workload_of(&c.target).name == e.target)
            && c.evidence.metrics.iter().any(|m| {
                [anomaly::MULTI_DETECTOR, anomaly::MIXTURE_DETECTOR].contains(&m.rule.as_str())
            })
    });
    DrawScore {
        family: family.name(),
        seed,
        fault: family.is_fault(),
        detected,
        right,
        time_to_detect_s: ttd.map(|ms| ms as f64 / 1000.0),
        false_incidents,
        incidents: run.incidents.len(),
        candidates: run.candidates.len(),
        model_findings: run.model_findings,
        model_agreed,
        description: scenario.meta.description.clone(),
        summaries: run
            .incidents
            .iter()
            .map(|i| format!("{} {}: {}", i.incident_type, i.target.name, i.summary))
            .collect(),
    }
}

/// One family's line.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyLine {
    pub family: &'static str,
    pub fault: bool,
    pub draws: usize,
    pub detected: usize,
    pub right: usize,
    pub median_time_to_detect_s: Option<f64>,
    pub max_time_to_detect_s: Option<f64>,
    /// Draws with at least one false incident.
    pub draws_with_false: usize,
    pub false_incidents: usize,
    /// Draws where a multi-metric model agreed with a finding on the expected target.
    pub model_agreed: usize,
    /// Draws where the multi-metric models raised anything (held or passed).
    pub with_model_findings: usize,
}

/// The whole evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyReport {
    pub seed: u64,
    pub families: Vec<FamilyLine>,
    pub fault_draws: usize,
    /// Fault draws whose expected incident opened with the right type and target.
    pub fault_right: usize,
    pub healthy_draws: usize,
    /// Healthy draws with any incident.
    pub healthy_with_incident: usize,
    /// False incidents over all draws.
    pub false_incidents: usize,
    pub samples_per_sec: f64,
    pub draws: Vec<DrawScore>,
}

impl FamilyReport {
    pub fn fault_rate(&self) -> f64 {
        self.fault_right as f64 / self.fault_draws.max(1) as f64
    }

    pub fn healthy_false_rate(&self) -> f64 {
        self.healthy_with_incident as f64 / self.healthy_draws.max(1) as f64
    }

    /// One JSON object: totals, families and every draw.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<22} {:>5} {:>9} {:>11} {:>11} {:>11} {:>13} {:>14}\n",
            "family",
            "draws",
            "detected",
            "right t&t",
            "ttd median",
            "ttd max",
            "false (draws)",
            "models agreed"
        );
        let secs = |s: Option<f64>| s.map_or("-".to_owned(), |s| format!("{s:.0} s"));
        for f in &self.families {
            let (detected, right) = if f.fault {
                (
                    format!("{}/{}", f.detected, f.draws),
                    format!("{}/{}", f.right, f.draws),
                )
            } else {
                ("-".to_owned(), "-".to_owned())
            };
            // Fault draws: the models agreed on the target; healthy ones: they raised anything.
            let models = if f.fault {
                format!("{}/{}", f.model_agreed, f.draws)
            } else {
                format!("{} raised", f.with_model_findings)
            };
            out.push_str(&format!(
                "{:<22} {:>5} {:>9} {:>11} {:>11} {:>11} {:>13} {:>14}\n",
                f.family,
                f.draws,
                detected,
                right,
                secs(f.median_time_to_detect_s),
                secs(f.max_time_to_detect_s),
                format!("{} ({})", f.false_incidents, f.draws_with_false),
                models,
            ));
        }
        out.push_str(&format!(
            "seed {}: {}/{} fault draws detected with the right type and target ({:.1}%); \
             {}/{} healthy draws with an incident ({:.1}%); {} false incidents in all; {:.0} samples/s\n",
            self.seed,
            self.fault_right,
            self.fault_draws,
            100.0 * self.fault_rate(),
            self.healthy_with_incident,
            self.healthy_draws,
            100.0 * self.healthy_false_rate(),
            self.false_incidents,
            self.samples_per_sec
        ));
        out
    }
}

/// Replays `count` draws from `seed` (the families in turn) through the live loop.
pub fn evaluate(count: usize, seed: u64, anomaly: &anomaly::AnomalyConfig) -> FamilyReport {
    let progress = indicatif::ProgressBar::new(count as u64);
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut scores = Vec::with_capacity(count);
    let mut samples = 0usize;
    let mut seconds = 0.0;
    for (family, draw_seed) in draws(count, seed) {
        progress.set_message(family.name());
        let scenario = draw(family, draw_seed);
        let started = std::time::Instant::now();
        let run = run_live(&scenario, anomaly);
        seconds += started.elapsed().as_secs_f64();
        samples += run.samples;
        scores.push(score_draw(family, draw_seed, &scenario, &run));
        progress.inc(1);
    }
    progress.finish_and_clear();
    report(seed, scores, samples, seconds)
}

fn report(seed: u64, draws: Vec<DrawScore>, samples: usize, seconds: f64) -> FamilyReport {
    let mut families = Vec::new();
    for family in Family::ALL {
        let mine: Vec<&DrawScore> = draws.iter().filter(|d| d.family == family.name()).collect();
        if mine.is_empty() {
            continue;
        }
        let mut times: Vec<f64> = mine.iter().filter_map(|d| d.time_to_detect_s).collect();
        times.sort_by(f64::total_cmp);
        families.push(FamilyLine {
            family: family.name(),
            fault: family.is_fault(),
            draws: mine.len(),
            detected: mine.iter().filter(|d| d.detected).count(),
            right: mine.iter().filter(|d| d.right).count(),
            median_time_to_detect_s: times.get(times.len() / 2).copied(),
            max_time_to_detect_s: times.last().copied(),
            draws_with_false: mine.iter().filter(|d| d.false_incidents > 0).count(),
            false_incidents: mine.iter().map(|d| d.false_incidents).sum(),
            model_agreed: mine.iter().filter(|d| d.model_agreed).count(),
            with_model_findings: mine.iter().filter(|d| d.model_findings > 0).count(),
        });
    }
    let faults: Vec<&DrawScore> = draws.iter().filter(|d| d.fault).collect();
    let healthy: Vec<&DrawScore> = draws.iter().filter(|d| !d.fault).collect();
    FamilyReport {
        seed,
        fault_draws: faults.len(),
        fault_right: faults.iter().filter(|d| d.right).count(),
        healthy_draws: healthy.len(),
        healthy_with_incident: healthy.iter().filter(|d| d.incidents > 0).count(),
        false_incidents: draws.iter().map(|d| d.false_incidents).sum(),
        samples_per_sec: if seconds > 0.0 {
            samples as f64 / seconds
        } else {
            0.0
        },
        families,
        draws,
    }
}
