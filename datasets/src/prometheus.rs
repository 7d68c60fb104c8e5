//! `srebot record`: raw samples pulled from a real Prometheus into a recording, by range-vector
//! instant queries (`selector[<chunk>]` at successive times), not `query_range` step sampling.
//!
//! `query_range` answers with values resampled at its step (with the lookback, and a cap on
//! points per series); a range vector answers with the samples as they were scraped. Chunks
//! follow each other without overlap (`(t - chunk, t]`); a sample at a chunk's edge that an
//! older Prometheus returns twice (its ranges are closed) is kept once.

use crate::scenarios::{RecordedSeries, Scenario, ScenarioMeta};
use model::{LabelSet, MetricType};
use std::collections::BTreeMap;
use std::time::Duration;

/// Most series and samples one recording may hold.
pub const MAX_SERIES: usize = 200_000;
pub const MAX_SAMPLES: usize = 50_000_000;
/// Most samples per series one query may return (the chunk is sized from the step).
const SAMPLES_PER_CHUNK: i64 = 240;

/// Why a recording could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("asking {url}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Prometheus answered {status} to {query:?}: {message}")]
    Refused {
        query: String,
        status: u16,
        message: String,
    },
    #[error("Prometheus's answer to {query:?} is not what its API documents: {message}")]
    Shape { query: String, message: String },
    #[error("--from {from_ms} is not before --to {to_ms}")]
    EmptyRange { from_ms: i64, to_ms: i64 },
    #[error("the recording would pass {limit} {what}; narrow --match or the time range")]
    TooLarge { what: &'static str, limit: usize },
    #[error("building the HTTP client")]
    Client {
        #[source]
        source: outbound::OutboundError,
    },
}

/// What to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Prometheus's base URL, e.g. `http://127.0.0.1:9090`.
    pub url: String,
    /// Series selectors, e.g. `node_cpu_seconds_total` or `{job="node"}`.
    pub selectors: Vec<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    /// The scrape interval the recording expects (sizes the chunks; kept as its step).
    pub step_ms: i64,
    /// The recording's name.
    pub name: String,
}

/// Pulls every selected series' raw samples in `[from, to]`.
pub async fn record(options: &RecordOptions) -> Result<Scenario, RecordError> {
    if options.from_ms >= options.to_ms {
        return Err(RecordError::EmptyRange {
            from_ms: options.from_ms,
            to_ms: options.to_ms,
        });
    }
    let client = outbound::build(
        outbound::client_builder(&outbound::TlsConfig::default())
            .map_err(|source| RecordError::Client { source })?
            .timeout(Duration::from_secs(60)),
    )
    .map_err(|source| RecordError::Client { source })?;
    let base = options.url.trim_end_matches('/');
    let types = metadata(&client, base).await.unwrap_or_default();
    let chunk_ms = (options.step_ms.max(1_000) * SAMPLES_PER_CHUNK).min(3_600_000);
    let mut series: BTreeMap<LabelSet, BTreeMap<i64, f64>> = BTreeMap::new();
    let mut total = 0usize;
    for selector in &options.selectors {
        // Chunk ends: from + chunk, + 2 chunks, ..., to. The first covers (from - 1 ms, ...].
        let mut start = options.from_ms - 1;
        while start < options.to_ms {
            let end = (start + chunk_ms).min(options.to_ms);
            let range_ms = end - start;
            let query = format!("{selector}[{range_ms}ms]");
            let time = format!("{:.3}", end as f64 / 1000.0);
            let url = format!(
                "{base}/api/v1/query?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("query", &query)
                    .append_pair("time", &time)
                    .finish()
            );
            let response = client
                .get(&url)
                .send()
                .await
                .map_err(|source| RecordError::Http {
                    url: outbound::redact(&url),
                    source,
                })?;
            let status = response.status();
            let body: serde_json::Value =
                response.json().await.map_err(|source| RecordError::Http {
                    url: outbound::redact(&url),
                    source,
                })?;
            if !status.is_success() || body["status"] != "success" {
                return Err(RecordError::Refused {
                    query,
                    status: status.as_u16(),
                    message: body["error"].as_str().unwrap_or("no error text").to_owned(),
                });
            }
            let shape = |message: &str| RecordError::Shape {
                query: query.clone(),
                message: message.to_owned(),
            };
            let result = body["data"]["result"]
                .as_array()
                .ok_or_else(|| shape("no data.result array"))?;
            for item in result {
                let labels = item["metric"]
                    .as_object()
                    .ok_or_else(|| shape("a result without metric labels"))?;
                let pairs: Vec<(&str, &str)> = labels
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                    .collect();
                let Ok(set) = LabelSet::from_pairs(pairs) else {
                    return Err(shape("a result whose labels are not a series identity"));
                };
                let values = item["values"]
                    .as_array()
                    .ok_or_else(|| shape("a matrix result without values"))?;
                if !series.contains_key(&set) && series.len() >= MAX_SERIES {
                    return Err(RecordError::TooLarge {
                        what: "series",
                        limit: MAX_SERIES,
                    });
                }
                let samples = series.entry(set).or_default();
                for pair in values {
                    let t = pair[0].as_f64().ok_or_else(|| shape("a sample time"))?;
                    let v = pair[1]
                        .as_str()
                        .and_then(|s| s.parse::<f64>().ok())
                        .ok_or_else(|| shape("a sample value"))?;
                    let ms = (t * 1000.0).round() as i64;
                    if ms >= options.from_ms
                        && ms <= options.to_ms
                        && samples.insert(ms, v).is_none()
                    {
                        total += 1;
                    }
                }
                if total > MAX_SAMPLES {
                    return Err(RecordError::TooLarge {
                        what: "samples",
                        limit: MAX_SAMPLES,
                    });
                }
            }
            start = end;
        }
    }
    let series = series
        .into_iter()
        .filter(|(_, s)| !s.is_empty())
        .map(|(labels, samples)| RecordedSeries {
            metric_type: type_of(&types, labels.metric_name()),
            labels,
            samples: samples.into_iter().collect(),
        })
        .collect();
    Ok(Scenario {
        meta: ScenarioMeta {
            name: options.name.clone(),
            description: format!(
                "recorded from {} ({})",
                outbound::redact(&options.url),
                options.selectors.join(", ")
            ),
            start_ms: options.from_ms,
            end_ms: options.to_ms,
            step_ms: options.step_ms,
            expected: Vec::new(),
        },
        series,
    })
}

/// Metric family → type, from `/api/v1/metadata` (best effort: without it every series is
/// recorded as of unknown type and `_total` names count as counters downstream).
async fn metadata(client: &reqwest::Client, base: &str) -> Option<BTreeMap<String, String>> {
    let body: serde_json::Value = client
        .get(format!("{base}/api/v1/metadata"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let data = body["data"].as_object()?;
    Some(
        data.iter()
            .filter_map(|(name, entries)| {
                let kind = entries.as_array()?.first()?["type"].as_str()?;
                Some((name.clone(), kind.to_owned()))
            })
            .collect(),
    )
}

/// A series' type from its family's metadata (`_bucket`, `_sum` and `_count` of histograms
/// and summaries count).
fn type_of(types: &BTreeMap<String, String>, metric: &str) -> MetricType {
    let family = |name: &str| types.get(name).map(String::as_str);
    if let Some(kind) = family(metric) {
        return match kind {
            "counter" => MetricType::Counter,
            "gauge" => MetricType::Gauge,
            "summary" => MetricType::Summary,
            "histogram" => MetricType::Histogram,
            _ => MetricType::Unknown,
        };
    }
    for suffix in ["_bucket", "_sum", "_count", "_total"] {
        if let Some(kind) = metric.strip_suffix(suffix).and_then(family) {
            return match kind {
                "counter" | "histogram" | "summary" => MetricType::Counter,
                _ => MetricType::Unknown,
            };
        }
    }
    MetricType::Unknown
}
