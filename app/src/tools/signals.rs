//! Golden signals read from the windows: request rate, error ratio and latency percentiles
//! per service; queue backlogs with their trend; messaging transport health (consumer lag,
//! slow consumers, disconnects, reconnect storms) from the exporters' own series.
//!
//! Judged relative to each series' own level or baseline, never against a fixed number of a
//! particular system; a family that is not scraped is simply absent from the answer.

use super::{Args, Outcome, Tool, args::span_words, argument};
use crate::{App, AppError, Caller};
use model::LabelSet;
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;
use windows::{Selector, WindowQuery, WindowRow, WindowSpan};

/// Request counters, most specific first: one family per service is used.
const REQUEST_FAMILIES: &[&str] = &[
    "istio_requests_total",
    "http_requests_total",
    "http_server_requests_total",
    "nginx_ingress_controller_requests",
    "http_server_requests_seconds_count",
    "http_server_request_duration_seconds_count",
    "http_server_duration_milliseconds_count",
    "http_request_duration_seconds_count",
];

/// Latency histograms (their `_bucket` series), most specific first.
const LATENCY_FAMILIES: &[&str] = &[
    "istio_request_duration_milliseconds",
    "http_request_duration_seconds",
    "http_server_request_duration_seconds",
    "http_server_requests_seconds",
    "nginx_ingress_controller_request_duration_seconds",
    "http_server_duration_milliseconds",
];

/// Labels naming the service a series belongs to, in order of preference.
const SERVICE_LABELS: &[&str] = &[
    "destination_workload",
    "service",
    "service_name",
    "app",
    "app_kubernetes_io_name",
    "deployment",
    "ingress",
    "job",
    "container",
];

/// Labels carrying an HTTP status code.
const STATUS_LABELS: &[&str] = &[
    "code",
    "status",
    "status_code",
    "response_code",
    "http_status_code",
    "http_response_status_code",
];

/// The service a series belongs to: a service-naming label, else its pod's workload.
fn service_of(labels: &LabelSet) -> Option<String> {
    SERVICE_LABELS
        .iter()
        .find_map(|name| labels.get(name))
        .map(str::to_owned)
        .or_else(|| {
            labels
                .get("pod")
                .map(|pod| model::workload_of(pod).name.to_owned())
        })
}

fn names_regex(names: &[&str], suffix: &str) -> String {
    names
        .iter()
        .map(|n| format!("{}{suffix}", regex_quote(n)))
        .collect::<Vec<_>>()
        .join("|")
}

fn regex_quote(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

fn selector(name_regex: &str, namespace: Option<&str>) -> Result<Selector, windows::WindowError> {
    let mut text = format!("{{__name__=~\"{name_regex}\"");
    if let Some(ns) = namespace {
        text.push_str(&format!(
            ",namespace=\"{}\"",
            ns.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    text.push('}');
    Selector::parse(&text)
}

fn query_rows(
    app: &App,
    caller: &Caller,
    source: Option<&str>,
    selector: Selector,
    window_ms: i64,
    at_ms: Option<i64>,
) -> Result<Vec<WindowRow>, AppError> {
    let query = WindowQuery {
        selectors: vec![selector],
        window: WindowSpan { ms: window_ms },
        at_ms,
        by: None,
    };
    Ok(app.windows(caller, source, &query)?.series)
}

fn window_of(args: &Args) -> i64 {
    match args.text("window") {
        Some("1m") => 60_000,
        Some("15m") => 900_000,
        _ => 300_000,
    }
}

/// How much a counter grew over the window: its `increase`, else (no counter metadata) the
/// span of its values.
fn grew(row: &WindowRow) -> Option<f64> {
    let a = &row.aggregates;
    a.increase
        .or_else(|| a.max.zip(a.min).map(|(max, min)| (max - min).max(0.0)))
}

/// One service's signals.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct ServiceSignals {
    pub(crate) service: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<String>,
    /// Requests per second.
    pub(crate) request_rate: Option<f64>,
    /// Share of requests answered 5xx, where a status label is present.
    pub(crate) error_ratio: Option<f64>,
    pub(crate) p50_seconds: Option<f64>,
    pub(crate) p95_seconds: Option<f64>,
    pub(crate) p99_seconds: Option<f64>,
    /// The counter family the rate comes from.
    pub(crate) requests_from: Option<String>,
    /// The histogram family the percentiles come from.
    pub(crate) latency_from: Option<String>,
}

type ServiceKey = (Option<String>, Option<String>, String);

/// Per (source, namespace, service): the signals at `at_ms` over `window_ms`.
fn http_signals(
    app: &App,
    caller: &Caller,
    args: &Args,
    window_ms: i64,
    at_ms: Option<i64>,
) -> Result<Vec<ServiceSignals>, AppError> {
    let source = args.text("source");
    let namespace = args.text("namespace");
    let wanted = args.text("service");
    let keep = |labels: &LabelSet| -> Option<String> {
        // Istio reports each call twice (source and destination): the destination's view.
        if labels.get("reporter") == Some("source") {
            return None;
        }
        let service = service_of(labels)?;
        wanted.is_none_or(|w| w == service).then_some(service)
    };
    let key = |row: &WindowRow, service: String| -> ServiceKey {
        (
            row.source.clone(),
            row.labels.get("namespace").map(str::to_owned),
            service,
        )
    };
    let invalid = |e: windows::WindowError| AppError::Invalid {
        reason: model::error::chain(&e),
    };

    // family rank, total rate, error rate, whether any status label was seen
    let mut requests: BTreeMap<ServiceKey, (usize, f64, f64, bool)> = BTreeMap::new();
    let rows = query_rows(
        app,
        caller,
        source,
        selector(&names_regex(REQUEST_FAMILIES, ""), namespace).map_err(invalid)?,
        window_ms,
        at_ms,
    )?;
    for row in &rows {
        let Some(service) = keep(&row.labels) else {
            continue;
        };
        let name = row.labels.metric_name();
        let Some(rank) = REQUEST_FAMILIES.iter().position(|f| *f == name) else {
            continue;
        };
        let rate = row
            .aggregates
            .rate
            .or_else(|| grew(row).map(|g| g / (window_ms as f64 / 1000.0)))
            .unwrap_or(0.0);
        let status = STATUS_LABELS.iter().find_map(|l| row.labels.get(l));
        let entry = requests
            .entry(key(row, service))
            .or_insert((rank, 0.0, 0.0, false));
        if rank < entry.0 {
            *entry = (rank, 0.0, 0.0, false);
        }
        if rank != entry.0 {
            continue;
        }
        entry.1 += rate;
        if let Some(code) = status {
            entry.3 = true;
            if code.starts_with('5') {
                entry.2 += rate;
            }
        }
    }

    // family rank, upper bound → count in the window
    let mut buckets: BTreeMap<ServiceKey, (usize, BTreeMap<OrderedLe, f64>)> = BTreeMap::new();
    let rows = query_rows(
        app,
        caller,
        source,
        selector(&names_regex(LATENCY_FAMILIES, "_bucket"), namespace).map_err(invalid)?,
        window_ms,
        at_ms,
    )?;
    for row in &rows {
        let Some(service) = keep(&row.labels) else {
            continue;
        };
        let name = row.labels.metric_name();
        let Some(rank) = LATENCY_FAMILIES
            .iter()
            .position(|f| name.strip_suffix("_bucket") == Some(f))
        else {
            continue;
        };
        let Some(le) = row.labels.get("le").and_then(parse_le) else {
            continue;
        };
        let scale = if LATENCY_FAMILIES[rank].contains("milliseconds") {
            0.001
        } else {
            1.0
        };
        let entry = buckets
            .entry(key(row, service))
            .or_insert((rank, BTreeMap::new()));
        if rank < entry.0 {
            *entry = (rank, BTreeMap::new());
        }
        if rank != entry.0 {
            continue;
        }
        *entry.1.entry(OrderedLe(le * scale)).or_insert(0.0) += grew(row).unwrap_or(0.0);
    }

    let mut keys: Vec<ServiceKey> = requests.keys().chain(buckets.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    Ok(keys
        .into_iter()
        .map(|k| {
            let mut out = ServiceSignals {
                source: k.0.clone(),
                namespace: k.1.clone(),
                service: k.2.clone(),
                ..ServiceSignals::default()
            };
            if let Some(&(rank, total, errors, has_status)) = requests.get(&k) {
                out.request_rate = Some(round(total));
                out.error_ratio = (has_status && total > 0.0).then(|| round(errors / total));
                out.requests_from = Some(REQUEST_FAMILIES[rank].to_owned());
            }
            if let Some((rank, by_le)) = buckets.get(&k) {
                let cumulative: Vec<(f64, f64)> = by_le.iter().map(|(le, n)| (le.0, *n)).collect();
                out.p50_seconds = quantile(&cumulative, 0.5).map(round);
                out.p95_seconds = quantile(&cumulative, 0.95).map(round);
                out.p99_seconds = quantile(&cumulative, 0.99).map(round);
                out.latency_from = Some(LATENCY_FAMILIES[*rank].to_owned());
            }
            out
        })
        .collect())
}

fn round(x: f64) -> f64 {
    if x.abs() >= 100.0 {
        (x * 100.0).round() / 100.0
    } else {
        (x * 10_000.0).round() / 10_000.0
    }
}

/// A bucket bound ordered as a number (`+Inf` last).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrderedLe(f64);

impl Eq for OrderedLe {}

impl PartialOrd for OrderedLe {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderedLe {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn parse_le(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
        _ => text.parse().ok().filter(|v: &f64| !v.is_nan()),
    }
}

/// Prometheus's `histogram_quantile` over cumulative `(upper bound, count)` buckets in bound
/// order: linear within the bucket the rank falls in; the highest finite bound when it falls
/// in `+Inf`.
fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 || !buckets.last()?.0.is_infinite() {
        return None;
    }
    let rank = q * total;
    let mut lower_bound = 0.0;
    let mut lower_count = 0.0;
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return Some(lower_bound);
            }
            if count <= lower_count {
                return Some(le);
            }
            return Some(
                lower_bound + (le - lower_bound) * (rank - lower_count) / (count - lower_count),
            );
        }
        lower_bound = le;
        lower_count = count;
    }
    None
}

pub(super) fn http_recent(
    app: &App,
    caller: &Caller,
    args: &Args,
    max: usize,
) -> Result<Outcome, AppError> {
    let window_ms = window_of(args);
    let mut services = http_signals(app, caller, args, window_ms, None)?;
    // The busiest first.
    services.sort_by(|a, b| {
        b.request_rate
            .unwrap_or(0.0)
            .total_cmp(&a.request_rate.unwrap_or(0.0))
            .then(a.service.cmp(&b.service))
    });
    let limit = args.limit(50, max);
    let total = services.len();
    services.truncate(limit);
    let worst = services
        .iter()
        .filter(|s| s.error_ratio.is_some_and(|r| r > 0.0))
        .max_by(|a, b| {
            a.error_ratio
                .unwrap_or(0.0)
                .total_cmp(&b.error_ratio.unwrap_or(0.0))
        });
    let summary = match (total, worst) {
        (0, _) => format!(
            "no request counters (http_requests_total, istio_requests_total, ...) in the last {}",
            span_words(window_ms)
        ),
        (n, Some(w)) => format!(
            "{n} services over {}; highest error ratio {} at {:.1}% of {:.2} req/s",
            span_words(window_ms),
            w.service,
            w.error_ratio.unwrap_or(0.0) * 100.0,
            w.request_rate.unwrap_or(0.0)
        ),
        (n, None) => format!(
            "{n} services over {}; no 5xx answers",
            span_words(window_ms)
        ),
    };
    let mut outcome = Outcome::new(
        summary,
        json!({ "window": span_words(window_ms), "services": services }),
    );
    outcome.cut = total > limit;
    Ok(outcome)
}

/// Most points one history returns.
const MAX_POINTS: i64 = 120;

pub(super) fn http_history(
    app: &App,
    caller: &Caller,
    tool: Tool,
    args: &Args,
    since: i64,
    until: i64,
) -> Result<Outcome, AppError> {
    let step = args.span_ms("step").unwrap_or(60_000);
    if step < 60_000 {
        return Err(argument(
            tool,
            super::ArgProblem::new("step", "must be at least 1m"),
        ));
    }
    if (until - since) / step > MAX_POINTS {
        return Err(argument(
            tool,
            super::ArgProblem::new(
                "step",
                format!("gives more than {MAX_POINTS} points over since..until: use a larger step"),
            ),
        ));
    }
    let service = args.text("service").unwrap_or_default();
    let mut points = Vec::new();
    let mut at = since + step;
    while at <= until {
        let signals = http_signals(app, caller, args, step, Some(at))?;
        let total: f64 = signals.iter().filter_map(|s| s.request_rate).sum();
        let errors: Option<f64> = signals
            .iter()
            .filter_map(|s| s.error_ratio.zip(s.request_rate).map(|(r, n)| r * n))
            .reduce(|a, b| a + b);
        let p95 = signals
            .iter()
            .filter_map(|s| s.p95_seconds)
            .max_by(f64::total_cmp);
        points.push(json!({
            "at": incident::record::rfc3339::format(at),
            "request_rate": (!signals.is_empty()).then_some(round(total)),
            "error_ratio": errors.filter(|_| total > 0.0).map(|e| round(e / total)),
            "p95_seconds": p95,
        }));
        at += step;
    }
    let with_data = points
        .iter()
        .filter(|p| !p["request_rate"].is_null() || !p["p95_seconds"].is_null())
        .count();
    Ok(Outcome::new(
        format!(
            "{} points of {service} every {}, {with_data} with data",
            points.len(),
            span_words(step)
        ),
        json!({ "service": service, "step": span_words(step), "points": points }),
    ))
}

/// Queue depth and backlog families: NATS JetStream, Kafka (kafka_exporter, Burrow),
/// RabbitMQ, Celery, Sidekiq, and the generic naming conventions.
const BACKLOG_NAMES: &str = "nats_consumer_num_pending|jetstream_consumer_num_pending|\
    kafka_consumergroup_lag|kafka_consumergroup_lag_sum|burrow_kafka_consumer_lag_total|\
    rabbitmq_queue_messages_ready|rabbitmq_queue_messages|celery_queue_length|\
    sidekiq_queue_size|sidekiq_queue_latency_seconds|.*_queue_depth|.*_queue_length|\
    .*_queue_size|.*_backlog|.*_backlog_size";

fn matches_target(labels: &LabelSet, target: Option<&str>) -> bool {
    let Some(target) = target else {
        return true;
    };
    service_of(labels).as_deref() == Some(target)
        || [
            "queue",
            "consumer",
            "stream",
            "topic",
            "consumergroup",
            "durable_name",
        ]
        .iter()
        .any(|l| labels.get(l) == Some(target))
}

/// Whether a depth is growing, shrinking or steady over the window, relative to its level.
fn trend(last: f64, slope_per_s: f64, window_ms: i64) -> &'static str {
    let change = slope_per_s * window_ms as f64 / 1000.0;
    let level = last.abs().max(1.0);
    if change > 0.1 * level {
        "growing"
    } else if change < -0.1 * level {
        "shrinking"
    } else {
        "steady"
    }
}

pub(super) fn backlog(
    app: &App,
    caller: &Caller,
    args: &Args,
    max: usize,
) -> Result<Outcome, AppError> {
    let window_ms = window_of(args);
    let rows = query_rows(
        app,
        caller,
        args.text("source"),
        selector(BACKLOG_NAMES, args.text("namespace")).map_err(|e| AppError::Invalid {
            reason: model::error::chain(&e),
        })?,
        window_ms,
        None,
    )?;
    let mut queues: Vec<serde_json::Value> = Vec::new();
    let mut growing = 0usize;
    let mut rows: Vec<&WindowRow> = rows
        .iter()
        .filter(|r| matches_target(&r.labels, args.text("target")))
        .filter(|r| r.aggregates.last.is_some())
        .collect();
    rows.sort_by(|a, b| {
        b.aggregates
            .last
            .unwrap_or(0.0)
            .total_cmp(&a.aggregates.last.unwrap_or(0.0))
    });
    let total = rows.len();
    for row in rows {
        let a = &row.aggregates;
        let last = a.last.unwrap_or(0.0);
        let slope = a.slope.unwrap_or(0.0);
        let trend = trend(last, slope, window_ms);
        if trend == "growing" {
            growing += 1;
        }
        if queues.len() < args.limit(50, max) {
            queues.push(json!({
                "series": row.labels,
                "source": row.source,
                "depth": last,
                "max": a.max,
                "per_minute": round(slope * 60.0),
                "trend": trend,
            }));
        }
    }
    let shown = queues.len();
    let mut outcome = Outcome::new(
        if total == 0 {
            format!(
                "no queue or backlog series (nats_consumer_num_pending, kafka_consumergroup_lag, ...) in the last {}",
                span_words(window_ms)
            )
        } else {
            format!(
                "{total} queues over {}, {growing} growing",
                span_words(window_ms)
            )
        },
        json!({ "window": span_words(window_ms), "queues": queues }),
    );
    outcome.cut = total > shown;
    Ok(outcome)
}

const LAG_NAMES: &str = "nats_consumer_num_pending|nats_consumer_num_ack_pending|\
    jetstream_consumer_num_pending|jetstream_consumer_num_ack_pending|kafka_consumergroup_lag|\
    .*_consumer_lag|.*_consumer_lag_messages";
const SLOW_CONSUMER_NAMES: &str = "gnatsd_varz_slow_consumers|nats_varz_slow_consumers|nats_server_slow_consumers|.*_slow_consumers_total";
const DISCONNECT_NAMES: &str = ".*disconnect.*";
const RECONNECT_NAMES: &str = ".*reconnect.*";
const CONNECTION_NAMES: &str = "gnatsd_varz_connections|nats_varz_connections|gnatsd_connz_num_connections|nats_connz_num_connections";

/// The span before the window a reconnect rate is compared with.
const BASELINE_MS: i64 = 15 * 60_000;
/// A reconnect storm: at least this many reconnects in the window ...
const STORM_FLOOR: f64 = 3.0;
/// ... and this many times what the baseline's rate would give.
const STORM_FACTOR: f64 = 3.0;

pub(super) fn messaging(
    app: &App,
    caller: &Caller,
    args: &Args,
    max: usize,
) -> Result<Outcome, AppError> {
    let window_ms = window_of(args);
    let source = args.text("source");
    let namespace = args.text("namespace");
    let target = args.text("target");
    let limit = args.limit(50, max);
    let invalid = |e: windows::WindowError| AppError::Invalid {
        reason: model::error::chain(&e),
    };
    let rows = |names: &str, at: Option<i64>, span: i64| -> Result<Vec<WindowRow>, AppError> {
        Ok(query_rows(
            app,
            caller,
            source,
            selector(names, namespace).map_err(invalid)?,
            span,
            at,
        )?
        .into_iter()
        .filter(|r| matches_target(&r.labels, target))
        .collect())
    };
    let mut cut = false;
    let mut take = |list: Vec<serde_json::Value>| {
        cut |= list.len() > limit;
        list.into_iter().take(limit).collect::<Vec<_>>()
    };

    let lag: Vec<serde_json::Value> = rows(LAG_NAMES, None, window_ms)?
        .iter()
        .filter(|r| r.aggregates.last.is_some())
        .map(|r| {
            let a = &r.aggregates;
            json!({
                "series": r.labels,
                "source": r.source,
                "lag": a.last,
                "per_minute": round(a.slope.unwrap_or(0.0) * 60.0),
                "trend": trend(a.last.unwrap_or(0.0), a.slope.unwrap_or(0.0), window_ms),
            })
        })
        .collect();
    let slow: Vec<serde_json::Value> = rows(SLOW_CONSUMER_NAMES, None, window_ms)?
        .iter()
        .filter_map(|r| grew(r).filter(|g| *g > 0.0).map(|g| (r, g)))
        .map(|(r, g)| json!({"series": r.labels, "source": r.source, "in_window": g}))
        .collect();
    let disconnects: Vec<serde_json::Value> = rows(DISCONNECT_NAMES, None, window_ms)?
        .iter()
        .filter_map(|r| grew(r).filter(|g| *g > 0.0).map(|g| (r, g)))
        .map(|(r, g)| json!({"series": r.labels, "source": r.source, "in_window": g}))
        .collect();

    // Reconnects in the window against the same series' rate over the span before it.
    let now = rows(RECONNECT_NAMES, None, window_ms)?;
    let mut storms = 0usize;
    let mut reconnects = Vec::new();
    for row in &now {
        let Some(count) = grew(row).filter(|g| *g > 0.0) else {
            continue;
        };
        let baseline = app
            .sources
            .get(row.source.as_deref().unwrap_or(model::DEFAULT_SOURCE))
            .and_then(|store| store.watermark_ms())
            .map(|end| {
                let query = WindowQuery {
                    selectors: vec![Selector::from_matchers(
                        row.labels
                            .iter()
                            .map(|(n, v)| windows::Matcher::new(n, windows::MatchOp::Equal, v))
                            .collect(),
                    )],
                    window: WindowSpan { ms: BASELINE_MS },
                    at_ms: Some(end - window_ms),
                    by: None,
                };
                app.windows(caller, row.source.as_deref(), &query)
                    .ok()
                    .and_then(|r| r.series.first().and_then(grew))
            })
            .unwrap_or(None);
        let expected = baseline.map(|b| b * window_ms as f64 / BASELINE_MS as f64);
        let storm = count >= STORM_FLOOR && count >= STORM_FACTOR * expected.unwrap_or(0.0);
        if storm {
            storms += 1;
        }
        reconnects.push(json!({
            "series": row.labels,
            "source": row.source,
            "in_window": count,
            "expected_from_baseline": expected.map(round),
            "storm": storm,
        }));
    }
    let connections: Vec<serde_json::Value> = rows(CONNECTION_NAMES, None, window_ms)?
        .iter()
        .filter_map(|r| {
            let a = &r.aggregates;
            let (max, last) = a.max.zip(a.last)?;
            let dropped = if max > 0.0 { (max - last) / max } else { 0.0 };
            Some(json!({
                "series": r.labels,
                "source": r.source,
                "connections": last,
                "max": max,
                "dropped_share": round(dropped.max(0.0)),
            }))
        })
        .collect();
    let growing_lag = lag.iter().filter(|l| l["trend"] == "growing").count();
    let found = lag.len() + slow.len() + disconnects.len() + reconnects.len() + connections.len();
    let summary = if found == 0 {
        format!(
            "no messaging exporter series (nats_consumer_num_pending, gnatsd_varz_*, reconnect or disconnect counters) in the last {}",
            span_words(window_ms)
        )
    } else {
        format!(
            "over {}: {} consumers with lag ({growing_lag} growing), {} with slow consumers, {} disconnecting, {} reconnecting ({storms} reconnect storms)",
            span_words(window_ms),
            lag.len(),
            slow.len(),
            disconnects.len(),
            reconnects.len()
        )
    };
    let result = json!({
        "window": span_words(window_ms),
        "consumer_lag": take(lag),
        "slow_consumers": take(slow),
        "disconnects": take(disconnects),
        "reconnects": take(reconnects),
        "connections": take(connections),
        "reconnect_storms": storms,
    });
    let mut outcome = Outcome::new(summary, result);
    outcome.cut = cut;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_as_prometheus_computes_them() {
        let buckets = [
            (0.1, 50.0),
            (0.5, 90.0),
            (1.0, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert_eq!(quantile(&buckets, 0.5), Some(0.1));
        let p95 = quantile(&buckets, 0.95).unwrap();
        assert!((p95 - 0.75).abs() < 1e-9, "{p95}");
        assert_eq!(
            quantile(&[(0.1, 1.0), (f64::INFINITY, 10.0)], 0.99),
            Some(0.1)
        );
        assert_eq!(quantile(&[(0.1, 0.0), (f64::INFINITY, 0.0)], 0.5), None);
    }

    #[test]
    fn services_from_labels_or_pods() {
        let labels = LabelSet::from_pairs([("app", "cart"), ("pod", "x-1")]).unwrap();
        assert_eq!(service_of(&labels).as_deref(), Some("cart"));
        let labels = LabelSet::from_pairs([("pod", "payments-api-7d9c5b8f4d-x2x9k")]).unwrap();
        assert_eq!(service_of(&labels).as_deref(), Some("payments-api"));
    }

    #[test]
    fn trends_are_relative_to_the_level() {
        assert_eq!(trend(1000.0, 1.0, 300_000), "growing");
        assert_eq!(trend(100_000.0, 1.0, 300_000), "steady");
        assert_eq!(trend(1000.0, -1.0, 300_000), "shrinking");
    }
}
