//! Loki-query ingest: each `[[loki.query]]` polled from Loki's `query_range`, its lines mined
//! and counted in the windows at their event time as pushed lines are (a metric query's series
//! appended as they are), resuming after a restart where the last poll stopped.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ingest::loki::LogBatch;
use model::{LabelSet, MetricType, Sample, SeriesRef, SeriesVisitor};
use serde::Serialize;

use crate::App;
use crate::config::LokiQueryConfig;

/// File in the data dir holding each query's cursor (the end of its last complete poll).
pub const CURSORS_FILE: &str = "loki-cursors.json";

/// How far back a query with no cursor starts: one interval.
const MAX_CATCH_UP: Duration = Duration::from_secs(3600);

/// What a query's polls have done so far (for `/api/v1/status` and the doctor).
#[derive(Debug, Clone, Default, Serialize)]
pub struct QueryStatus {
    pub query: String,
    pub source: String,
    pub polls: u64,
    /// Lines (log queries) or samples (metric queries) taken.
    pub taken: u64,
    /// Polls that stopped at the query's `max_lines` budget (the rest came next poll).
    pub budget_hits: u64,
    /// Event time (ms) up to which everything was pulled.
    pub cursor_ms: Option<i64>,
    pub last_error: Option<String>,
}

/// The queries' statuses, shared with the pollers.
pub type Statuses = Arc<parking_lot::Mutex<Vec<QueryStatus>>>;

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

/// The key a query's cursor is kept under: its text and source.
fn cursor_key(q: &LokiQueryConfig) -> String {
    format!("{}\u{1f}{}", q.source, q.query)
}

fn cursors_path(app: &App) -> PathBuf {
    app.config.server.data_dir.join(CURSORS_FILE)
}

fn read_cursors(app: &App) -> BTreeMap<String, i64> {
    std::fs::read(cursors_path(app))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Saves one cursor (write to a temporary file, then rename: a crash keeps the old file).
fn save_cursor(app: &App, lock: &parking_lot::Mutex<()>, key: &str, end_ns: i64) {
    let _held = lock.lock();
    let mut all = read_cursors(app);
    all.insert(key.to_owned(), end_ns);
    let path = cursors_path(app);
    let tmp = path.with_extension("json.tmp");
    let written = serde_json::to_vec(&all)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&tmp, bytes))
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(error) = written {
        tracing::warn!(%error, path = %path.display(), "cannot save the Loki query cursor");
    }
}

/// Keeps only `keep` of a batch's stream labels (all when empty); streams that become the
/// same are merged.
fn keep_labels(batch: LogBatch, keep: &[String]) -> LogBatch {
    if keep.is_empty() {
        return batch;
    }
    let mut merged: BTreeMap<LabelSet, Vec<ingest::loki::LogEntry>> = BTreeMap::new();
    for stream in batch.streams {
        let kept = LabelSet::from_pairs(
            stream
                .labels
                .iter()
                .filter(|(n, _)| keep.iter().any(|k| k == n))
                .map(|(n, v)| (n.to_owned(), v.to_owned())),
        )
        .unwrap_or_default();
        merged.entry(kept).or_default().extend(stream.entries);
    }
    LogBatch {
        streams: merged
            .into_iter()
            .map(|(labels, mut entries)| {
                entries.sort_by_key(|e| e.timestamp_ns);
                ingest::loki::LogStream { labels, entries }
            })
            .collect(),
    }
}

/// Starts one poller per `[[loki.query]]`, each reporting in `app.loki_queries`.
pub fn spawn(app: &Arc<App>) {
    let statuses = Arc::clone(&app.loki_queries);
    let (Some(loki), Some(client)) = (app.config.loki.as_ref(), app.loki.clone()) else {
        return;
    };
    let lock = Arc::new(parking_lot::Mutex::new(()));
    let cursors = read_cursors(app);
    for (i, q) in loki.query.iter().enumerate() {
        statuses.lock().push(QueryStatus {
            query: q.query.clone(),
            source: q.source.clone(),
            cursor_ms: cursors.get(&cursor_key(q)).map(|ns| ns / 1_000_000),
            ..QueryStatus::default()
        });
        let (app, client, lock, statuses) = (
            Arc::clone(app),
            client.clone(),
            Arc::clone(&lock),
            Arc::clone(&statuses),
        );
        let q = q.clone();
        let start = cursors.get(&cursor_key(&q)).copied();
        tokio::spawn(async move { poll(app, client, q, i, start, lock, statuses).await });
    }
}

async fn poll(
    app: Arc<App>,
    client: rca::loki::LokiClient,
    q: LokiQueryConfig,
    index: usize,
    resume_ns: Option<i64>,
    lock: Arc<parking_lot::Mutex<()>>,
    statuses: Statuses,
) {
    let key = cursor_key(&q);
    let interval_ns = i64::try_from(q.interval.as_nanos()).unwrap_or(i64::MAX);
    let catch_up_ns = i64::try_from(MAX_CATCH_UP.as_nanos()).unwrap_or(i64::MAX);
    let mut cursor = resume_ns.unwrap_or_else(|| now_ns() - interval_ns);
    let name = q
        .name
        .clone()
        .unwrap_or_else(|| format!("loki_query_{index}"));
    let mut ticker = tokio::time::interval(q.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if app
            .pollers_stopped
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        let end = now_ns();
        // After a long outage, at most an hour is caught up (older lines are past the
        // windows' reach anyway).
        cursor = cursor.max(end - catch_up_ns);
        if cursor >= end {
            continue;
        }
        let outcome = if q.is_metric() {
            pull_matrix(&app, &client, &q, &name, cursor, end).await
        } else {
            pull_lines(&app, &client, &q, cursor, end).await
        };
        let mut status = statuses.lock();
        let Some(s) = status.get_mut(index) else {
            continue;
        };
        s.polls += 1;
        match outcome {
            Ok((taken, next, truncated)) => {
                s.taken += taken;
                s.budget_hits += u64::from(truncated);
                s.last_error = None;
                cursor = next;
                s.cursor_ms = Some(next / 1_000_000);
                drop(status);
                save_cursor(&app, &lock, &key, next);
            }
            Err(error) => {
                tracing::warn!(query = %q.query, %error, "Loki query poll failed; retried next interval");
                s.last_error = Some(error);
            }
        }
    }
}

/// One poll of a log query: the lines of `[from, to)` up to the budget, mined and counted.
/// Returns lines taken, the next cursor and whether the budget stopped it.
async fn pull_lines(
    app: &Arc<App>,
    client: &rca::loki::LokiClient,
    q: &LokiQueryConfig,
    from: i64,
    to: i64,
) -> Result<(u64, i64, bool), String> {
    let pull = client
        .query_logql(&q.query, from, to, q.max_lines)
        .await
        .map_err(|e| model::error::chain(&e))?;
    let taken = pull.batch.entry_count() as u64;
    // Stopped by the budget: the next poll starts after the newest line taken (lines sharing
    // that very nanosecond beyond the budget are the price of a bounded poll).
    let next = if pull.truncated {
        pull.batch
            .streams
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| e.timestamp_ns))
            .max()
            .map_or(to, |t| t + 1)
    } else {
        to
    };
    if taken > 0 {
        app.ingest_logs(&q.source, keep_labels(pull.batch, &q.keep_labels))
            .await
            .map_err(|e| model::error::chain(&e))?;
    }
    Ok((taken, next, pull.truncated))
}

/// One poll of a metric query: its series over `[from, to]` at the query's interval.
async fn pull_matrix(
    app: &Arc<App>,
    client: &rca::loki::LokiClient,
    q: &LokiQueryConfig,
    name: &str,
    from: i64,
    to: i64,
) -> Result<(u64, i64, bool), String> {
    let series = client
        .query_matrix(&q.query, from, to, q.interval)
        .await
        .map_err(|e| model::error::chain(&e))?;
    let mut appender = app.sources.appender(&q.source, None);
    let mut taken = 0u64;
    for s in &series {
        let mut labels: Vec<(&str, &str)> = s
            .labels
            .iter()
            .filter(|(n, _)| q.keep_labels.is_empty() || q.keep_labels.iter().any(|k| k == *n))
            .filter(|(n, _)| n.as_str() != "__name__")
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        labels.push(("__name__", name));
        labels.sort();
        // Points at exactly `from` were taken by the previous poll.
        let samples: Vec<Sample> = s
            .points
            .iter()
            .filter(|(t, _)| *t * 1_000_000 > from)
            .map(|&(timestamp_ms, value)| Sample {
                timestamp_ms,
                value,
            })
            .collect();
        taken += samples.len() as u64;
        let Ok(()) = appender.series(SeriesRef {
            labels: &labels,
            samples: &samples,
            metric_type: MetricType::Gauge,
            unit: "",
            help: "A LogQL metric query polled from Loki",
            created_timestamp_ms: 0,
        });
    }
    let (outcome, _) = appender.finish();
    if outcome.appended > 0 {
        app.pipeline.wake.notify_one();
    }
    Ok((taken, to, false))
}
