//! The data engineer's loop on a recording: `srebot label` marks what really happened,
//! `srebot eval recording` replays it through the live detectors and the correlator and scores
//! the incidents against the labels (precision, recall, time to detect, false incidents, a
//! NAB-style score), with plots and per-series results as Parquet.
//!
//! A recording is a folder of `scenario.json` + `series.jsonl` (as `srebot record` and
//! `srebot scenarios` write them; `samples.parquet` beside them for notebooks) and, once
//! labelled, `labels.json`. A label is a time range, an incident type and a target: an incident
//! of that target (its workload, or `*` for any) opened inside the range detects it.

use crate::nab::scorer::{PROFILES, normalise, scaled_sigmoid};
use crate::scenarios::{ExpectedIncident, Scenario, ScenarioError};
use model::{IncidentType, Scope};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Why a recording could not be labelled or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("reading the recording")]
    Scenario {
        #[from]
        source: ScenarioError,
    },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Json { path: PathBuf, message: String },
    #[error(
        "label {spec:?}: {reason} (expected FROM..TO:type:target, e.g. 2026-12-06T10:00:00Z..2026-12-06T10:20:00Z:memory_leak:payments-api)"
    )]
    BadLabel { spec: String, reason: String },
    #[error(
        "time {text:?}: expected RFC 3339 (2026-12-06T10:00:00Z), unix seconds, `now` or `now-15m`"
    )]
    BadTime { text: String },
    #[error("writing {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// What really happened in a recording, over a time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub from_ms: i64,
    pub to_ms: i64,
    #[serde(rename = "type")]
    pub incident_type: IncidentType,
    /// The workload (or node) it happened to; `*` for anything.
    pub target: String,
}

/// Reads a time: RFC 3339, unix seconds (with a fraction), `now` or `now-<duration>`.
pub fn parse_time(text: &str, now_ms: i64) -> Result<i64, RecordingError> {
    let bad = || RecordingError::BadTime {
        text: text.to_owned(),
    };
    let t = text.trim();
    if t == "now" {
        return Ok(now_ms);
    }
    if let Some(ago) = t.strip_prefix("now-") {
        let d = model::duration::parse(ago).map_err(|_| bad())?;
        return Ok(now_ms - d.as_millis() as i64);
    }
    if let Ok(seconds) = t.parse::<f64>() {
        return Ok((seconds * 1000.0).round() as i64);
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|d| d.timestamp_millis())
        .map_err(|_| bad())
}

/// Parses `FROM..TO:type:target`.
pub fn parse_label(spec: &str, now_ms: i64) -> Result<Label, RecordingError> {
    let bad = |reason: &str| RecordingError::BadLabel {
        spec: spec.to_owned(),
        reason: reason.to_owned(),
    };
    let (from, rest) = spec.split_once("..").ok_or_else(|| bad("no `..`"))?;
    let mut parts = rest.rsplitn(3, ':');
    let target = parts.next().filter(|t| !t.is_empty());
    let kind = parts.next();
    let to = parts.next();
    let (Some(target), Some(kind), Some(to)) = (target, kind, to) else {
        return Err(bad("needs TO, a type and a target after `..`"));
    };
    let incident_type = IncidentType::from_name(kind).ok_or_else(|| {
        bad(&format!(
            "unknown incident type {kind:?}; one of {}",
            IncidentType::ALL
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    let from_ms = parse_time(from, now_ms)?;
    let to_ms = parse_time(to, now_ms)?;
    if from_ms >= to_ms {
        return Err(bad("FROM is not before TO"));
    }
    Ok(Label {
        from_ms,
        to_ms,
        incident_type,
        target: target.to_owned(),
    })
}

const LABELS: &str = "labels.json";

/// The labels of a recording (none when it has no `labels.json`).
pub fn read_labels(dir: &Path) -> Result<Vec<Label>, RecordingError> {
    let path = dir.join(LABELS);
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read(&path).map_err(|source| RecordingError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|e| RecordingError::Json {
        path,
        message: e.to_string(),
    })
}

/// `srebot label DIR --incident ...`: adds labels (a label equal to one there is kept once),
/// and names them as the recording's expected incidents so `srebot replay` shows them.
pub fn add_labels(dir: &Path, labels: &[Label]) -> Result<Vec<Label>, RecordingError> {
    let mut scenario_meta = Scenario::read(dir)?.meta;
    let mut all = read_labels(dir)?;
    for l in labels {
        if !all.contains(l) {
            all.push(l.clone());
        }
    }
    all.sort_by_key(|l| (l.from_ms, l.to_ms));
    let path = dir.join(LABELS);
    let text = serde_json::to_vec_pretty(&all).map_err(|e| RecordingError::Json {
        path: path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&path, text).map_err(|source| RecordingError::Io {
        path: path.clone(),
        source,
    })?;
    scenario_meta.expected = all
        .iter()
        .map(|l| ExpectedIncident {
            incident_type: l.incident_type,
            scope: Scope::Deployment,
            target: l.target.clone(),
            namespace: None,
            fault_start_ms: l.from_ms,
        })
        .collect();
    let meta_path = dir.join("scenario.json");
    let meta = serde_json::to_vec_pretty(&scenario_meta).map_err(|e| RecordingError::Json {
        path: meta_path.clone(),
        message: e.to_string(),
    })?;
    std::fs::write(&meta_path, meta).map_err(|source| RecordingError::Io {
        path: meta_path,
        source,
    })?;
    Ok(all)
}

/// One incident the replay opened, and the label it detected.
#[derive(Debug, Clone, Serialize)]
pub struct Opened {
    pub id: String,
    #[serde(rename = "type")]
    pub incident_type: &'static str,
    pub target: String,
    pub opened_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
    pub summary: String,
    /// Index of the label it detected, if any.
    pub label: Option<usize>,
}

/// One label's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct LabelResult {
    pub label: Label,
    pub detected: bool,
    /// The first detecting incident was of the labelled type.
    pub right_type: bool,
    pub time_to_detect_ms: Option<i64>,
}

/// The evaluation of one recording.
#[derive(Debug, Clone, Serialize)]
pub struct RecordingReport {
    pub name: String,
    pub series: usize,
    pub samples: usize,
    pub candidates: usize,
    pub incidents: Vec<Opened>,
    pub labels: Vec<LabelResult>,
    /// Incidents that detected a label, over all incidents.
    pub precision: f64,
    /// Labels detected, over all labels.
    pub recall: f64,
    pub false_incidents: usize,
    /// Mean time to detect over detected labels (ms).
    pub mean_time_to_detect_ms: Option<f64>,
    /// NAB-style scores (standard, reward_low_FP, reward_low_FN) with incidents as detections.
    pub nab: [f64; 3],
}

/// Whether an incident's target is a label's (`*` matches every target).
fn same_target(label: &str, incident: &model::Target) -> bool {
    label == "*" || label == incident.name || label == incident.workload()
}

impl RecordingReport {
    pub fn table(&self) -> String {
        let mut s = format!(
            "{}: {} series, {} samples, {} candidates, {} incidents\n",
            self.name,
            self.series,
            self.samples,
            self.candidates,
            self.incidents.len()
        );
        s.push_str(&format!(
            "{:<22} {:<18} {:<24} {:>8} {:>10}\n",
            "label from", "type", "target", "found", "detect s"
        ));
        for l in &self.labels {
            s.push_str(&format!(
                "{:<22} {:<18} {:<24} {:>8} {:>10}\n",
                l.label.from_ms,
                l.label.incident_type.as_str(),
                l.label.target,
                match (l.detected, l.right_type) {
                    (true, true) => "yes",
                    (true, false) => "other",
                    _ => "no",
                },
                l.time_to_detect_ms
                    .map_or("-".to_owned(), |t| format!("{:.0}", t as f64 / 1000.0)),
            ));
        }
        for i in &self.incidents {
            s.push_str(&format!(
                "incident {} {} on {} at {}{}: {}\n",
                i.id,
                i.incident_type,
                i.target,
                i.opened_at_ms,
                if i.label.is_some() { "" } else { " (false)" },
                i.summary
            ));
        }
        s.push_str(&format!(
            "precision {:.2}, recall {:.2}, {} false incidents, mean time to detect {}, NAB-style {:.1} / {:.1} / {:.1} (standard / low FP / low FN)\n",
            self.precision,
            self.recall,
            self.false_incidents,
            self.mean_time_to_detect_ms
                .map_or("-".to_owned(), |t| format!("{:.0} s", t / 1000.0)),
            self.nab[0],
            self.nab[1],
            self.nab[2]
        ));
        s
    }

    pub fn json_line(&self) -> String {
        serde_json::json!({
            "name": self.name,
            "incidents": self.incidents.len(),
            "labels": self.labels.len(),
            "precision": self.precision,
            "recall": self.recall,
            "false_incidents": self.false_incidents,
            "mean_time_to_detect_ms": self.mean_time_to_detect_ms,
            "nab": {"standard": self.nab[0], "reward_low_FP_rate": self.nab[1], "reward_low_FN_rate": self.nab[2]},
        })
        .to_string()
    }
}

/// NAB-style score of incident open times against label windows: the first detection in a
/// window earns the scaled sigmoid of its position (earlier is better), a detection outside
/// every window costs `A_fp` weighted by its distance after the window before it, a window
/// with none costs `A_fn`; normalised between the null and the perfect detector.
fn nab_scores(labels: &[Label], detections: &[i64]) -> [f64; 3] {
    let mut out = [0.0; 3];
    for (slot, profile) in out.iter_mut().zip(PROFILES.iter()) {
        let mut raw = 0.0;
        let mut first: Vec<Option<f64>> = vec![None; labels.len()];
        for &t in detections {
            match labels.iter().position(|l| t >= l.from_ms && t <= l.to_ms) {
                Some(w) => {
                    let l = &labels[w];
                    let len = (l.to_ms - l.from_ms).max(1) as f64;
                    let y = (t - l.to_ms) as f64 / len;
                    if first[w].is_none() {
                        first[w] = Some(profile.tp * scaled_sigmoid(y));
                    }
                }
                None => {
                    let before = labels
                        .iter()
                        .filter(|l| l.to_ms < t)
                        .max_by_key(|l| l.to_ms);
                    let weight = match before {
                        Some(l) => {
                            let len = (l.to_ms - l.from_ms).max(1) as f64;
                            scaled_sigmoid((t - l.to_ms) as f64 / len)
                        }
                        None => -1.0,
                    };
                    raw += profile.fp * weight;
                }
            }
        }
        for f in &first {
            raw += f.unwrap_or(-profile.fn_);
        }
        *slot = normalise(raw, labels.len(), profile);
    }
    out
}

/// Replays `dir`'s recording through the built-in rules and the correlator, scores it against
/// its labels, and writes into `out`: `results.parquet` (per series and sample: value, whether
/// a label covers it, whether an incident on its target was open) and an SVG per labelled or
/// detected series (at most 24).
pub fn evaluate(dir: &Path, out: &Path) -> Result<RecordingReport, RecordingError> {
    let scenario = Scenario::read(dir)?;
    let labels = read_labels(dir)?;
    let store = windows::Store::new(windows::StoreConfig {
        lateness_ms: scenario.meta.step_ms.max(15_000),
        retention_ms: (scenario.meta.end_ms - scenario.meta.start_ms).max(3_600_000),
        ..windows::StoreConfig::default()
    });
    let mut detector = detect::Detector::new(detect::builtin_rules(), detect::Environment::Prod);
    let outcome = crate::replay::replay(&scenario, &store, &mut detector, 15_000);
    let standing = crate::replay::correlate(&outcome.candidates);
    let mut incidents: Vec<Opened> = standing
        .iter()
        .map(|i| Opened {
            id: i.id.clone(),
            incident_type: i.incident_type.as_str(),
            target: i.target.to_string(),
            opened_at_ms: i.opened_at_ms,
            resolved_at_ms: i.resolved_at_ms,
            summary: i.summary.clone(),
            label: labels.iter().position(|l| {
                i.opened_at_ms >= l.from_ms
                    && i.opened_at_ms <= l.to_ms
                    && same_target(&l.target, &i.target)
            }),
        })
        .collect();
    incidents.sort_by_key(|i| i.opened_at_ms);
    let label_results: Vec<LabelResult> = labels
        .iter()
        .enumerate()
        .map(|(n, l)| {
            let first = standing
                .iter()
                .filter(|i| {
                    i.opened_at_ms >= l.from_ms
                        && i.opened_at_ms <= l.to_ms
                        && same_target(&l.target, &i.target)
                })
                .min_by_key(|i| i.opened_at_ms);
            let _ = n;
            LabelResult {
                label: l.clone(),
                detected: first.is_some(),
                right_type: first.is_some_and(|i| i.incident_type == l.incident_type),
                time_to_detect_ms: first.map(|i| i.opened_at_ms - l.from_ms),
            }
        })
        .collect();
    let matched = incidents.iter().filter(|i| i.label.is_some()).count();
    let detected: Vec<i64> = label_results
        .iter()
        .filter_map(|l| l.time_to_detect_ms)
        .collect();
    let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let report = RecordingReport {
        name: scenario.meta.name.clone(),
        series: scenario.series.len(),
        samples: scenario.sample_count(),
        candidates: outcome.candidates.len(),
        precision: share(matched, incidents.len()),
        recall: share(detected.len(), labels.len()),
        false_incidents: incidents.len() - matched,
        mean_time_to_detect_ms: (!detected.is_empty())
            .then(|| detected.iter().sum::<i64>() as f64 / detected.len() as f64),
        nab: nab_scores(
            &labels,
            &incidents.iter().map(|i| i.opened_at_ms).collect::<Vec<_>>(),
        ),
        incidents,
        labels: label_results,
    };
    std::fs::create_dir_all(out).map_err(|source| RecordingError::Io {
        path: out.to_owned(),
        source,
    })?;
    write_results(&scenario, &labels, &standing, out)?;
    Ok(report)
}

/// The workload a series belongs to, as incidents name targets.
fn series_target(labels: &model::LabelSet) -> Option<String> {
    for name in [
        "deployment",
        "service",
        "app",
        "container",
        "node",
        "instance",
        "job",
    ] {
        if let Some(v) = labels.get(name) {
            return Some(v.to_owned());
        }
    }
    labels
        .get("pod")
        .map(|p| model::workload_of(p).name.to_owned())
}

/// `results.parquet` and the plots.
fn write_results(
    scenario: &Scenario,
    labels: &[Label],
    incidents: &[incident::Incident],
    out: &Path,
) -> Result<(), RecordingError> {
    let mut table = crate::columnar::ResultsTable::default();
    let mut plotted = 0usize;
    for series in &scenario.series {
        let target = series_target(&series.labels);
        let mine = |name: &str| target.as_deref().is_some_and(|t| t == name) || name == "*";
        let covering: Vec<&Label> = labels.iter().filter(|l| mine(&l.target)).collect();
        let open: Vec<&incident::Incident> = incidents
            .iter()
            .filter(|i| {
                target
                    .as_deref()
                    .is_some_and(|t| t == i.target.name || t == i.target.workload())
            })
            .collect();
        let labels_text = series.labels.to_string();
        let mut bands = Vec::new();
        let mut marks = Vec::new();
        let mut band_start: Option<usize> = None;
        for (row, &(ts, value)) in series.samples.iter().enumerate() {
            let labelled = covering.iter().any(|l| ts >= l.from_ms && ts <= l.to_ms);
            let incident = open
                .iter()
                .find(|i| ts >= i.opened_at_ms && i.resolved_at_ms.is_none_or(|r| ts <= r));
            if incident.is_some_and(|i| i.opened_at_ms > ts - scenario.meta.step_ms) {
                marks.push(row);
            }
            match (labelled, band_start) {
                (true, None) => band_start = Some(row),
                (false, Some(s)) => {
                    bands.push((s, row.saturating_sub(1)));
                    band_start = None;
                }
                _ => {}
            }
            table.push(
                series.labels.metric_name(),
                &labels_text,
                ts,
                value,
                labelled,
                incident.map(|i| i.incident_type.as_str()),
            );
        }
        if let Some(s) = band_start {
            bands.push((s, series.samples.len().saturating_sub(1)));
        }
        if (!bands.is_empty() || !marks.is_empty()) && plotted < 24 {
            let values: Vec<f64> = series.samples.iter().map(|s| s.1).collect();
            let path = out.join(format!("series-{plotted:02}.svg"));
            crate::plot::series_svg(
                &path,
                &crate::plot::SeriesPlot {
                    title: &labels_text,
                    values: &values,
                    bands: &bands,
                    marks: &marks,
                    unit_series: None,
                },
            )
            .map_err(|e| RecordingError::Write {
                path: path.clone(),
                message: e.to_string(),
            })?;
            plotted += 1;
        }
    }
    let path = out.join("results.parquet");
    table
        .write(&path)
        .map_err(|message| RecordingError::Write { path, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_parse_with_colons_in_their_times() {
        let l = parse_label(
            "2026-12-06T10:00:00Z..2026-12-06T10:20:00Z:memory_leak:payments-api",
            0,
        )
        .unwrap();
        assert_eq!(l.incident_type, IncidentType::MemoryLeak);
        assert_eq!(l.target, "payments-api");
        assert_eq!(l.to_ms - l.from_ms, 20 * 60_000);
        let now = 1_800_000_000_000;
        let l = parse_label("now-30m..now:crash_loop:*", now).unwrap();
        assert_eq!((l.from_ms, l.to_ms), (now - 1_800_000, now));
        for bad in [
            "10..20:nonsense:x",
            "20..10:crash_loop:x",
            "10:crash_loop:x",
            "10..20:crash_loop:",
            "yesterday..20:crash_loop:x",
        ] {
            assert!(parse_label(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn nab_style_rewards_early_detection_and_charges_false_ones() {
        let labels = [Label {
            from_ms: 1_000,
            to_ms: 2_000,
            incident_type: IncidentType::CrashLoop,
            target: "*".into(),
        }];
        let early = nab_scores(&labels, &[1_000])[0];
        let late = nab_scores(&labels, &[1_900])[0];
        let none = nab_scores(&labels, &[])[0];
        let noisy = nab_scores(&labels, &[1_000, 9_000])[0];
        assert!(early > late && late > none, "{early} {late} {none}");
        assert!(noisy < early);
        assert!((none - 0.0).abs() < 1e-9);
        assert!(early <= 100.0);
    }
}
