//! Replays a recorded scenario through the same path as live traffic — `Store::append` with
//! borrowed series, event-time ticks at the watermark, the rule detector — and scores what the
//! detectors found against the scenario's labels.

use crate::scenarios::Scenario;
use detect::Detector;
use model::{IncidentCandidate, Sample, SeriesRef};
use windows::Store;

/// What a replay produced.
#[derive(Debug, Default)]
pub struct ReplayOutcome {
    pub candidates: Vec<IncidentCandidate>,
    pub samples: usize,
    pub ticks: usize,
}

/// Appends the scenario step by step (every series' sample at each timestamp, as a scrape or
/// a remote_write batch would bring it) and evaluates `detector` every `tick_ms` of event time.
pub fn replay(scenario: &Scenario, store: &Store, detector: &mut Detector, tick_ms: i64) -> ReplayOutcome {
    let mut outcome = ReplayOutcome::default();
    let mut cursors = vec![0usize; scenario.series.len()];
    let mut next_tick = scenario.meta.start_ms + tick_ms;
    let mut ts = scenario.meta.start_ms;
    while ts <= scenario.meta.end_ms {
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
                .map(|&(timestamp_ms, value)| Sample { timestamp_ms, value })
                .collect();
            let labels: Vec<(&str, &str)> = series.labels.iter().collect();
            let appended = store.append(SeriesRef {
                labels: &labels,
                samples: &samples,
                metric_type: series.metric_type,
                unit: "",
                help: "",
                created_timestamp_ms: 0,
            });
            outcome.samples += appended.appended;
        }
        if let Some(watermark) = store.watermark_ms() {
            while watermark >= next_tick {
                let evaluation = detector.evaluate(store, next_tick);
                outcome.candidates.extend(evaluation.candidates);
                outcome.ticks += 1;
                next_tick += tick_ms;
            }
        }
        ts += scenario.meta.step_ms;
    }
    outcome
}

/// How the detectors did on one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionScore {
    pub scenario: String,
    pub healthy: bool,
    /// Every expected incident has a candidate of its type and target after the fault started.
    pub detected: bool,
    /// Event time from the fault's start to the first right candidate (ms), worst over expected.
    pub time_to_detect_ms: Option<i64>,
    /// Candidates whose type or target no expected incident has.
    pub unexpected: usize,
    pub candidates: usize,
}

/// Scores candidates against the scenario's labels.
pub fn score(scenario: &Scenario, candidates: &[IncidentCandidate]) -> DetectionScore {
    let mut detected = true;
    let mut worst: Option<i64> = None;
    for expected in &scenario.meta.expected {
        let first = candidates
            .iter()
            .filter(|c| {
                c.incident_type == expected.incident_type
                    && c.target == expected.target
                    && c.detected_at_ms >= expected.fault_start_ms
            })
            .map(|c| c.detected_at_ms - expected.fault_start_ms)
            .min();
        match first {
            Some(delay) => worst = Some(worst.map_or(delay, |w: i64| w.max(delay))),
            None => detected = false,
        }
    }
    let unexpected = candidates
        .iter()
        .filter(|c| {
            !scenario
                .meta
                .expected
                .iter()
                .any(|e| e.target == c.target || c.node.as_deref() == Some(e.target.as_str()))
        })
        .count();
    DetectionScore {
        scenario: scenario.meta.name.clone(),
        healthy: scenario.is_healthy(),
        detected: detected && (scenario.is_healthy() || worst.is_some()),
        time_to_detect_ms: worst,
        unexpected,
        candidates: candidates.len(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenarios::{Fault, generate};
    use detect::{Environment, builtin_rules};
    use windows::StoreConfig;

    fn run(fault: Fault) -> DetectionScore {
        let scenario = generate(fault, 42);
        let store = Store::new(StoreConfig {
            lateness_ms: 15_000,
            ..StoreConfig::default()
        });
        let mut detector = Detector::new(builtin_rules(), Environment::Prod);
        let outcome = replay(&scenario, &store, &mut detector, 60_000);
        assert_eq!(outcome.samples, scenario.sample_count(), "{fault:?}: every sample stored");
        score(&scenario, &outcome.candidates)
    }

    #[test]
    fn every_fault_is_detected_with_its_type_and_target() {
        let mut failures = Vec::new();
        for fault in Fault::ALL {
            let score = run(fault);
            let ok = if score.healthy {
                score.candidates == 0
            } else {
                score.detected && score.unexpected == 0
            };
            if !ok {
                failures.push(format!("{score:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
