//! OTLP/HTTP metrics (`POST /v1/metrics`, protobuf or JSON) to series, named the way
//! Prometheus names OTLP metrics: unit and `_total` suffixes, attributes as labels,
//! `service.name`/`service.instance.id` as `job`/`instance`, the rest of the resource in
//! `target_info`. What cannot be kept (delta sums, exponential histograms) is counted and
//! answered as a partial success, never silently dropped.

use model::{MetricType, Sample};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, metric::Data, number_data_point,
};
use prost::Message;

/// Most attributes turned into labels per data point (resource and scope included).
pub const MAX_LABELS: usize = 64;
/// Longest label value kept, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;
/// `flags` bit of a point with no recorded value (Prometheus writes a stale marker for it).
const NO_RECORDED_VALUE: u32 = 1;

/// Why an OTLP body was refused.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error(
        "unsupported content type {content_type:?}: send application/x-protobuf or application/json (OTLP/HTTP)"
    )]
    ContentType { content_type: String },
    #[error("body of {size} bytes is over the limit of {limit} bytes")]
    BodyTooLarge { size: usize, limit: usize },
    #[error("{0}")]
    Encoding(crate::loki::LokiError),
    #[error("not an OTLP ExportMetricsServiceRequest (protobuf): {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("not an OTLP ExportMetricsServiceRequest (JSON): {0}")]
    Json(#[from] serde_json::Error),
}

impl model::Classify for OtlpError {
    fn class(&self) -> model::ErrorClass {
        match self {
            OtlpError::ContentType { .. } => model::ErrorClass::UnsupportedMediaType,
            OtlpError::BodyTooLarge { .. } => model::ErrorClass::TooLarge,
            OtlpError::Encoding(e) => e.class(),
            OtlpError::Protobuf(_) | OtlpError::Json(_) => model::ErrorClass::InvalidInput,
        }
    }
}

/// How the body was encoded (the answer is encoded the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpFormat {
    Protobuf,
    Json,
}

/// One series to append: sorted labels (with `__name__`) and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct OtlpSeries {
    pub labels: Vec<(String, String)>,
    pub metric_type: MetricType,
    pub unit: String,
    pub help: String,
    pub samples: Vec<Sample>,
    pub created_timestamp_ms: i64,
}

/// A decoded request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OtlpBatch {
    pub series: Vec<OtlpSeries>,
    /// Data points that cannot be kept, and why (the first reason).
    pub rejected_points: u64,
    pub rejected_reason: Option<String>,
}

impl OtlpBatch {
    fn reject(&mut self, points: usize, reason: impl FnOnce() -> String) {
        self.rejected_points += points as u64;
        if self.rejected_reason.is_none() {
            self.rejected_reason = Some(reason());
        }
    }
}

/// The body's format from its `Content-Type`.
pub fn format_of(content_type: Option<&str>) -> Result<OtlpFormat, OtlpError> {
    let ct = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match ct.as_str() {
        "application/x-protobuf" | "application/protobuf" => Ok(OtlpFormat::Protobuf),
        "application/json" => Ok(OtlpFormat::Json),
        _ => Err(OtlpError::ContentType {
            content_type: content_type.unwrap_or("").to_owned(),
        }),
    }
}

/// Decodes an OTLP/HTTP metrics body (gzip allowed) into series.
pub fn decode(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    body: &[u8],
    max_bytes: usize,
) -> Result<(OtlpFormat, OtlpBatch), OtlpError> {
    let format = format_of(content_type)?;
    if body.len() > max_bytes {
        return Err(OtlpError::BodyTooLarge {
            size: body.len(),
            limit: max_bytes,
        });
    }
    let inflated = crate::loki::content_decode(content_encoding, body, max_bytes)
        .map_err(OtlpError::Encoding)?;
    let body = inflated.as_deref().unwrap_or(body);
    let request = match format {
        OtlpFormat::Protobuf => ExportMetricsServiceRequest::decode(body)?,
        OtlpFormat::Json => serde_json::from_slice(body)?,
    };
    Ok((format, translate(&request)))
}

/// A Prometheus label name from an attribute key: invalid characters become `_`, a leading
/// digit gets a `key_` prefix.
pub fn label_name(key: &str) -> String {
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "key_");
    }
    out
}

fn text_of(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Some(any_value::Value::ArrayValue(a)) => format!(
            "[{}]",
            a.values.iter().map(text_of).collect::<Vec<_>>().join(",")
        ),
        Some(any_value::Value::KvlistValue(kv)) => format!(
            "{{{}}}",
            kv.values
                .iter()
                .map(|k| format!(
                    "{}:{}",
                    k.key,
                    k.value.as_ref().map(text_of).unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join(",")
        ),
        // An index into a profiles dictionary: nothing a metric label can show.
        Some(any_value::Value::StringValueStrindex(_)) | None => String::new(),
    }
}

fn attribute<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attrs.iter().find(|kv| kv.key == key)?.value.as_ref()
}

/// The Prometheus unit suffix of a UCUM unit (`s` → `seconds`, `By` → `bytes`, `1` → none,
/// `{requests}` → none, `m/s` → `meters_per_second`).
pub fn unit_suffix(unit: &str) -> String {
    let word = |u: &str| -> String {
        let u = u.trim();
        if u.starts_with('{') {
            return String::new();
        }
        match u {
            "d" => "days",
            "h" => "hours",
            "min" => "minutes",
            "s" => "seconds",
            "ms" => "milliseconds",
            "us" => "microseconds",
            "ns" => "nanoseconds",
            "By" => "bytes",
            "KiBy" => "kibibytes",
            "MiBy" => "mebibytes",
            "GiBy" => "gibibytes",
            "TiBy" => "tibibytes",
            "KBy" => "kilobytes",
            "MBy" => "megabytes",
            "GBy" => "gigabytes",
            "TBy" => "terabytes",
            "m" => "meters",
            "V" => "volts",
            "A" => "amperes",
            "J" => "joules",
            "W" => "watts",
            "g" => "grams",
            "Cel" => "celsius",
            "Hz" => "hertz",
            "%" => "percent",
            "1" | "" => "",
            other => return label_name(other).trim_matches('_').to_owned(),
        }
        .to_owned()
    };
    match unit.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (word(a), word(b));
            match (a.is_empty(), b.is_empty()) {
                (_, true) => a,
                (true, false) => format!("per_{}", b.trim_end_matches('s')),
                (false, false) => format!("{a}_per_{}", b.trim_end_matches('s')),
            }
        }
        None => word(unit),
    }
}

/// The series name of an OTLP metric: sanitized, with its unit suffix, `_ratio` for a gauge
/// of unit `1`, and `_total` for a monotonic counter (each added once).
pub fn metric_name(name: &str, unit: &str, counter: bool, gauge: bool) -> String {
    let mut out = label_name(name);
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    if counter && let Some(stripped) = out.strip_suffix("_total") {
        out = stripped.to_owned();
    }
    let suffix = unit_suffix(unit);
    if !suffix.is_empty() && !out.ends_with(&format!("_{suffix}")) {
        out.push('_');
        out.push_str(&suffix);
    }
    if gauge && unit == "1" && !out.ends_with("_ratio") {
        out.push_str("_ratio");
    }
    if counter && !out.ends_with("_total") {
        out.push_str("_total");
    }
    out
}

fn ms(nanos: u64) -> i64 {
    i64::try_from(nanos / 1_000_000).unwrap_or(i64::MAX)
}

/// Labels of one point: the resource's job/instance, scope name/version, then the point's
/// attributes (later keys win), bounded.
fn point_labels(base: &[(String, String)], attrs: &[KeyValue]) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = base.to_vec();
    for kv in attrs.iter().take(MAX_LABELS) {
        let name = label_name(&kv.key);
        let mut value = kv.value.as_ref().map(text_of).unwrap_or_default();
        if value.len() > MAX_VALUE_BYTES {
            let mut cut = MAX_VALUE_BYTES;
            while !value.is_char_boundary(cut) {
                cut -= 1;
            }
            value.truncate(cut);
        }
        if value.is_empty() {
            continue;
        }
        labels.retain(|(n, _)| *n != name);
        labels.push((name, value));
    }
    labels
}

fn series(
    name: &str,
    mut labels: Vec<(String, String)>,
    metric_type: MetricType,
    unit: &str,
    help: &str,
    sample: Sample,
    created_ms: i64,
) -> OtlpSeries {
    labels.push(("__name__".to_owned(), name.to_owned()));
    labels.sort();
    labels.dedup_by(|a, b| a.0 == b.0);
    OtlpSeries {
        labels,
        metric_type,
        unit: unit.to_owned(),
        help: help.to_owned(),
        samples: vec![sample],
        created_timestamp_ms: created_ms,
    }
}

fn number(value: Option<&number_data_point::Value>) -> Option<f64> {
    match value? {
        number_data_point::Value::AsDouble(d) => Some(*d),
        number_data_point::Value::AsInt(i) => Some(*i as f64),
    }
}

/// The series of a request.
pub fn translate(request: &ExportMetricsServiceRequest) -> OtlpBatch {
    let mut out = OtlpBatch::default();
    for rm in &request.resource_metrics {
        let resource = rm
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        let service = attribute(resource, "service.name").map(text_of);
        let namespace = attribute(resource, "service.namespace").map(text_of);
        let job = match (namespace, service) {
            (Some(ns), Some(s)) if !ns.is_empty() => Some(format!("{ns}/{s}")),
            (_, s) => s,
        };
        let instance = attribute(resource, "service.instance.id").map(text_of);
        let mut base: Vec<(String, String)> = Vec::new();
        if let Some(job) = &job {
            base.push(("job".to_owned(), job.clone()));
        }
        if let Some(instance) = &instance {
            base.push(("instance".to_owned(), instance.clone()));
        }
        let mut newest_ms = 0i64;
        for sm in &rm.scope_metrics {
            let mut scope_base = base.clone();
            if let Some(scope) = &sm.scope {
                if !scope.name.is_empty() {
                    scope_base.push(("otel_scope_name".to_owned(), scope.name.clone()));
                }
                if !scope.version.is_empty() {
                    scope_base.push(("otel_scope_version".to_owned(), scope.version.clone()));
                }
            }
            for metric in &sm.metrics {
                let Some(data) = &metric.data else { continue };
                let help = metric.description.as_str();
                let unit = metric.unit.as_str();
                match data {
                    Data::Gauge(g) => {
                        let name = metric_name(&metric.name, unit, false, true);
                        for p in &g.data_points {
                            if p.flags & NO_RECORDED_VALUE != 0 {
                                continue;
                            }
                            let Some(value) = number(p.value.as_ref()) else {
                                continue;
                            };
                            let at = ms(p.time_unix_nano);
                            newest_ms = newest_ms.max(at);
                            out.series.push(series(
                                &name,
                                point_labels(&scope_base, &p.attributes),
                                MetricType::Gauge,
                                unit,
                                help,
                                Sample {
                                    timestamp_ms: at,
                                    value,
                                },
                                0,
                            ));
                        }
                    }
                    Data::Sum(s) => {
                        if s.aggregation_temporality == AggregationTemporality::Delta as i32 {
                            out.reject(s.data_points.len(), || {
                                format!(
                                    "{}: delta temporality is not supported; export cumulative sums",
                                    metric.name
                                )
                            });
                            continue;
                        }
                        let counter = s.is_monotonic;
                        let name = metric_name(&metric.name, unit, counter, !counter);
                        for p in &s.data_points {
                            if p.flags & NO_RECORDED_VALUE != 0 {
                                continue;
                            }
                            let Some(value) = number(p.value.as_ref()) else {
                                continue;
                            };
                            let at = ms(p.time_unix_nano);
                            newest_ms = newest_ms.max(at);
                            out.series.push(series(
                                &name,
                                point_labels(&scope_base, &p.attributes),
                                if counter {
                                    MetricType::Counter
                                } else {
                                    MetricType::Gauge
                                },
                                unit,
                                help,
                                Sample {
                                    timestamp_ms: at,
                                    value,
                                },
                                ms(p.start_time_unix_nano),
                            ));
                        }
                    }
                    Data::Histogram(h) => {
                        if h.aggregation_temporality == AggregationTemporality::Delta as i32 {
                            out.reject(h.data_points.len(), || {
                                format!(
                                    "{}: delta temporality is not supported; export cumulative histograms",
                                    metric.name
                                )
                            });
                            continue;
                        }
                        let name = metric_name(&metric.name, unit, false, false);
                        for p in &h.data_points {
                            if p.flags & NO_RECORDED_VALUE != 0 {
                                continue;
                            }
                            let at = ms(p.time_unix_nano);
                            let created = ms(p.start_time_unix_nano);
                            newest_ms = newest_ms.max(at);
                            let labels = point_labels(&scope_base, &p.attributes);
                            let mut cumulative = 0u64;
                            for (i, count) in p.bucket_counts.iter().enumerate() {
                                cumulative += count;
                                let le = p
                                    .explicit_bounds
                                    .get(i)
                                    .map_or_else(|| "+Inf".to_owned(), |b| format!("{b}"));
                                let mut l = labels.clone();
                                l.push(("le".to_owned(), le));
                                out.series.push(series(
                                    &format!("{name}_bucket"),
                                    l,
                                    MetricType::Counter,
                                    unit,
                                    help,
                                    Sample {
                                        timestamp_ms: at,
                                        value: cumulative as f64,
                                    },
                                    created,
                                ));
                            }
                            if let Some(sum) = p.sum {
                                out.series.push(series(
                                    &format!("{name}_sum"),
                                    labels.clone(),
                                    MetricType::Counter,
                                    unit,
                                    help,
                                    Sample {
                                        timestamp_ms: at,
                                        value: sum,
                                    },
                                    created,
                                ));
                            }
                            out.series.push(series(
                                &format!("{name}_count"),
                                labels,
                                MetricType::Counter,
                                unit,
                                help,
                                Sample {
                                    timestamp_ms: at,
                                    value: p.count as f64,
                                },
                                created,
                            ));
                        }
                    }
                    Data::Summary(s) => {
                        let name = metric_name(&metric.name, unit, false, false);
                        for p in &s.data_points {
                            let at = ms(p.time_unix_nano);
                            newest_ms = newest_ms.max(at);
                            let labels = point_labels(&scope_base, &p.attributes);
                            for q in &p.quantile_values {
                                let mut l = labels.clone();
                                l.push(("quantile".to_owned(), format!("{}", q.quantile)));
                                out.series.push(series(
                                    &name,
                                    l,
                                    MetricType::Gauge,
                                    unit,
                                    help,
                                    Sample {
                                        timestamp_ms: at,
                                        value: q.value,
                                    },
                                    0,
                                ));
                            }
                            for (suffix, value) in [("_sum", p.sum), ("_count", p.count as f64)] {
                                out.series.push(series(
                                    &format!("{name}{suffix}"),
                                    labels.clone(),
                                    MetricType::Counter,
                                    unit,
                                    help,
                                    Sample {
                                        timestamp_ms: at,
                                        value,
                                    },
                                    ms(p.start_time_unix_nano),
                                ));
                            }
                        }
                    }
                    Data::ExponentialHistogram(e) => {
                        out.reject(e.data_points.len(), || {
                            format!(
                                "{}: exponential histograms are not supported; use explicit buckets",
                                metric.name
                            )
                        });
                    }
                }
            }
        }
        // The rest of the resource, as Prometheus keeps it: one `target_info` per resource.
        let extra: Vec<&KeyValue> = resource
            .iter()
            .filter(|kv| {
                !matches!(
                    kv.key.as_str(),
                    "service.name" | "service.namespace" | "service.instance.id"
                )
            })
            .collect();
        if newest_ms > 0 && !extra.is_empty() && (job.is_some() || instance.is_some()) {
            let attrs: Vec<KeyValue> = extra.into_iter().cloned().collect();
            out.series.push(series(
                "target_info",
                point_labels(&base, &attrs),
                MetricType::Gauge,
                "",
                "Target metadata",
                Sample {
                    timestamp_ms: newest_ms,
                    value: 1.0,
                },
                0,
            ));
        }
    }
    out
}

/// The answer body: `ExportMetricsServiceResponse`, with `partial_success` when points were
/// rejected, in the request's format.
pub fn response(format: OtlpFormat, batch: &OtlpBatch) -> Vec<u8> {
    use opentelemetry_proto::tonic::collector::metrics::v1::{
        ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
    };
    let answer = ExportMetricsServiceResponse {
        partial_success: (batch.rejected_points > 0).then(|| ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(batch.rejected_points).unwrap_or(i64::MAX),
            error_message: batch.rejected_reason.clone().unwrap_or_default(),
        }),
    };
    match format {
        OtlpFormat::Protobuf => answer.encode_to_vec(),
        OtlpFormat::Json => serde_json::to_vec(&answer).unwrap_or_else(|_| b"{}".to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_translation() {
        assert_eq!(
            metric_name("http.server.request.duration", "s", false, false),
            "http_server_request_duration_seconds"
        );
        assert_eq!(
            metric_name("requests", "{request}", true, false),
            "requests_total"
        );
        assert_eq!(
            metric_name("process.memory.usage", "By", false, true),
            "process_memory_usage_bytes"
        );
        assert_eq!(
            metric_name("cpu.utilization", "1", false, true),
            "cpu_utilization_ratio"
        );
        assert_eq!(
            metric_name("queue_seconds_total", "s", true, false),
            "queue_seconds_total"
        );
        assert_eq!(
            metric_name("speed", "m/s", false, true),
            "speed_meters_per_second"
        );
        assert_eq!(label_name("http.route"), "http_route");
        assert_eq!(label_name("2xx"), "key_2xx");
    }
}
