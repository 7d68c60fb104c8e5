//! Replays a recorded scenario through the same path as live traffic — `Store::append` with
//! borrowed series, event-time ticks at the watermark, the rule detector — and scores what the
//! detectors found against the scenario's labels.

use crate::scenarios::Scenario;
use detect::Detector;
use incident::{Finding, Incident};
use model::{IncidentCandidate, Sample, SeriesRef};
use std::collections::BTreeMap;
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
pub fn replay(
    scenario: &Scenario,
    store: &Store,
    detector: &mut Detector,
    tick_ms: i64,
) -> ReplayOutcome {
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
                .map(|&(timestamp_ms, value)| Sample {
                    timestamp_ms,
                    value,
                })
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
        assert_eq!(
            outcome.samples,
            scenario.sample_count(),
            "{fault:?}: every sample stored"
        );
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

/// The scenario evaluation: every scenario replayed, scored, tabulated and plotted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioReport {
    pub scenarios: Vec<ScenarioLine>,
    pub faults_detected: usize,
    pub faults: usize,
    pub healthy_with_candidates: usize,
    pub healthy: usize,
    /// Raw candidates over all scenarios.
    pub candidates: usize,
    /// Incidents opened over all scenarios.
    pub incidents: usize,
    /// Samples replayed per second of wall time (ingest, windows and detectors together).
    pub samples_per_sec: f64,
}

/// One scenario's line in the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioLine {
    pub scenario: String,
    pub healthy: bool,
    pub detected: bool,
    pub right_type_and_target: bool,
    pub time_to_detect_s: Option<f64>,
    pub candidates: usize,
    pub unexpected: usize,
    /// Incidents the correlator opened from the candidates.
    pub incidents: usize,
    /// Whether exactly one incident per expected one was opened, of the right type.
    pub right_incidents: bool,
}

/// Runs candidates through the incident correlator in event time (ticking at every distinct
/// detection time) and returns the incidents left standing (merged ones folded away).
pub fn correlate(candidates: &[IncidentCandidate]) -> Vec<Incident> {
    correlate_with_findings(candidates)
        .into_iter()
        .map(|(incident, _)| incident)
        .collect()
}

/// Standing incidents with their findings, from candidates run through the correlator in
/// event time.
pub fn correlate_with_findings(candidates: &[IncidentCandidate]) -> Vec<(Incident, Vec<Finding>)> {
    let mut correlator = incident::Correlator::new(incident::CorrelatorConfig::default());
    let mut incidents: BTreeMap<String, Incident> = BTreeMap::new();
    let mut findings: BTreeMap<String, Finding> = BTreeMap::new();
    let mut sorted: Vec<&IncidentCandidate> = candidates.iter().collect();
    sorted.sort_by_key(|c| c.detected_at_ms);
    let mut last_tick = None;
    let mut absorb = |changes: Vec<incident::Change>| {
        for change in changes {
            for finding in change.findings {
                findings.insert(finding.id.clone(), finding);
            }
            for (retired, _) in &change.retired_findings {
                findings.remove(retired);
            }
            incidents.insert(change.incident.id.clone(), change.incident);
        }
    };
    for candidate in sorted {
        if last_tick != Some(candidate.detected_at_ms) {
            absorb(correlator.tick(candidate.detected_at_ms));
            last_tick = Some(candidate.detected_at_ms);
        }
        absorb(correlator.ingest(candidate.clone()));
    }
    // Findings of merged incidents follow them into the survivor.
    let survivor = |mut id: String| {
        while let Some(next) = incidents.get(&id).and_then(|i| i.merged_into.clone()) {
            id = next;
        }
        id
    };
    let mut by_incident: BTreeMap<String, Vec<Finding>> = BTreeMap::new();
    for finding in findings.into_values() {
        by_incident
            .entry(survivor(finding.incident_id.clone()))
            .or_default()
            .push(finding);
    }
    incidents
        .values()
        .filter(|i| i.merged_into.is_none())
        .map(|i| {
            let mut found = by_incident.remove(&i.id).unwrap_or_default();
            found.sort_by_key(|f| f.first_seen_ms);
            (i.clone(), found)
        })
        .collect()
}

impl ScenarioReport {
    /// Raw candidates per incident opened.
    pub fn compression(&self) -> f64 {
        self.candidates as f64 / self.incidents.max(1) as f64
    }

    /// One JSON object for scripts: the totals and every scenario's line.
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<26} {:>8} {:>9} {:>12} {:>10} {:>10} {:>9}\n",
            "scenario",
            "healthy",
            "detected",
            "detect (s)",
            "candidates",
            "unexpected",
            "incidents"
        );
        for line in &self.scenarios {
            out.push_str(&format!(
                "{:<26} {:>8} {:>9} {:>12} {:>10} {:>10} {:>9}\n",
                line.scenario,
                if line.healthy { "yes" } else { "no" },
                if line.healthy {
                    "-".to_owned()
                } else if line.detected {
                    "yes".to_owned()
                } else {
                    "NO".to_owned()
                },
                line.time_to_detect_s
                    .map_or("-".to_owned(), |s| format!("{s:.0}")),
                line.candidates,
                line.unexpected,
                line.incidents
            ));
        }
        out.push_str(&format!(
            "faults detected with the right type and target: {}/{}; healthy scenarios with candidates: {}/{}; \
             {} candidates became {} incidents ({:.1}:1); {:.0} samples/s\n",
            self.faults_detected,
            self.faults,
            self.healthy_with_candidates,
            self.healthy,
            self.candidates,
            self.incidents,
            self.compression(),
            self.samples_per_sec
        ));
        out
    }
}

/// Replays every generated scenario through fresh windows and the built-in rules, writing a
/// plot per scenario into `out_dir` (the faulty series, the fault start, each detection).
pub fn evaluate_scenarios(
    out_dir: Option<&std::path::Path>,
    seed: u64,
) -> Result<ScenarioReport, crate::scenarios::ScenarioError> {
    use crate::scenarios::{Fault, generate};
    let progress = indicatif::ProgressBar::new(Fault::ALL.len() as u64);
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut lines = Vec::new();
    let mut samples = 0usize;
    let mut seconds = 0.0f64;
    for fault in Fault::ALL {
        progress.set_message(fault.name());
        let scenario = generate(fault, seed);
        let store = Store::new(windows::StoreConfig {
            lateness_ms: 15_000,
            ..windows::StoreConfig::default()
        });
        let mut detector = Detector::new(detect::builtin_rules(), detect::Environment::Prod);
        let started = std::time::Instant::now();
        let outcome = replay(&scenario, &store, &mut detector, 60_000);
        seconds += started.elapsed().as_secs_f64();
        samples += outcome.samples;
        let s = score(&scenario, &outcome.candidates);
        let incidents = correlate(&outcome.candidates);
        let right_incidents = incidents.len() == scenario.meta.expected.len()
            && scenario
                .meta
                .expected
                .iter()
                .all(|e| incidents.iter().any(|i| i.incident_type == e.incident_type));
        if let Some(dir) = out_dir {
            std::fs::create_dir_all(dir).map_err(|source| crate::scenarios::ScenarioError::Io {
                path: dir.to_owned(),
                source,
            })?;
            let path = dir.join(format!("scenario-{}.svg", scenario.meta.name));
            plot_scenario(&scenario, &outcome.candidates, &path);
        }
        lines.push(ScenarioLine {
            scenario: s.scenario,
            healthy: s.healthy,
            detected: s.detected,
            right_type_and_target: s.detected && s.unexpected == 0,
            time_to_detect_s: s.time_to_detect_ms.map(|ms| ms as f64 / 1000.0),
            candidates: s.candidates,
            unexpected: s.unexpected,
            incidents: incidents.len(),
            right_incidents,
        });
        progress.inc(1);
    }
    progress.finish_and_clear();
    let faults = lines.iter().filter(|l| !l.healthy).count();
    Ok(ScenarioReport {
        faults_detected: lines
            .iter()
            .filter(|l| !l.healthy && l.right_type_and_target)
            .count(),
        faults,
        healthy_with_candidates: lines
            .iter()
            .filter(|l| l.healthy && l.candidates > 0)
            .count(),
        healthy: lines.len() - faults,
        candidates: lines.iter().map(|l| l.candidates).sum(),
        incidents: lines.iter().map(|l| l.incidents).sum(),
        samples_per_sec: if seconds > 0.0 {
            samples as f64 / seconds
        } else {
            0.0
        },
        scenarios: lines,
    })
}

/// Plots the series the first candidate cites (or the first series) with the fault start and
/// the detections marked.
fn plot_scenario(scenario: &Scenario, candidates: &[IncidentCandidate], path: &std::path::Path) {
    use plotters::prelude::*;
    let cited = candidates.first().map(|c| &c.evidence.metrics[0].series);
    let series = scenario
        .series
        .iter()
        .find(|s| {
            cited.is_some_and(|c| {
                c.iter()
                    .all(|(k, v)| k.starts_with("route_") || s.labels.get(k) == Some(v))
            })
        })
        .or_else(|| {
            scenario
                .series
                .iter()
                .find(|s| s.labels.metric_name() == "container_memory_working_set_bytes")
        });
    let Some(series) = series else { return };
    let t0 = scenario.meta.start_ms;
    let points: Vec<(f64, f64)> = series
        .samples
        .iter()
        .map(|(t, v)| ((t - t0) as f64 / 60_000.0, *v))
        .collect();
    let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), (_, v)| {
        (a.min(*v), b.max(*v))
    });
    let pad = ((hi - lo) * 0.1).max(1e-9);
    let root = SVGBackend::new(path, (900, 360)).into_drawing_area();
    let _ = root.fill(&WHITE);
    let minutes = (scenario.meta.end_ms - t0) as f64 / 60_000.0;
    let Ok(mut chart) = ChartBuilder::on(&root)
        .caption(
            format!("{}: {}", scenario.meta.name, series.labels),
            ("sans-serif", 14),
        )
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..minutes, (lo - pad)..(hi + pad))
    else {
        return;
    };
    let _ = chart.configure_mesh().x_desc("minutes").draw();
    let _ = chart.draw_series(LineSeries::new(points, &BLUE));
    for expected in &scenario.meta.expected {
        let x = (expected.fault_start_ms - t0) as f64 / 60_000.0;
        let _ = chart.draw_series(LineSeries::new(
            [(x, lo - pad), (x, hi + pad)],
            ShapeStyle::from(&BLACK).stroke_width(2),
        ));
    }
    let _ = chart.draw_series(candidates.iter().map(|c| {
        let x = (c.detected_at_ms - t0) as f64 / 60_000.0;
        Circle::new((x, hi), 3, RED.filled())
    }));
    let _ = root.present();
}
