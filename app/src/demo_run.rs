//! Playing a built-in scenario or demo story into this server at the present: the recording
//! is moved in time so it ends now and fed through the live entry points (windows, log store,
//! correlation) five minutes of event time at a time, so the incident opens as one watches.
//!
//! What the windows cannot hold (older than what they already hold) is dropped and counted,
//! as for any sender; the run says how much was kept.

use crate::service::{App, AppError, by};
use crate::stories::Recording;
use crate::{Caller, Operation, authorize};
use ingest::loki::{LogBatch, LogEntry, LogStream};
use model::{MetricType, Sample, SeriesRef, SeriesVisitor};
use policy::{AuditKind, AuditRecord};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use windows::AppendOutcome;

/// Event time fed per step.
const STEP_MS: i64 = 5 * 60_000;

/// Runs remembered for the demo page.
const KEEP_RUNS: usize = 20;

/// The tenant demo runs write as: each scenario is the source `demo/<name>`.
pub const DEMO_TENANT: &str = "demo";

/// One play of a recording.
#[derive(Debug, Clone, Serialize)]
pub struct DemoRun {
    pub id: String,
    /// The source it plays into: `demo/<name>`, on an event-time clock of its own.
    pub source: String,
    pub name: String,
    pub description: String,
    pub started_by: String,
    pub started_at_ms: i64,
    /// Where the fault starts, moved to the present.
    pub fault_at_ms: Option<i64>,
    pub samples: usize,
    /// Samples the windows kept.
    pub stored: usize,
    /// Samples dropped, by reason (mostly: older than what the windows already hold).
    pub dropped: BTreeMap<String, u64>,
    pub log_lines: usize,
    pub findings: usize,
    /// Where the recording starts, moved to the present.
    pub started_from_ms: i64,
    /// Event time fed so far.
    pub fed_through_ms: i64,
    pub end_ms: i64,
    pub done: bool,
    pub error: Option<String>,
}

/// Appends the series of one step into the run's source.
fn append_series(
    app: &App,
    source: &str,
    recording: &Recording,
    shift: i64,
    from: i64,
    to: i64,
) -> AppendOutcome {
    let mut appender = app.sources.appender(source, None);
    for series in &recording.scenario.series {
        let samples: Vec<Sample> = series
            .samples
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|&(t, value)| Sample {
                timestamp_ms: t + shift,
                value,
            })
            .collect();
        if samples.is_empty() {
            continue;
        }
        let pairs: Vec<(&str, &str)> = series.labels.iter().collect();
        let Ok(()) = appender.series(SeriesRef {
            labels: &pairs,
            samples: &samples,
            metric_type: series.metric_type,
            unit: "",
            help: "",
            created_timestamp_ms: 0,
        });
    }
    appender.finish().0
}

impl App {
    /// Appends OTLP metrics (already translated to series) to the windows of the `tenant`'s
    /// sources.
    pub fn ingest_otlp(&self, tenant: &str, batch: &ingest::otlp::OtlpBatch) -> AppendOutcome {
        let mut appender = self
            .sources
            .appender(tenant, self.config.ingest.source_label.as_deref());
        for s in &batch.series {
            let pairs: Vec<(&str, &str)> = s
                .labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let Ok(()) = appender.series(SeriesRef {
                labels: &pairs,
                samples: &s.samples,
                metric_type: s.metric_type,
                unit: &s.unit,
                help: &s.help,
                created_timestamp_ms: s.created_timestamp_ms,
            });
        }
        let (outcome, _reached) = appender.finish();
        if outcome.appended > 0 {
            self.pipeline.wake.notify_one();
        }
        outcome
    }

    /// Mines and counts pushed log lines on the blocking pool (the log store keeps them for
    /// incidents' context) and appends the per-template counts to the windows of the
    /// `tenant`'s sources at the lines' event time.
    pub async fn ingest_logs(
        self: &Arc<Self>,
        tenant: &str,
        batch: LogBatch,
    ) -> Result<AppendOutcome, AppError> {
        let miner = Arc::clone(self);
        let points = tokio::task::spawn_blocking(move || miner.logs.lock().add(&batch))
            .await
            .map_err(|e| AppError::Query {
                what: "mining the pushed lines",
                class: model::ErrorClass::Internal,
                source: Box::new(e),
            })?;
        let mut appender = self
            .sources
            .appender(tenant, self.config.ingest.source_label.as_deref());
        for (labels, counts) in &points {
            let pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let samples: Vec<Sample> = counts
                .iter()
                .map(|(&timestamp_ms, &count)| Sample {
                    timestamp_ms,
                    value: count as f64,
                })
                .collect();
            let Ok(()) = appender.series(SeriesRef {
                labels: &pairs,
                samples: &samples,
                metric_type: MetricType::Counter,
                unit: "",
                help: "Log lines per stream and template",
                created_timestamp_ms: 0,
            });
        }
        let (outcome, _reached) = appender.finish();
        if outcome.appended > 0 {
            self.pipeline.wake.notify_one();
        }
        Ok(outcome)
    }

    /// Starts playing the built-in scenario or demo story `name`, moved so it ends now;
    /// returns at once with the run, which [`App::demo_runs`] follows.
    pub async fn start_demo(
        self: &Arc<Self>,
        caller: &Caller,
        name: &str,
        seed: u64,
    ) -> Result<DemoRun, AppError> {
        authorize(caller, Operation::StartDemo)?;
        let recording =
            crate::stories::recording(name, seed).ok_or_else(|| AppError::NotFound {
                what: "demo scenario",
                id: name.to_owned(),
            })?;
        let now = crate::remediation::now_ms();
        let meta = &recording.scenario.meta;
        let shift = now - meta.end_ms;
        let run = DemoRun {
            id: format!("demo-{:012x}", rand::random::<u64>() >> 16),
            source: format!("{DEMO_TENANT}/{}", meta.name),
            name: meta.name.clone(),
            description: meta.description.clone(),
            started_by: by(caller),
            started_at_ms: now,
            fault_at_ms: meta.expected.first().map(|e| e.fault_start_ms + shift),
            samples: recording.scenario.sample_count(),
            stored: 0,
            dropped: BTreeMap::new(),
            log_lines: recording.logs.len(),
            findings: recording.findings.len(),
            started_from_ms: meta.start_ms + shift,
            fed_through_ms: meta.start_ms + shift,
            end_ms: now,
            done: false,
            error: None,
        };
        {
            let mut runs = self.demos.lock();
            runs.push_front(run.clone());
            runs.truncate(KEEP_RUNS);
        }
        if let Some(remediation) = &self.remediation {
            remediation
                .record(AuditRecord {
                    at_ms: now,
                    who: by(caller),
                    kind: AuditKind::DemoStarted,
                    incident_id: None,
                    action: None,
                    why: "demo.start".to_owned(),
                    detail: format!("{} ({})", run.name, run.id),
                    evidence_ids: Vec::new(),
                    before: None,
                    after: None,
                })
                .map_err(|source| AppError::Remediation { source })?;
        }
        tracing::info!(demo = %run.name, id = %run.id, by = %caller.name, "demo started");
        let app = Arc::clone(self);
        let id = run.id.clone();
        let source = run.source.clone();
        tokio::spawn(async move {
            let result = app.play(&id, &source, &recording, shift).await;
            app.update_run(&id, |r| {
                r.done = true;
                r.error = result.err().map(|e| model::error::chain(&e));
            });
        });
        Ok(run)
    }

    /// The demo runs of this server, newest first.
    pub fn demo_runs(&self, caller: &Caller) -> Result<Vec<DemoRun>, AppError> {
        authorize(caller, Operation::Status)?;
        Ok(self.demos.lock().iter().cloned().collect())
    }

    fn update_run(&self, id: &str, edit: impl FnOnce(&mut DemoRun)) {
        if let Some(run) = self.demos.lock().iter_mut().find(|r| r.id == id) {
            edit(run);
        }
    }

    async fn play(
        self: &Arc<Self>,
        id: &str,
        source: &str,
        recording: &Recording,
        shift: i64,
    ) -> Result<(), AppError> {
        let meta = &recording.scenario.meta;
        let mut from = meta.start_ms;
        while from < meta.end_ms {
            let to = (from + STEP_MS).min(meta.end_ms);
            let mut outcome = append_series(self, source, recording, shift, from, to);
            let lines: Vec<&(i64, model::LabelSet, String)> = recording
                .logs
                .iter()
                .filter(|(t, _, _)| *t >= from && *t < to)
                .collect();
            if !lines.is_empty() {
                let mut streams: BTreeMap<&model::LabelSet, Vec<LogEntry>> = BTreeMap::new();
                for (t, labels, line) in lines {
                    streams.entry(labels).or_default().push(LogEntry {
                        timestamp_ns: (t + shift).saturating_mul(1_000_000),
                        line: line.clone(),
                        metadata: Vec::new(),
                    });
                }
                let batch = LogBatch {
                    streams: streams
                        .into_iter()
                        .map(|(labels, entries)| LogStream {
                            labels: labels.clone(),
                            entries,
                        })
                        .collect(),
                };
                outcome.merge(&self.ingest_logs(source, batch).await?);
            }
            let found: Vec<model::IncidentCandidate> = recording
                .findings
                .iter()
                .filter(|f| f.detected_at_ms >= from && f.detected_at_ms < to)
                .cloned()
                .map(|mut f| {
                    f.detected_at_ms += shift;
                    f.source = source.to_owned();
                    for e in &mut f.evidence.events {
                        e.at_ms += shift;
                    }
                    f
                })
                .collect();
            self.update_run(id, |r| {
                r.stored += outcome.stored();
                for reason in windows::DropReason::ALL {
                    let n = outcome.dropped(reason);
                    if n > 0 {
                        *r.dropped.entry(reason.as_str().to_owned()).or_default() += n as u64;
                    }
                }
                r.fed_through_ms = to + shift;
            });
            // Detection follows the windows; findings join once the tick before them ran.
            self.pipeline.wake.notify_one();
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            while tokio::time::Instant::now() < deadline
                && !self
                    .sources
                    .get(source)
                    .is_none_or(|store| self.pipeline.caught_up_source(source, &store))
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if !found.is_empty() {
                self.pipeline
                    .submit(found)
                    .await
                    .map_err(|source| AppError::Ledger { source })?;
            }
            from = to;
        }
        Ok(())
    }
}
